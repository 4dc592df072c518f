"""Building the MIME message every e-mail is sent as (stdlib ``email``).

One shape for all mail: ``multipart/alternative`` with a UTF-8 text part and
a UTF-8 HTML part (quoted-printable, so the raw bytes are 7-bit clean),
RFC 5322 headers, and — for marketing mail — the RFC 8058 one-click
unsubscribe headers (``List-Unsubscribe`` with an HTTPS URL and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``). Transactional mail
(double opt-in) simply passes no unsubscribe URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

# The local stack serves its public pages over plain HTTP on the loopback address;
# no deployed stage can have such a URL, so every real e-mail keeps an https one.
_LOOPBACK = ("http://127.0.0.1:", "http://localhost:")


# RFC 5322 allows header lines up to 998 characters. With the default 78 the stdlib
# would turn a long List-Unsubscribe URL (no spaces to fold at) into RFC 2047
# encoded-words, which mail providers do not read as a URL.
_POLICY = SMTP.clone(max_line_length=998)


class InvalidMail(ValueError):
    """The message cannot be built (e.g. an address SES cannot carry, a header with a newline)."""


@dataclass(frozen=True)
class OutgoingMail:
    sender_email: str
    sender_name: str | None
    to: str
    subject: str
    text: str
    html: str
    language: str | None = None
    # Marketing mail: the HTTPS one-click unsubscribe URL (RFC 8058). None for transactional.
    list_unsubscribe_url: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


def _address(email: str, name: str | None = None) -> Address:
    if "\r" in email or "\n" in email or (name and ("\r" in name or "\n" in name)):
        raise InvalidMail("addresses and names must not contain line breaks")
    local, _, domain = email.rpartition("@")
    if not local or not domain:
        raise InvalidMail("not an e-mail address")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidMail("the address's domain cannot be encoded") from exc
    if not local.isascii():
        raise InvalidMail("addresses with a non-ASCII local part cannot be sent")
    return Address(display_name=name or "", username=local, domain=domain)


def _header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise InvalidMail("header values must not contain line breaks")
    return value


def build_mime(mail: OutgoingMail, now: datetime) -> bytes:
    """The raw RFC 5322 message (bytes) for SES ``Content.Raw``."""
    sender = _address(mail.sender_email, mail.sender_name)
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = _address(mail.to)
    message["Subject"] = _header_value(mail.subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.domain)
    if mail.list_unsubscribe_url:
        if not mail.list_unsubscribe_url.startswith(("https://", *_LOOPBACK)):
            raise InvalidMail("List-Unsubscribe must be an https:// URL (RFC 8058)")
        message["List-Unsubscribe"] = f"<{_header_value(mail.list_unsubscribe_url)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in mail.extra_headers.items():
        message[_header_value(name)] = _header_value(value)
    message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if mail.language:
        # After the body: making the message multipart moves Content-* headers into the first part.
        message["Content-Language"] = _header_value(mail.language)
    return message.as_bytes()
