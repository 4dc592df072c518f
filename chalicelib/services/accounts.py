"""Accounts: creation by the operator (with the first API key and owner), settings, reinstatement."""

from __future__ import annotations

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
from chalicelib.errors import ConcurrentModification, InvalidInput
from chalicelib.observability import logger

FIRST_KEY_NAME = "Initial key"  # the name of the key returned by POST /v1/accounts
_MAX_ATTEMPTS = 3


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: SenderName
    sender_email: Email
    sender_name: SenderName | None = None
    language: Language = "en"
    # The account's first owner: invited by e-mail to set a password for the console.
    owner_email: Email | None = None


def _slug_base(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "account"


def new_public_slug(name: str) -> str:
    """Readable and unguessable: ``salon-bella-k3v9q2xd``."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return f"{_slug_base(name)}-{''.join(secrets.choice(alphabet) for _ in range(8))}"


def create_account(deps: Deps, data: NewAccount) -> tuple[Account, str]:
    """Create an account, its first API key and, with ``owner_email``, its first owner (who
    gets an invitation e-mail): all in one transaction. The key is returned once, stored
    hashed; it is one of the account's manageable keys.

    The domain of ``sender_email`` is claimed for the new account in the same transaction
    (409 ``domain_taken`` if another account holds it: nothing is created), then registered
    in SES (``services.sender_domains``); the account's limits start at the platform's
    new-account limits, and its rate and cap settings at those limits."""
    from chalicelib.domain.sender_domains import domain_of
    from chalicelib.services import api_keys, sender_domains, users
    from chalicelib.services.limits import default_limits

    now = deps.clock()
    domain = domain_of(data.sender_email)
    sender_domains.refuse_public_domain(domain, "sender_email")
    account_id = f"acc_{ULID()}"
    slug = new_public_slug(data.name)
    while deps.accounts.slug_taken(slug):  # 40 random bits: practically never loops
        slug = new_public_slug(data.name)
    limits = default_limits(deps.settings)
    settings = AccountSettings(
        sender_email=data.sender_email,
        sender_name=data.sender_name or data.name,
        language=data.language,
        send_rate_per_second=limits.send_rate_per_second,
        hourly_send_cap=limits.hourly_send_cap,
        daily_send_cap=limits.daily_send_cap,
    )
    account = Account(
        account_id=account_id,
        name=data.name,
        public_slug=slug,
        settings=settings,
        created_at=now,
        updated_at=now,
        limits=limits,
    )
    key, api_key = api_keys.new_key(account_id, FIRST_KEY_NAME, now, None)
    owner = invitation = secret = None
    if data.owner_email is not None:
        owner_data = users.NewUser(email=data.owner_email, role="owner", language=data.language)
        owner, invitation, secret = users.new_invited_user(account_id, owner_data, now, None)
    domain_record = sender_domains.new_record(deps, account_id, domain)
    created = deps.accounts.create(account, key, domain_record, owner, invitation)
    logger.info("account created", extra={"account_id": account_id})
    sender_domains.provision_quietly(deps, domain_record)
    if owner is not None and secret is not None:
        users.send_link(deps, created, owner, "invitation", secret)
    return created, api_key


def authenticate(deps: Deps, authorization: str | None, source_ip: str | None) -> tuple[Account, ApiKey]:
    """The account and key behind an ``Authorization: Bearer`` header (``services.api_keys``)."""
    from chalicelib.services.api_keys import authenticate as authenticate_key

    return authenticate_key(deps, authorization, source_ip)


def is_operator(deps: Deps, authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").strip().partition(" ")
    expected = deps.settings.operator_key
    if scheme.lower() != "bearer" or expected is None:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.get_secret_value().encode())


def update_settings(
    deps: Deps, account_id: str, patch: AccountSettingsPatch, actor: str | None = None
) -> Account:
    """The business's own settings: rate and caps only at or below the account's limits (400
    ``above_account_limit``), ``sender_email`` only on a verified domain of the account (400
    ``sender_not_verified``)."""
    from chalicelib.domain.limits import above_limits
    from chalicelib.services.limits import limits_of
    from chalicelib.services.sender_domains import require_verified_sender

    for _ in range(_MAX_ATTEMPTS):
        account = deps.accounts.get(account_id)
        limits = limits_of(deps, account)
        over = above_limits({name: getattr(patch, name) for name in patch.model_fields_set}, limits)
        if over:
            raise InvalidInput(
                "sending settings may be lowered, never raised above the account's limits "
                "(the operator sets those)",
                code="above_account_limit",
                details=over,
            )
        if "sender_email" in patch.model_fields_set and patch.sender_email != account.settings.sender_email:
            assert patch.sender_email is not None
            require_verified_sender(deps, account, patch.sender_email)
        updated = replace(account, settings=patch.apply(account.settings), updated_at=deps.clock())
        try:
            saved = deps.accounts.save(updated)
        except ConcurrentModification:
            continue
        if saved.settings.auto_status != account.settings.auto_status:
            # New thresholds: every client's automatic status is re-evaluated in the background.
            from chalicelib.services.auto_status import start_account_recompute

            job_id = start_account_recompute(deps, saved, actor)
            logger.info(
                "automatic statuses re-evaluation started", extra={"account_id": account_id, "job_id": job_id}
            )
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
