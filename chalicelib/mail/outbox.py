"""The local stack's outbox: the e-mails the AWS emulator accepted, read back from it.

Local stage only. The moto server keeps every message SES accepted and
publishes its state at ``/moto-api/data.json`` (the emulator's own
dashboard feed); this module reads the SES ``RawMessage`` (and ``Message``)
entries from there and parses them with the stdlib ``email`` package. So the
outbox shows exactly what went through the SES API — from the API process,
the worker, any process — with no copy kept by the sending code and no
local-only branch in the SES adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email import message_from_string
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

DATA_PATH = "/moto-api/data.json"


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    cta: str | None = None


@dataclass(frozen=True)
class SentMail:
    message_id: str
    sender: str
    to: list[str]
    subject: str
    date: str | None
    text: str | None
    html: str | None
    headers: dict[str, str]
    links: list[Link] = field(default_factory=list)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            href = self._open.get("href")
            if href:
                text = " ".join("".join(self._text).split())
                self.links.append(Link(href=href, text=text, cta=self._open.get("data-cta")))
            self._open = None


def html_links(html: str) -> list[Link]:
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    return parser.links


def parse_raw_message(message_id: str, raw: str) -> SentMail:
    message = message_from_string(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else None
    html = html_part.get_content() if html_part is not None else None
    date = message.get("Date")
    return SentMail(
        message_id=message_id,
        sender=str(message.get("From", "")),
        to=[str(a) for a in message.get_all("To", [])],
        subject=str(message.get("Subject", "")),
        date=parsedate_to_datetime(str(date)).isoformat() if date else None,
        text=text,
        html=html,
        headers={name: str(value) for name, value in message.items()},
        links=html_links(html) if html else [],
    )


def messages_from_state(state: dict[str, Any]) -> list[SentMail]:
    """The SES messages in the emulator's state document, newest first."""
    ses = state.get("ses") or {}
    mails = [
        parse_raw_message(str(entry.get("id", "")), str(entry.get("raw_data", "")))
        for entry in ses.get("RawMessage", [])
    ]
    for entry in ses.get("Message", []):  # Simple sends (not used by Permesso, shown if present)
        mails.append(
            SentMail(
                message_id=str(entry.get("id", "")),
                sender=str(entry.get("source", "")),
                to=[str(a) for a in (entry.get("destinations") or {}).get("ToAddresses", [])],
                subject=str(entry.get("subject", "")),
                date=None,
                text=str(entry.get("body", "")),
                html=None,
                headers={},
            )
        )
    mails.sort(key=lambda m: m.date or "", reverse=True)
    return mails


def read_outbox(endpoint_url: str, timeout: float = 10.0) -> list[SentMail]:
    """Fetch the emulator's state and return the e-mails it accepted, newest first."""
    from urllib.request import urlopen

    # The configured emulator endpoint (local stage only), never a URL from a request.
    with urlopen(endpoint_url.rstrip("/") + DATA_PATH, timeout=timeout) as response:  # nosec B310
        state = json.loads(response.read())
    return messages_from_state(state)
