"""The public intake form and its double opt-in.

A visitor's submission creates or updates the client (an existing address
gets only the non-empty fields given; consent is never set by the form). If
the consent box was ticked, a confirmation e-mail with a signed link is sent;
only the POST from the page behind that link records ``granted`` — with the
confirming request's own IP and user agent — through ``record_consent``.

Abuse limits: a fixed-window counter per source IP (every POST) and per
address (every valid submission, across all accounts' forms), both keyed by
keyed hashes so the throttle table never holds an IP or an address. A
honeypot field catches naive bots, which get the same thank-you page.
Suppressed addresses get no e-mail and the same page: the form never reveals
whether an address is known or suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.bootstrap import Deps
from chalicelib.domain.client_profile import ClientInput, ClientPatch
from chalicelib.domain.consent import EventType, Source
from chalicelib.domain.contact import email_hash
from chalicelib.domain.intake import (
    FORM_PER_EMAIL,
    FORM_PER_IP,
    IntakeInput,
    IntakeParse,
    is_bot,
    keyed_subject,
    matches_address,
    mint_double_opt_in,
    parse_intake,
    read_double_opt_in,
)
from chalicelib.domain.rate_limit import FixedWindow
from chalicelib.domain.records import Account, Client
from chalicelib.errors import ConcurrentModification, Conflict, NotFound, RateLimited
from chalicelib.observability import logger, metrics
from chalicelib.services import clients as client_service
from chalicelib.services.consent import ConsentChange, record_consent

CONFIRM_PATH = "/p/confirm/"


@dataclass(frozen=True)
class IntakeResult:
    account: Account
    accepted: bool
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirmation:
    account: Account
    client: Client


def find_form(deps: Deps, public_slug: str) -> Account:
    if len(public_slug) > 64:
        raise NotFound("form not found")
    return deps.accounts.find_by_slug(public_slug)


def _limit(deps: Deps, window: FixedWindow, subject: str, now: datetime) -> None:
    if not deps.throttle.hit_window(window.bucket(subject, now), window.limit, window.window_end(now)):
        metrics.add_metric(name="IntakeRateLimited", unit="Count", value=1)
        retry = window.retry_after(now)
        raise RateLimited("too many submissions; try again later", details={"retry_after": retry})


def submit_intake(
    deps: Deps, public_slug: str, values: dict[str, str], *, source_ip: str | None
) -> IntakeResult:
    account = find_form(deps, public_slug)
    now = deps.clock()
    _limit(deps, FORM_PER_IP, keyed_subject(deps.email_hash_key, "ip", source_ip or "unknown"), now)
    if is_bot(values):
        logger.info("intake honeypot filled", extra={"account_id": account.account_id})
        metrics.add_metric(name="IntakeHoneypot", unit="Count", value=1)
        return IntakeResult(account=account, accepted=True)
    parsed: IntakeParse = parse_intake(values)
    if parsed.data is None:
        return IntakeResult(account=account, accepted=False, values=values, errors=parsed.errors)
    data = parsed.data
    address_hash = email_hash(deps.email_hash_key, data.email)
    _limit(deps, FORM_PER_EMAIL, address_hash[:32], now)
    client = _create_or_update(deps, account, data)
    metrics.add_metric(name="IntakeSubmissions", unit="Count", value=1)
    if data.consent:
        _send_double_opt_in(deps, account, client, address_hash)
    return IntakeResult(account=account, accepted=True)


def _create_or_update(deps: Deps, account: Account, data: IntakeInput) -> Client:
    profile = data.profile()
    for _ in range(2):
        client_id = deps.clients.id_for_email(account.account_id, data.email)
        if client_id is None:
            try:
                new = ClientInput.model_validate({"email": data.email, **profile})
                return client_service.create_client(deps, account, new)
            except Conflict:
                continue  # created meanwhile by another submission: update it instead
        if not profile:
            return deps.clients.get(account.account_id, client_id, consistent=True)
        return client_service.update_client(deps, account, client_id, ClientPatch.model_validate(profile))
    raise ConcurrentModification("the address is being registered concurrently; retry")


def _send_double_opt_in(deps: Deps, account: Account, client: Client, address_hash: str) -> None:
    """Through the platform's one door for transactional mail (``services.outbound``): the
    account's caps and pace, the platform's SES rate, the sender check, the reputation."""
    from chalicelib.mail.messages import double_opt_in_mail
    from chalicelib.services.outbound import send_transactional

    ids = {"account_id": account.account_id, "client_id": client.client_id}
    if client.suppressed or deps.suppressions.is_suppressed(account.account_id, address_hash):
        logger.info("double opt-in not sent: address suppressed", extra=ids)
        metrics.add_metric(name="DoubleOptInSuppressed", unit="Count", value=1)
        return
    now = deps.clock()
    token = mint_double_opt_in(deps.key_ring, account.account_id, client.client_id, address_hash, now)
    mail = double_opt_in_mail(account, client, f"{deps.settings.public_base_url}{CONFIRM_PATH}{token}")
    outcome = send_transactional(deps, account, mail, kind="double_opt_in", client_id=client.client_id)
    if outcome.refused is not None:
        # The visitor sees the same page either way; staff see the client without consent.
        logger.warning("double opt-in not sent", extra={**ids, "code": outcome.refused})
        metrics.add_metric(name="DoubleOptInFailed", unit="Count", value=1)
        return
    metrics.add_metric(name="DoubleOptInSent", unit="Count", value=1)


def open_confirmation(deps: Deps, token: str) -> Confirmation:
    """The account and client a confirmation link is for; ``NotFound`` for any bad link
    (tampered, expired, foreign, erased client, or an address changed since)."""
    claim = read_double_opt_in(deps.key_ring, token, deps.clock())
    if claim is None:
        raise NotFound("link not valid")
    account = deps.accounts.get(claim.account_id)
    client = deps.clients.get(claim.account_id, claim.client_id, consistent=True)
    if not matches_address(claim, email_hash(deps.email_hash_key, client.email)):
        raise NotFound("link not valid")
    return Confirmation(account=account, client=client)


def confirm_double_opt_in(
    deps: Deps, token: str, *, source_ip: str | None, user_agent: str | None
) -> Confirmation:
    """The confirming POST: record ``granted`` with this request's evidence."""
    found = open_confirmation(deps, token)
    change = ConsentChange(
        type=EventType.GRANTED,
        source=Source.INTAKE_FORM,
        ip=source_ip,
        user_agent=user_agent,
        terms_url=found.account.settings.terms_url,
    )
    record = record_consent(deps, found.account, found.client.client_id, change)
    return Confirmation(account=found.account, client=record.client)
