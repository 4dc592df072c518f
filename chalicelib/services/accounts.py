"""Accounts: creation by the operator, API-key authentication, settings, reinstatement."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import replace

from pydantic import BaseModel, ConfigDict
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.account_settings import (
    AccountSettings,
    AccountSettingsPatch,
    Email,
    Language,
    SenderName,
)
from chalicelib.domain.records import Account, ApiKey
from chalicelib.errors import ConcurrentModification, Unauthenticated
from chalicelib.observability import logger

API_KEY_PREFIX = "pm_"
_MAX_ATTEMPTS = 3


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: SenderName
    sender_email: Email
    sender_name: SenderName | None = None
    language: Language = "en"


def hash_api_key(api_key: str) -> str:
    """Keys carry 256 random bits, so a fast hash is as safe as a slow one here."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _slug_base(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "account"


def new_public_slug(name: str) -> str:
    """Readable and unguessable: ``salon-bella-k3v9q2xd``."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return f"{_slug_base(name)}-{''.join(secrets.choice(alphabet) for _ in range(8))}"


def create_account(deps: Deps, data: NewAccount) -> tuple[Account, str]:
    """Create an account and its first API key; the key is returned once, stored hashed."""
    now = deps.clock()
    account_id = f"acc_{ULID()}"
    slug = new_public_slug(data.name)
    while deps.accounts.slug_taken(slug):  # 40 random bits: practically never loops
        slug = new_public_slug(data.name)
    settings = AccountSettings(
        sender_email=data.sender_email,
        sender_name=data.sender_name or data.name,
        language=data.language,
    )
    account = Account(
        account_id=account_id,
        name=data.name,
        public_slug=slug,
        settings=settings,
        created_at=now,
        updated_at=now,
    )
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        key_hash=hash_api_key(api_key),
        account_id=account_id,
        key_id=f"key_{ULID()}",
        label="default",
        prefix=api_key[:8],
        created_at=now,
    )
    created = deps.accounts.create(account, key)
    logger.info("account created", extra={"account_id": account_id})
    verify_sender_locally(deps, settings.sender_email)
    return created, api_key


def verify_sender_locally(deps: Deps, sender_email: str) -> None:
    """The local stack's emulator, like the SES sandbox, sends only from verified
    identities: there, every account's sender is verified when set. Deployed stages
    verify sender domains out of band (infra), never from a request."""
    if deps.settings.stage == "local":
        deps.mailer.verify_identity(sender_email)


def authenticate(deps: Deps, authorization: str | None) -> tuple[Account, ApiKey]:
    """The account and key behind an ``Authorization: Bearer`` header, or ``Unauthenticated``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        raise Unauthenticated("missing or malformed Authorization: Bearer <api_key> header")
    key = deps.api_keys.get(hash_api_key(token))
    if key is None:
        raise Unauthenticated("invalid API key")
    return deps.accounts.get(key.account_id), key


def is_operator(deps: Deps, authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").strip().partition(" ")
    expected = deps.settings.operator_key
    if scheme.lower() != "bearer" or expected is None:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.get_secret_value().encode())


def update_settings(deps: Deps, account_id: str, patch: AccountSettingsPatch) -> Account:
    for _ in range(_MAX_ATTEMPTS):
        account = deps.accounts.get(account_id)
        updated = replace(account, settings=patch.apply(account.settings), updated_at=deps.clock())
        try:
            saved = deps.accounts.save(updated)
        except ConcurrentModification:
            continue
        if saved.settings.auto_status != account.settings.auto_status:
            # New thresholds: every client's automatic status is re-evaluated in the background.
            from chalicelib.services.auto_status import start_account_recompute

            job_id = start_account_recompute(deps, saved)
            logger.info(
                "automatic statuses re-evaluation started", extra={"account_id": account_id, "job_id": job_id}
            )
        if saved.settings.sender_email != account.settings.sender_email:
            verify_sender_locally(deps, saved.settings.sender_email)
        return saved
    raise ConcurrentModification("the account is being changed concurrently; retry")


def reinstate(deps: Deps, account_id: str) -> Account:
    """Operator action: lift a suspension. Reputation rates restart from this moment."""
    for _ in range(_MAX_ATTEMPTS):
        account = deps.accounts.get(account_id)
        if not account.suspended:
            return account  # idempotent: reinstating an active account changes nothing
        now = deps.clock()
        updated = replace(
            account,
            status="active",
            suspension_reason=None,
            suspended_at=None,
            reinstated_at=now,
            updated_at=now,
        )
        try:
            saved = deps.accounts.save(updated)
        except ConcurrentModification:
            continue
        logger.info("account reinstated", extra={"account_id": account_id})
        return saved
    raise ConcurrentModification("the account is being changed concurrently; retry")
