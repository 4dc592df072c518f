"""The public intake form: what it accepts, its abuse limits, and its double opt-in token.

The token carries the details the submission asked to save, signed: they are applied only
by the POST of the page behind the link — the address's owner's confirmation — never by
the form post itself, so a stranger who types a client's address changes nothing.

Pure rules; ``services/intake.py`` applies them. A form's fields arrive as
text (``application/x-www-form-urlencoded``); validation reports one error
code per field so the page can show a localised message next to it while
keeping what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.domain.client_profile import Email, Name, Phone
from chalicelib.domain.rate_limit import FixedWindow
from chalicelib.domain.signing import KeyRing, sign, verify

FORM_FIELDS = ("email", "first_name", "last_name", "phone", "language", "consent")
HONEYPOT_FIELD = "website"  # hidden from people; bots fill it in
MAX_FORM_BYTES = 8 * 1024

# Abuse limits, fixed windows of an hour (``FixedWindow``), keyed by keyed hashes:
# Per business and source IP (every POST): a household, or a salon's own kiosk, stays far
# below it; a flood does not. A kiosk or carrier NAT at one business blocks no other's form.
FORM_PER_ACCOUNT_IP = FixedWindow("form-account-ip", limit=20, seconds=3600)
# Per source IP across every business's form (every POST): the ceiling of one connection, ten
# businesses' worth, so a carrier NAT serving many people is not blocked by a few of them.
FORM_PER_IP = FixedWindow("form-ip", limit=200, seconds=3600)
# Per business across every source (every POST): a flood of one form from many addresses
# (planted sign-ups, confirmation mail sent in the business's name) stops here.
FORM_PER_ACCOUNT = FixedWindow("form-account", limit=1000, seconds=3600)
# Per business and e-mail address: the confirmation e-mails, not the form. An attacker who
# spends it delays, by at most an hour and at that one business, a mail the person can also
# get from the ones already sent; the form itself never refuses an address (nor reveals one).
DOI_PER_ADDRESS = FixedWindow("doi-email", limit=3, seconds=3600)

DOI_PURPOSE = "doi"
DOI_VALIDITY = timedelta(days=7)
_TRUE = frozenset({"on", "yes", "true", "1"})


class IntakeInput(BaseModel):
    """A valid submission: the profile fields given, and whether the consent box was ticked."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, defer_build=True)

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    language: Literal["en", "cs", "it"] | None = None
    consent: bool = False

    def profile(self) -> dict[str, Any]:
        """The non-empty profile fields given (an existing client keeps the others)."""
        fields = ("first_name", "last_name", "phone", "language")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


@dataclass(frozen=True)
class IntakeParse:
    values: dict[str, str]  # what was typed, to fill the form in again
    data: IntakeInput | None
    errors: dict[str, str]  # field -> error code (a catalogue key suffix)


def first_values(form: dict[str, list[str]]) -> dict[str, str]:
    """One value per known field (the first), trimmed."""
    return {name: form[name][0].strip() for name in (*FORM_FIELDS, HONEYPOT_FIELD) if form.get(name)}


def is_bot(values: dict[str, str]) -> bool:
    return bool(values.get(HONEYPOT_FIELD))


def parse_intake(values: dict[str, str]) -> IntakeParse:
    raw: dict[str, Any] = {name: values[name] for name in FORM_FIELDS[:-1] if values.get(name)}
    raw["consent"] = values.get("consent", "").lower() in _TRUE
    errors: dict[str, str] = {}
    if "email" not in raw:
        errors["email"] = "required"
    try:
        data = IntakeInput.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            field = str(err["loc"][0]) if err.get("loc") else "email"
            errors.setdefault(field, "required" if err["type"] == "missing" else "invalid")
        return IntakeParse(values=values, data=None, errors=errors)
    return IntakeParse(values=values, data=data, errors=errors)


@dataclass(frozen=True)
class DoubleOptIn:
    """What a confirmation link proves: this client of this account, at this address, and
    the details the submission asked to save (applied only by the confirming POST)."""

    account_id: str
    client_id: str
    email_tag: str  # the first 16 hex digits of the address's keyed hash
    expires_at: datetime
    profile: dict[str, str] = field(default_factory=dict)


# The submission's details ride in the link, signed, under short keys (links stay short).
_PROFILE_KEYS = {"first_name": "f", "last_name": "l", "phone": "p", "language": "g"}


class ConfirmedProfile(BaseModel):
    """The details a link carries, validated again when it is opened (rules may have changed
    since it was sent; a detail that no longer passes is dropped, never stored)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, defer_build=True)

    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    language: Literal["en", "cs", "it"] | None = None


def _valid_profile(raw: dict[str, Any]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in raw.items():
        try:
            parsed = ConfirmedProfile.model_validate({name: value})
        except ValidationError:
            continue
        if getattr(parsed, name, None) is not None:
            kept[name] = getattr(parsed, name)
    return kept


def email_tag(email_hash: str) -> str:
    return email_hash[:16]


def mint_double_opt_in(
    ring: KeyRing,
    account_id: str,
    client_id: str,
    email_hash: str,
    now: datetime,
    profile: dict[str, str] | None = None,
) -> str:
    expires = int((now + DOI_VALIDITY).timestamp())
    payload: dict[str, Any] = {"a": account_id, "c": client_id, "h": email_tag(email_hash), "x": expires}
    details = {_PROFILE_KEYS[name]: value for name, value in (profile or {}).items() if name in _PROFILE_KEYS}
    if details:
        payload["v"] = details
    return sign(ring, DOI_PURPOSE, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def read_double_opt_in(ring: KeyRing, token: str, now: datetime) -> DoubleOptIn | None:
    """The claim of a genuine, unexpired token; ``None`` for anything else."""
    payload = verify(ring, DOI_PURPOSE, token)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
        details = data.get("v") or {}
        if not isinstance(details, dict):
            return None
        names = {short: name for name, short in _PROFILE_KEYS.items()}
        claim = DoubleOptIn(
            account_id=str(data["a"]),
            client_id=str(data["c"]),
            email_tag=str(data["h"]),
            expires_at=datetime.fromtimestamp(int(data["x"]), UTC),
            profile=_valid_profile({names[k]: v for k, v in details.items() if k in names}),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if claim.expires_at <= now:
        return None
    return claim


def matches_address(claim: DoubleOptIn, email_hash: str) -> bool:
    """The link was sent to the address the client still has (constant time)."""
    return hmac.compare_digest(claim.email_tag, email_tag(email_hash))


def keyed_subject(key: bytes, kind: str, value: str) -> str:
    """A rate-limit subject that does not store the IP or address it counts."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
