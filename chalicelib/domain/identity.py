"""Staff identity: users and roles, sessions, one-time links, API keys — records and pure rules.

Everything here is computation on values passed in (the time included), so expiry rules
are tested with any clock. Secrets (session ids, link tokens, API keys) are 256 random
bits, shown once and stored only as their SHA-256: a fast hash is enough for values that
cannot be guessed, and it lets a request find its record with one ``GetItem``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Role = Literal["owner", "staff"]
ROLES: tuple[Role, ...] = ("owner", "staff")
UserStatus = Literal["invited", "active"]
TokenPurpose = Literal["invitation", "reset"]

SESSION_IDLE = timedelta(hours=12)
SESSION_ABSOLUTE = timedelta(days=30)
INVITATION_VALIDITY = timedelta(days=7)
RESET_VALIDITY = timedelta(hours=1)
# ``last_seen_at`` of a session and ``last_used_at`` of an API key are written at most this
# often: a request does not pay a write, and idle expiry is exact to within this much.
TOUCH_EVERY = timedelta(minutes=5)

API_KEY_PREFIX = "pm_"
# ``pm_`` + 43 base64url characters (256 bits): anything else is refused before any read.
API_KEY_PATTERN = re.compile(r"^pm_[A-Za-z0-9_-]{43}$")
API_KEY_SHOWN_PREFIX = 8  # characters kept to recognise a key (``pm_AbCdE``)
KEY_NAME_MAX = 100
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # session ids and link tokens


@dataclass(frozen=True)
class User:
    account_id: str
    user_id: str
    email: str
    role: Role
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    password_hash: str | None = None
    language: str | None = None
    # Bumped to end every session of the user at once (sign out everywhere, new password).
    session_generation: int = 0
    password_changed_at: datetime | None = None
    invited_by: str | None = None
    version: int | None = None

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class Session:
    session_hash: str
    account_id: str
    user_id: str
    generation: int
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class OneTimeToken:
    """An invitation or password-reset link's record (the token itself is never stored)."""

    token_hash: str
    purpose: TokenPurpose
    account_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    """A manageable API key, as its owner sees it (never the secret)."""

    account_id: str
    key_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    created_by: str | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None


# --- secrets ----------------------------------------------------------------------------


def new_secret() -> str:
    """256 random bits, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_secret(text: str | None) -> bool:
    return bool(text) and SECRET_PATTERN.match(text or "") is not None


def new_api_key() -> str:
    return API_KEY_PREFIX + new_secret()


def looks_like_api_key(text: str) -> bool:
    return API_KEY_PATTERN.match(text) is not None


# --- expiry -----------------------------------------------------------------------------


def session_expires_at(created_at: datetime, last_seen_at: datetime) -> datetime:
    """12 hours after the last request, and never later than 30 days after sign-in."""
    return min(created_at + SESSION_ABSOLUTE, last_seen_at + SESSION_IDLE)


def session_alive(session: Session, now: datetime) -> bool:
    return now < session_expires_at(session.created_at, session.last_seen_at)


def token_alive(token: OneTimeToken, now: datetime) -> bool:
    return now < token.expires_at


def token_validity(purpose: TokenPurpose) -> timedelta:
    return INVITATION_VALIDITY if purpose == "invitation" else RESET_VALIDITY


def due_for_touch(last: datetime | None, now: datetime) -> bool:
    """Whether a ``last seen / last used`` time is stale enough to be written again."""
    return last is None or now - last >= TOUCH_EVERY


# --- CSRF -------------------------------------------------------------------------------


def csrf_token(key: bytes, binding: str) -> str:
    """The form token of a session (or of an anonymous visitor's signed nonce): an HMAC of
    ``binding`` under a server key, so it is unguessable, differs per session and needs no
    storage. ``binding`` is the session's stored hash, never the session id itself."""
    digest = hmac.new(key, b"csrf\x00" + binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def csrf_valid(keys: list[bytes], binding: str, token: str | None) -> bool:
    """Constant-time check of ``token`` against every current key (keys rotate)."""
    if not token or len(token) > 64:
        return False
    return any(hmac.compare_digest(csrf_token(key, binding), token) for key in keys)
