"""Contact data rules: e-mail syntax and the key that makes it case-insensitive, phones, URLs."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from urllib.parse import urlsplit

_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")


def normalise_email(value: str) -> str:
    """Syntax-checked, normalised address (domain lower-cased, IDNA handled); no DNS.

    The part before the ``@`` must be ASCII: SES does not send to internationalised
    mailboxes (SMTPUTF8), so such an address would fail at every send. An
    internationalised domain is fine (it is sent punycoded)."""
    # Imported on first use: most cold starts (reads, public pages, workers) never need it.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return result.normalized


def email_key(email: str) -> str:
    """The uniqueness key of an address within an account: case-insensitive."""
    return email.strip().casefold()


def normalise_phone(value: str) -> str:
    text = value.strip()
    if not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise ValueError("must be a phone number: digits, spaces and + ( ) . / - only")
    return text


def validate_https_url(value: str) -> str:
    """An absolute ``https://`` URL with a host. ``urlsplit`` silently drops tabs and line
    breaks (``"ht\ttps:"`` reads as ``https:``) and lowercases the scheme, so any space
    or control character inside the URL is refused rather than stored."""
    url = value.strip()
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        raise ValueError("must be an absolute https:// URL")
    parts = urlsplit(url)
    if parts.scheme != "https" or not url.lower().startswith("https://") or not parts.hostname:
        raise ValueError("must be an absolute https:// URL")
    return url


def email_hash(key: bytes, email: str) -> str:
    """Keyed hash of an address (HMAC-SHA256 of its case-insensitive key).

    Lets the suppression list remember an erased address without storing it;
    unlike a plain hash it cannot be reversed by hashing a list of addresses.
    """
    return hmac.new(key, email_key(email).encode(), hashlib.sha256).hexdigest()
