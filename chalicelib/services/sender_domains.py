"""Sender domains: register a domain through SES (Easy DKIM), tell the business which DNS
records to publish, follow SES's verification, and say whether an account may send as an
address.

One account per domain: the claim item is written with ``attribute_not_exists`` in the
same transaction as the domain's record (``storage.sender_domains``), so a second account
gets 409 ``domain_taken`` however the requests interleave. SES is called after the claim
is committed; a domain whose SES identity could not be created yet (SES unreachable) stays
``pending`` and is provisioned by the next read of the account's domains.

Removal deletes the SES identity first, then the claim: a claim is never released while
SES still holds a verified identity for it, so a later claimant must prove DNS control
again (SES generates new DKIM keys for a new identity).
"""

from __future__ import annotations

from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.records import Account
from chalicelib.domain.sender_domains import (
    PENDING,
    SenderDomain,
    domain_of,
    mail_from_domain,
    public_mailbox_domain,
    status_from_ses,
)
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.observability import logger, metrics

SENDER_NOT_VERIFIED = "sender_not_verified"
REFRESH_PER_LISTING = 10  # SES reads one listing may make for pending domains


def refuse_public_domain(domain: str, field: str) -> None:
    if public_mailbox_domain(domain):
        raise InvalidInput(
            f"{domain} is a public mailbox provider: send from the business's own domain",
            code="public_mail_domain",
            details=[{"field": field, "message": "a domain of a public mailbox provider cannot be verified"}],
        )


def new_record(deps: Deps, account_id: str, domain: str) -> SenderDomain:
    return SenderDomain(
        account_id=account_id,
        domain=domain,
        status=PENDING,
        created_at=deps.clock(),
        mail_from_domain=mail_from_domain(domain, deps.settings.ses_mail_from_subdomain),
    )


def register(deps: Deps, account: Account, domain: str) -> tuple[SenderDomain, bool]:
    """Claim ``domain`` for the account and create its SES identity; ``(record, created)``.
    Registering a domain the account already holds answers its record (refreshed)."""
    refuse_public_domain(domain, "domain")
    record = new_record(deps, account.account_id, domain)
    saved = deps.sender_domains.add(record)
    created = saved is record
    if created:
        logger.info("sender domain registered", extra={"account_id": account.account_id, "domain": domain})
        metrics.add_metric(name="SenderDomainsRegistered", unit="Count", value=1)
        return provision_quietly(deps, saved), True
    return refresh(deps, saved), False


def provision(deps: Deps, record: SenderDomain) -> SenderDomain:
    """Create (or read) the SES identity, set its MAIL FROM domain, store status and tokens."""
    state = deps.mailer.create_domain_identity(record.domain)
    if record.mail_from_domain and state.mail_from_domain != record.mail_from_domain:
        deps.mailer.set_mail_from(record.domain, record.mail_from_domain)
        state = deps.mailer.get_identity(record.domain) or state
    return _store(deps, record, state)


def provision_quietly(deps: Deps, record: SenderDomain) -> SenderDomain:
    """``provision``; if SES cannot be reached now the domain stays pending (the next read of
    the account's domains tries again) — the claim is already the account's."""
    try:
        return provision(deps, record)
    except Exception:  # noqa: BLE001 — logged; retried by refresh
        logger.exception("sender domain not provisioned in SES yet", extra={"domain": record.domain})
        return record


def refresh(deps: Deps, record: SenderDomain) -> SenderDomain:
    """The domain's status as SES sees it now (its identity created if it is missing)."""
    state = deps.mailer.get_identity(record.domain)
    if state is None:
        return provision(deps, record)
    if record.mail_from_domain and state.mail_from_domain != record.mail_from_domain:
        deps.mailer.set_mail_from(record.domain, record.mail_from_domain)
        state = deps.mailer.get_identity(record.domain) or state
    return _store(deps, record, state)


def _store(deps: Deps, record: SenderDomain, state: Any) -> SenderDomain:
    status = status_from_ses(state.verification_status, state.verified_for_sending)
    if status != record.status:
        logger.info(
            "sender domain status",
            extra={"account_id": record.account_id, "domain": record.domain, "status": status},
        )
    return deps.sender_domains.save_status(
        record,
        status=status,
        checked_at=deps.clock(),
        dkim_tokens=tuple(state.dkim_tokens) or record.dkim_tokens,
        mail_from_domain=record.mail_from_domain,
        mail_from_status=state.mail_from_status,
    )


def list_domains(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[list[SenderDomain], str | None]:
    """A page of the account's domains; pending ones are refreshed from SES first."""
    from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

    start = decode_cursor(deps.key_ring, account.account_id, "sender-domains", cursor)
    items, next_key = deps.sender_domains.page(account.account_id, limit=check_limit(limit), start_key=start)
    refreshed = []
    budget = REFRESH_PER_LISTING
    for item in items:
        if not item.verified and budget > 0:
            budget -= 1
            try:
                item = refresh(deps, item)
            except NotFound:
                continue  # removed meanwhile
            except Exception:  # noqa: BLE001 — SES unreachable: show what is stored
                logger.exception("sender domain refresh failed", extra={"domain": item.domain})
        refreshed.append(item)
    return refreshed, encode_cursor(deps.key_ring, account.account_id, "sender-domains", next_key)


def get_domain(deps: Deps, account: Account, domain: str) -> SenderDomain:
    record = deps.sender_domains.get(account.account_id, _normalised_or_404(domain))
    if record is None:
        raise NotFound("sender domain not found")
    return record if record.verified else refresh(deps, record)


def remove(deps: Deps, account: Account, domain: str) -> None:
    name = _normalised_or_404(domain)
    record = deps.sender_domains.get(account.account_id, name)
    if record is None:
        raise NotFound("sender domain not found")
    if domain_of(account.settings.sender_email) == name:
        raise Conflict(
            "the account's sender_email is on this domain: change sender_email first",
            code="domain_in_use",
            details={"sender_email": account.settings.sender_email},
        )
    deps.mailer.delete_identity(name)  # first: a claim is never released while SES still verifies it
    deps.sender_domains.delete(account.account_id, name)
    logger.info("sender domain removed", extra={"account_id": account.account_id, "domain": name})


def _normalised_or_404(domain: str) -> str:
    from chalicelib.domain.sender_domains import normalise_domain

    try:
        return normalise_domain(domain)
    except ValueError:
        raise NotFound("sender domain not found") from None


def sender_problem(deps: Deps, account: Account, sender_email: str | None = None) -> str | None:
    """``None`` when ``sender_email`` (default: the account's) is on one of the account's
    verified domains; otherwise the reason it may not be used (``sender_not_verified``)."""
    try:
        domain = domain_of(sender_email or account.settings.sender_email)
    except ValueError:
        return SENDER_NOT_VERIFIED
    record = deps.sender_domains.get(account.account_id, domain, consistent=False)
    if record is None or not record.verified:
        return SENDER_NOT_VERIFIED
    return None


def require_verified_sender(deps: Deps, account: Account, sender_email: str) -> None:
    """400 ``sender_not_verified`` unless ``sender_email`` is on a verified domain of the
    account (a pending domain is refreshed from SES first: it may have been verified since)."""
    domain = domain_of(sender_email)
    record = deps.sender_domains.get(account.account_id, domain)
    if record is not None and not record.verified:
        record = refresh(deps, record)
    if record is None or not record.verified:
        raise InvalidInput(
            f"{sender_email} is not on a verified sender domain of this account: register {domain} with "
            "POST /v1/sender-domains and publish its DNS records first",
            code=SENDER_NOT_VERIFIED,
            details=[
                {"field": "sender_email", "message": f"domain {domain} is not verified for this account"}
            ],
        )
