"""The local stack's outbox: the e-mails the AWS emulator accepted, read back from it.

Local stage only. The local stack's emulator process keeps every message SES
accepted and answers ``/_permesso/outbox`` (``local/outbox.py``): a page of
the newest e-mails (optionally only those whose recipients or subject contain
a text) with their raw MIME source, and one e-mail by id. This module reads
that feed and parses each e-mail with the stdlib ``email`` package. So the
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

FEED_PATH = "/_permesso/outbox"


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
    if text_part is html_part:  # a single-part HTML e-mail has no text part
        text_part = None
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


@dataclass(frozen=True)
class OutboxPage:
    mails: list[SentMail]
    total: int  # every e-mail in the outbox
    next_cursor: str | None  # the page of older e-mails (matching the same search)


def mail_from_entry(entry: dict[str, Any]) -> SentMail:
    """One e-mail of the feed: parsed from its raw MIME when the feed sent it (what Permesso
    sends), else the feed's summary (sender, recipients, subject, date; a simple send's body)."""
    if "raw" in entry:
        return parse_raw_message(str(entry["message_id"]), str(entry["raw"]))
    body = entry.get("body")
    return SentMail(
        message_id=str(entry.get("message_id", "")),
        sender=str(entry.get("sender", "")),
        to=[str(a) for a in entry.get("to", [])],
        subject=str(entry.get("subject", "")),
        date=entry.get("date"),
        text=str(body) if body is not None else None,
        html=None,
        headers={},
    )


def _fetch(endpoint_url: str, path: str, timeout: float) -> Any:
    from urllib.error import HTTPError
    from urllib.request import urlopen

    # The configured emulator endpoint (local stage only); the path is built from quoted values.
    try:
        with urlopen(endpoint_url.rstrip("/") + path, timeout=timeout) as response:  # nosec B310
            return json.loads(response.read())
    except HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def read_outbox(
    endpoint_url: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
    query: str = "",
    full: bool = True,
    timeout: float = 10.0,
) -> OutboxPage:
    """A page of the e-mails the emulator accepted, newest first; ``cursor`` comes from the
    previous page's ``next_cursor``; ``query`` keeps those whose recipients or subject
    contain it (case-insensitive). ``full=False``: sender, recipients, subject and date only."""
    from urllib.parse import urlencode

    params: dict[str, str | int] = {"limit": limit}
    if full:
        params["raw"] = 1
    if cursor:
        if not cursor.isdigit():
            raise ValueError("the cursor is not one of the outbox's")
        params["before"] = cursor
    if query:
        params["q"] = query
    page = _fetch(endpoint_url, f"{FEED_PATH}?{urlencode(params)}", timeout)
    if page is None:
        raise RuntimeError("the emulator has no outbox feed (is it the local stack's?)")
    following = page.get("next")
    return OutboxPage(
        mails=[mail_from_entry(entry) for entry in page.get("items", [])],
        total=int(page.get("total", 0)),
        next_cursor=str(following) if following is not None else None,
    )


def read_outbox_message(endpoint_url: str, message_id: str, timeout: float = 10.0) -> SentMail | None:
    """One e-mail by its SES message id, or None."""
    from urllib.parse import quote

    entry = _fetch(endpoint_url, f"{FEED_PATH}/{quote(message_id, safe='')}", timeout)
    return mail_from_entry(entry) if entry else None
