"""API keys: authentication of every ``/v1`` request, and the owners' named keys.

Authentication (``authenticate``):
- the header is parsed and the key's *format* checked first (``pm_`` + 43 base64url
  characters): anything else is a 401 without a single DynamoDB read;
- a well-formed key is looked up by its SHA-256 (one ``GetItem``); an unknown or revoked
  key counts one failure against the connection's source address in the shared throttle
  table (``API_AUTH_PER_IP``); past the limit the answer is 429 with ``Retry-After``, and
  this process remembers the block until the window ends, so further failures from that
  address cost no write. A valid key never touches the throttle and is never blocked: an
  integration behind the same address as a misbehaving one keeps working, and a guesser of
  256-bit keys gains nothing from the answers;
- ``last_used_at`` is written only when the stored value is older than ``TOUCH_EVERY``
  (compare-and-set, so concurrent requests write once): one write per key per few
  minutes, not one per request.

Revocation deletes the credential item, so the very next request with that key is a 401.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.identity import (
    API_KEY_SHOWN_PREFIX,
    KEY_NAME_MAX,
    ApiKeyRecord,
    due_for_touch,
    looks_like_api_key,
    new_api_key,
    secret_hash,
)
from chalicelib.domain.intake import keyed_subject
from chalicelib.domain.rate_limit import FixedWindow
from chalicelib.domain.records import Account, ApiKey
from chalicelib.domain.text import Text
from chalicelib.errors import RateLimited, Unauthenticated
from chalicelib.observability import logger, metrics
from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

# Failed authentications per source address: a burst of mistakes is fine, a scan is not.
API_AUTH_PER_IP = FixedWindow("api-auth-ip", limit=20, seconds=60)
_BLOCKED: dict[str, float] = {}  # rate subject -> epoch seconds the block ends (this process)
_BLOCKED_MAX = 10_000

KeyName = Annotated[str, Text(KEY_NAME_MAX, min_length=1, name=True)]  # shown on pages and in the ledger


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: KeyName


def hash_api_key(api_key: str) -> str:
    """Keys carry 256 random bits, so a fast hash is as safe as a slow one here."""
    return secret_hash(api_key)


def new_key(account_id: str, name: str, now: datetime, created_by: str | None) -> tuple[ApiKeyRecord, str]:
    """A key record and its secret (shown once, never stored)."""
    secret = new_api_key()
    record = ApiKeyRecord(
        account_id=account_id,
        key_id=f"key_{ULID()}",
        name=name,
        prefix=secret[:API_KEY_SHOWN_PREFIX],
        key_hash=hash_api_key(secret),
        created_at=now,
        created_by=created_by,
    )
    return record, secret


def create_key(deps: Deps, account: Account, data: NewApiKey, actor: str) -> tuple[ApiKeyRecord, str]:
    record, secret = new_key(account.account_id, data.name, deps.clock(), actor)
    deps.api_keys.create(record)
    logger.info("api key created", extra={"account_id": account.account_id, "key_id": record.key_id})
    return record, secret


def list_keys(
    deps: Deps, account: Account, limit: int | None, cursor: str | None, *, include_revoked: bool = False
) -> tuple[list[ApiKeyRecord], str | None]:
    """A page of the account's keys with their last use; revoked ones only when asked."""
    start = decode_cursor(deps.key_ring, account.account_id, "api-keys", cursor)
    page = deps.api_keys.page(account.account_id, limit=check_limit(limit), start_key=start)
    records: list[ApiKeyRecord] = [r for r in page.items if include_revoked or r.revoked_at is None]
    used = deps.api_keys.last_used(records)
    shown = [replace(r, last_used_at=used.get(r.key_hash, r.last_used_at)) for r in records]
    return shown, encode_cursor(deps.key_ring, account.account_id, "api-keys", page.next_key)


def revoke_key(deps: Deps, account: Account, key_id: str, actor: str) -> ApiKeyRecord:
    """Revoke a live key of the account; an absent, foreign or already revoked key is 404."""
    from chalicelib.errors import NotFound

    if not key_id.startswith("key_") or len(key_id) > 64:
        raise NotFound("API key not found")
    record = deps.api_keys.record(account.account_id, key_id)
    if record.revoked_at is not None:
        raise NotFound("API key not found")
    revoked = deps.api_keys.revoke(record, deps.clock(), actor)
    logger.info("api key revoked", extra={"account_id": account.account_id, "key_id": key_id})
    return revoked


# --- authentication ---------------------------------------------------------------------


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing or malformed Authorization: Bearer <api_key> header")
    return token


def _blocked_until(subject: str, now: float) -> float | None:
    until = _BLOCKED.get(subject)
    if until is None:
        return None
    if until <= now:
        _BLOCKED.pop(subject, None)
        return None
    return until


def _remember_block(subject: str, until: float, now: float) -> None:
    if len(_BLOCKED) >= _BLOCKED_MAX:
        for stale in [s for s, end in _BLOCKED.items() if end <= now]:
            del _BLOCKED[stale]
        if len(_BLOCKED) >= _BLOCKED_MAX:
            _BLOCKED.clear()
    _BLOCKED[subject] = until


def _refuse(deps: Deps, subject: str) -> None:
    """Count a failed authentication for the source address; 429 past the limit."""
    now = deps.clock()
    window = API_AUTH_PER_IP
    if not deps.throttle.hit_window(window.bucket(subject, now), window.limit, window.window_end(now)):
        _remember_block(subject, window.window_end(now).timestamp(), now.timestamp())
        metrics.add_metric(name="ApiAuthRateLimited", unit="Count", value=1)
        raise RateLimited(
            "too many failed authentications; try again later",
            details={"retry_after": window.retry_after(now)},
        )
    raise Unauthenticated("invalid API key")


def authenticate(deps: Deps, authorization: str | None, source_ip: str | None) -> tuple[Account, ApiKey]:
    """The account and key behind an ``Authorization: Bearer`` header, else ``Unauthenticated``
    (or ``RateLimited`` after too many failures from the same address)."""
    token = _bearer(authorization)
    if not looks_like_api_key(token):
        raise Unauthenticated("malformed API key")
    key = deps.api_keys.get(hash_api_key(token))
    if key is None:
        subject = keyed_subject(deps.email_hash_key, "ip", source_ip or "unknown")
        epoch = deps.clock().timestamp()
        until = _blocked_until(subject, epoch)
        if until is not None:  # known to be over the limit: no write to count it again
            raise RateLimited(
                "too many failed authentications; try again later",
                details={"retry_after": max(1, int(until - epoch))},
            )
        _refuse(deps, subject)
        raise AssertionError("unreachable")  # _refuse always raises
    now = deps.clock()
    if due_for_touch(key.last_used_at, now):
        deps.api_keys.touch(key, now)
    return deps.accounts.get(key.account_id), key
