"""The e-mails the emulated SES accepted, served by the local stack's emulator process.

moto keeps every e-mail sent in its SES backend (``sent_messages``, oldest first,
append-only) and offers no API to read them back; its dashboard document
(``/moto-api/data.json``) dumped every object of every service on each request
and lists nothing once the model-instance registry is off (``local/emulator.py``).
So the emulator server answers two routes of its own, read by the API's
``GET /dev/outbox`` (local stage only, ``chalicelib/mail/outbox.py``):

- ``GET /_permesso/outbox?limit=50&before=<position>&q=<text>&raw=1``: the
  newest e-mails first, ``limit`` of them, older than ``before`` (a position in
  the append-only list, so pages stay stable while new mail arrives), only
  those whose recipients or subject contain ``q`` (case-insensitive) — each
  with its sender, recipients, subject and date, and with ``raw=1`` its raw
  MIME source; ``next`` is the ``before`` of the following page;
- ``GET /_permesso/outbox/<message id>``: one e-mail, with its raw source.

Each e-mail's headers are read once (the header block only, RFC 2047 words
decoded) and kept, so paging and searching 10,000 e-mails reads none twice.
"""

from __future__ import annotations

import json
import threading
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs

PREFIX = "/_permesso/outbox"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _decoded(value: Any) -> str:
    """A header's text with its RFC 2047 encoded words decoded."""
    try:
        return str(make_header(decode_header(str(value))))
    except (UnicodeDecodeError, LookupError, ValueError):
        return str(value)


class OutboxFeed:
    def __init__(self, account_id: str | None = None) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID

        self._account_id = account_id or DEFAULT_ACCOUNT_ID
        self._summaries: dict[str, dict[str, Any]] = {}  # message id -> headers shown and searched
        self._lock = threading.Lock()

    # the messages ---------------------------------------------------------------------------

    def _messages(self) -> list[Any]:
        from moto.ses.models import ses_backends

        messages: list[Any] = []
        for backend in dict.values(ses_backends[self._account_id]):
            messages.extend(backend.sent_messages)
        return messages

    def _summary(self, message: Any) -> dict[str, Any]:
        key = str(message.id)
        with self._lock:
            found = self._summaries.get(key)
        if found is not None:
            return found
        if hasattr(message, "raw_data"):
            head = str(message.raw_data).split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
            headers = HeaderParser().parsestr(head, headersonly=True)
            to = [_decoded(value) for value in headers.get_all("To", [])]
            date = headers.get("Date")
            try:
                when = parsedate_to_datetime(str(date)).isoformat() if date else None
            except (TypeError, ValueError):
                when = None
            summary = {
                "sender": _decoded(headers.get("From", "")),
                "to": to,
                "subject": _decoded(headers.get("Subject", "")),
                "date": when,
            }
            recipients = " ".join([*to, *(message.destinations or [])])
        else:  # a simple (non-raw) send
            destinations = message.destinations or {}
            summary = {
                "sender": message.source,
                "to": list(destinations.get("ToAddresses", [])),
                "subject": message.subject,
                "date": None,
            }
            recipients = " ".join(address for group in destinations.values() for address in group)
        summary["search"] = f"{recipients} {summary['subject']}".lower()
        with self._lock:
            self._summaries[key] = summary
        return summary

    def _entry(self, position: int, message: Any, raw: bool) -> dict[str, Any]:
        summary = self._summary(message)
        entry = {"position": position, "message_id": message.id}
        entry.update({name: value for name, value in summary.items() if name != "search"})
        if raw and hasattr(message, "raw_data"):
            entry["raw"] = str(message.raw_data)
        elif raw:
            entry["body"] = message.body
        return entry

    # the routes -----------------------------------------------------------------------------

    def page(self, limit: int, before: int | None, query: str, raw: bool = False) -> dict[str, Any]:
        messages = self._messages()
        position = len(messages) if before is None else max(0, min(before, len(messages)))
        needle = query.strip().lower()
        items: list[dict[str, Any]] = []
        while position > 0 and len(items) < limit:
            position -= 1
            message = messages[position]
            if needle and needle not in self._summary(message)["search"]:
                continue
            items.append(self._entry(position, message, raw))
        more = position > 0 and (
            not needle or any(needle in self._summary(m)["search"] for m in messages[:position])
        )
        return {"items": items, "total": len(messages), "next": position if more else None}

    def one(self, message_id: str) -> dict[str, Any] | None:
        for position, message in enumerate(self._messages()):
            if message.id == message_id:
                return self._entry(position, message, raw=True)
        return None

    def handles(self, environ: dict[str, Any]) -> bool:
        return str(environ.get("PATH_INFO", "")).startswith(PREFIX)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        params = {name: values[-1] for name, values in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        status, body = "404 Not Found", {"error": "not found"}
        try:
            if path.rstrip("/") == PREFIX:
                limit = max(1, min(int(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT))
                before = int(params["before"]) if params.get("before") else None
                raw = params.get("raw") == "1"
                status, body = "200 OK", self.page(limit, before, params.get("q", ""), raw)
            elif path.startswith(PREFIX + "/"):
                found = self.one(path[len(PREFIX) + 1 :])
                if found is not None:
                    status, body = "200 OK", found
        except ValueError:
            status, body = "400 Bad Request", {"error": "limit and before are integers"}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
