"""The public intake form and its double opt-in.

Anyone can post the form, so a post proves nothing about the address typed into it:

- a new address becomes a ``pending`` client with the details given: listed for staff,
  in no audience (campaigns, lists, searches) until confirmed;
- an address that is already a client changes nothing at all;
- if the consent box was ticked, a confirmation e-mail goes to the address with a signed
  link that carries the details submitted. Only the POST from the page behind that link —
  the address's owner — applies them, records ``granted`` (with the confirming request's
  own IP and user agent) and ends the pending state, in one transaction
  (``record_consent``). The e-mail itself shows nothing a stranger typed.

Abuse limits (fixed windows, ``domain/intake.py``), keyed by keyed hashes so the throttle
table never holds an IP or an address: per business and source IP, per source IP across
businesses, per business — a refused POST is a 429 page — and per business and address for
the confirmation e-mails only (the form answers the same; the mail waits for the next
window). A honeypot field catches naive bots, which get the same thank-you page.
Suppressed addresses get no e-mail and the same page: the form never reveals whether an
address is known, pending or suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.bootstrap import Deps
from chalicelib.domain import intake as rules
from chalicelib.domain.client_profile import ClientInput
from chalicelib.domain.consent import EventType, Source
from chalicelib.domain.contact import email_hash, email_key
from chalicelib.domain.intake import (
    DoubleOptIn,
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
from chalicelib.errors import Conflict, NotFound, RateLimited
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
    claim: DoubleOptIn


def find_form(deps: Deps, public_slug: str) -> Account:
    if len(public_slug) > 64:
        raise NotFound("form not found")
    return deps.accounts.find_by_slug(public_slug)


def _within(deps: Deps, window: FixedWindow, subject: str, now: datetime) -> bool:
    return deps.throttle.hit_window(window.bucket(subject, now), window.limit, window.window_end(now))


def _limit(deps: Deps, window: FixedWindow, subject: str, now: datetime) -> None:
    if not _within(deps, window, subject, now):
        metrics.add_metric(name="IntakeRateLimited", unit="Count", value=1)
        retry = window.retry_after(now)
        raise RateLimited("too many submissions; try again later", details={"retry_after": retry})


def _check_limits(deps: Deps, account: Account, source_ip: str | None, now: datetime) -> None:
    """The POST limits: per business and source IP, per source IP, per business (429)."""
    ip = source_ip or "unknown"
    key = deps.email_hash_key
    _limit(deps, rules.FORM_PER_ACCOUNT_IP, keyed_subject(key, "ip", f"{account.account_id}|{ip}"), now)
    _limit(deps, rules.FORM_PER_IP, keyed_subject(key, "ip", ip), now)
    _limit(deps, rules.FORM_PER_ACCOUNT, account.account_id, now)


def submit_intake(
    deps: Deps, public_slug: str, values: dict[str, str], *, source_ip: str | None
) -> IntakeResult:
    account = find_form(deps, public_slug)
    now = deps.clock()
    _check_limits(deps, account, source_ip, now)
    if is_bot(values):
        logger.info("intake honeypot filled", extra={"account_id": account.account_id})
        metrics.add_metric(name="IntakeHoneypot", unit="Count", value=1)
        return IntakeResult(account=account, accepted=True)
    parsed: IntakeParse = parse_intake(values)
    if parsed.data is None:
        return IntakeResult(account=account, accepted=False, values=values, errors=parsed.errors)
    data = parsed.data
    client = _existing_or_pending(deps, account, data)
    metrics.add_metric(name="IntakeSubmissions", unit="Count", value=1)
    if data.consent:
        _send_double_opt_in(deps, account, client, data, now)
    return IntakeResult(account=account, accepted=True)


def _existing_or_pending(deps: Deps, account: Account, data: IntakeInput) -> Client:
    """The client of the address, unchanged; or, for a new address, a new pending client
    with the details given (nobody else's data is touched by creating it)."""
    client_id = deps.clients.id_for_email(account.account_id, data.email)
    if client_id is None:
        try:
            new = ClientInput.model_validate({"email": data.email, **data.profile()})
            return client_service.create_client(deps, account, new, pending=True)
        except Conflict:  # created meanwhile (another submission, staff): leave it as it is
            client_id = deps.clients.id_for_email(account.account_id, data.email)
            if client_id is None:
                raise
    return deps.clients.get(account.account_id, client_id, consistent=True)


def _send_double_opt_in(
    deps: Deps, account: Account, client: Client, data: IntakeInput, now: datetime
) -> None:
    """Through the platform's one door for transactional mail (``services.outbound``): the
    account's caps and pace, the platform's SES rate, the sender check, the reputation."""
    from chalicelib.mail.messages import double_opt_in_mail
    from chalicelib.services.outbound import send_transactional

    ids = {"account_id": account.account_id, "client_id": client.client_id}
    address_hash = email_hash(deps.email_hash_key, client.email)
    if client.suppressed or deps.suppressions.is_suppressed(account.account_id, address_hash):
        logger.info("double opt-in not sent: address suppressed", extra=ids)
        metrics.add_metric(name="DoubleOptInSuppressed", unit="Count", value=1)
        return
    if account.suspended:
        logger.info("double opt-in not sent: account suspended", extra=ids)
        return
    subject = keyed_subject(deps.email_hash_key, "email", f"{account.account_id}|{email_key(client.email)}")
    if not _within(deps, rules.DOI_PER_ADDRESS, subject, now):
        # The form answers the same: a person may already hold a link from this hour's mails.
        logger.info("double opt-in not sent: limit per address", extra=ids)
        metrics.add_metric(name="DoubleOptInLimited", unit="Count", value=1)
        return
    token = mint_double_opt_in(
        deps.key_ring, account.account_id, client.client_id, address_hash, now, data.profile()
    )
    mail = double_opt_in_mail(
        account, client, f"{deps.settings.public_base_url}{CONFIRM_PATH}{token}", language=data.language
    )
    outcome = send_transactional(deps, account, mail, kind="double_opt_in", client_id=client.client_id)
    if outcome.refused is not None:
        # The visitor sees the same page either way; staff see the client without consent.
        logger.warning("double opt-in not sent", extra={**ids, "code": outcome.refused})
        metrics.add_metric(name="DoubleOptInFailed", unit="Count", value=1)
        return
    metrics.add_metric(name="DoubleOptInSent", unit="Count", value=1)


def open_confirmation(deps: Deps, token: str) -> Confirmation:
    """The account, client and claim a confirmation link is for; ``NotFound`` for any bad
    link (tampered, expired, foreign, erased client, or an address changed since)."""
    claim = read_double_opt_in(deps.key_ring, token, deps.clock())
    if claim is None:
        raise NotFound("link not valid")
    account = deps.accounts.get(claim.account_id)
    client = deps.clients.get(claim.account_id, claim.client_id, consistent=True)
    if not matches_address(claim, email_hash(deps.email_hash_key, client.email)):
        raise NotFound("link not valid")
    return Confirmation(account=account, client=client, claim=claim)


def confirm_double_opt_in(
    deps: Deps, token: str, *, source_ip: str | None, user_agent: str | None
) -> Confirmation:
    """The confirming POST: record ``granted`` with this request's evidence, and apply the
    details the link carries, in the same transaction (a pending client stops being one)."""
    found = open_confirmation(deps, token)
    change = ConsentChange(
        type=EventType.GRANTED,
        source=Source.INTAKE_FORM,
        ip=source_ip,
        user_agent=user_agent,
        terms_url=found.account.settings.terms_url,
    )
    record = record_consent(deps, found.account, found.client.client_id, change, profile=found.claim.profile)
    return Confirmation(account=found.account, client=record.client, claim=found.claim)
