"""The one door for a transactional e-mail of an account: ``send_transactional``.

Every e-mail the platform sends on behalf of an account passes the same checks,
whether it is a campaign's (the send worker, ``services.sending``) or a single
transactional message — the double opt-in of the intake form, a staff
invitation or password reset, a campaign's test send:

1. the account is not suspended;
2. the sender address is on one of the account's verified sender domains
   (``services.sender_domains.sender_problem``);
3. the account's daily and hourly caps (the warm-up cap of a young account
   included) admit it — it counts against them like a campaign e-mail;
4. it gets a slot of the account's pace and of the platform's SES rate
   (``services.pacing.Pacer``), waiting at most
   ``transactional_max_wait_seconds`` — never an e-mail outside the platform's
   rate;
5. it is sent with the message tags ``account_id``, ``kind`` and (when it is
   for a client) ``client_id``, so SES's bounce and complaint events count in
   the account's reputation (``services.ses_events``), and it is added to the
   account's daily ``sent`` counter, the denominator of its bounce and
   complaint rates.

Callers build the message (``mail.messages``) and call::

    outcome = send_transactional(deps, account, mail, kind="invitation")
    if not outcome.sent: ...  # outcome.refused says why

The caller decides what a refusal means for its user (the intake form shows
the same page either way; an invitation may ask the owner to try later).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.bootstrap import Deps
from chalicelib.domain.records import Account
from chalicelib.domain.throttle import Deferred
from chalicelib.mail.mime import OutgoingMail
from chalicelib.observability import logger, metrics

# Why a transactional e-mail was not sent (``Outcome.refused``).
SUSPENDED = "account_suspended"
SENDER_NOT_VERIFIED = "sender_not_verified"
CAPPED = "send_cap_reached"
PLATFORM_BUSY = "platform_busy"
SES_REFUSED = "ses_refused"
INVALID_MAIL = "invalid_mail"


@dataclass(frozen=True)
class Outcome:
    message_id: str | None = None
    refused: str | None = None  # one of the reasons above; None when sent (or possibly sent)
    unknown: bool = False  # SES's answer was lost: it may have been sent (never retried)

    @property
    def sent(self) -> bool:
        return self.message_id is not None


def send_transactional(
    deps: Deps, account: Account, mail: OutgoingMail, *, kind: str, client_id: str | None = None
) -> Outcome:
    """Send one transactional e-mail of ``account`` through the platform's checks, caps and
    rate (see the module docstring); ``kind`` names it in the message tags and metrics
    (``double_opt_in``, ``invitation``, ``password_reset``, ``test_send``…)."""
    from chalicelib.mail.mime import InvalidMail, build_mime
    from chalicelib.mail.ses import (
        MailAccountProblem,
        MailError,
        MailOutcomeUnknown,
    )
    from chalicelib.services.limits import limits_in_force
    from chalicelib.services.pacing import Pacer
    from chalicelib.services.sender_domains import sender_problem
    from chalicelib.services.sending import give_back_caps, take_caps

    ids = {"account_id": account.account_id, "kind": kind}
    if account.suspended:
        return _refused(ids, SUSPENDED)
    if sender_problem(deps, account, mail.sender_email) is not None:
        return _refused(ids, SENDER_NOT_VERIFIED)
    now = deps.clock()
    try:
        raw = build_mime(mail, now)
    except InvalidMail:
        return _refused(ids, INVALID_MAIL)
    limits = limits_in_force(deps, account, now)
    admitted, _ = take_caps(deps, account.account_id, limits, 1, now)
    if admitted == 0:
        return _refused(ids, CAPPED)
    pacer = Pacer(deps, account.account_id, limits.send_rate_per_second)
    group = pacer.book(1, deps.settings.transactional_max_wait_seconds)
    if isinstance(group, Deferred):
        give_back_caps(deps, account.account_id, now, 1)
        return _refused(ids, PLATFORM_BUSY)
    wait = group.slots[0] - deps.clock().timestamp()
    if wait > 0:
        deps.sleep(wait)
    tags = {**ids, **({"client_id": client_id} if client_id else {})}
    try:
        message_id = deps.mailer.send_raw(raw, sender=mail.sender_email, to=[mail.to], tags=tags)
    except MailOutcomeUnknown:
        # SES may have sent it: counted as sent, never sent again.
        deps.stats.add(account.account_id, now.date(), sent=1)
        metrics.add_metric(name="SendOutcomeUnknown", unit="Count", value=1)
        logger.warning("transactional e-mail: SES answer lost", extra=ids)
        return Outcome(unknown=True)
    except MailAccountProblem as exc:
        give_back_caps(deps, account.account_id, now, 1)
        metrics.add_metric(name="SendingBlocked", unit="Count", value=1)
        logger.warning(
            "SES refuses the account's sending", extra={**ids, "code": exc.code, "reason": exc.reason}
        )
        return Outcome(refused=SES_REFUSED)
    except MailError as exc:
        give_back_caps(deps, account.account_id, now, 1)
        logger.warning("transactional e-mail not sent", extra={**ids, "code": exc.code})
        return Outcome(refused=SES_REFUSED)
    deps.stats.add(account.account_id, now.date(), sent=1)
    metrics.add_metric(name="TransactionalSent", unit="Count", value=1)
    logger.info("transactional e-mail sent", extra={**ids, "ses_message_id": message_id})
    return Outcome(message_id=message_id)


def _refused(ids: dict[str, str], reason: str) -> Outcome:
    logger.info("transactional e-mail not sent", extra={**ids, "reason": reason})
    metrics.add_metric(name="TransactionalRefused", unit="Count", value=1)
    return Outcome(refused=reason)
