"""Anti-spam protection: suspend an account whose reputation or volume looks abusive,
and pause a campaign whose first sends bounce heavily (circuit breaker).

Suspension is an account status (``suspended`` with a reason); the send
workers read the account before every message, so in-flight campaigns stop
at once (they are paused with ``paused_reason: account_suspended``). Only
the operator lifts it (``services.accounts.reinstate``); the reputation
window then restarts at the reinstatement (``domain.reputation.window``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.bootstrap import Deps
from chalicelib.config import Settings
from chalicelib.domain.campaign_status import CampaignStatus
from chalicelib.domain.records import Account
from chalicelib.domain.reputation import summarise, window
from chalicelib.domain.suspension import SuspensionPolicy, breaker_trips, suspension_reason, volume_spike
from chalicelib.errors import ConcurrentModification, NotFound
from chalicelib.observability import logger, metrics

_MAX_ATTEMPTS = 5
SPIKE_CHECK_EVERY = 200  # sends per day between two volume-spike checks
SPIKE_HISTORY_DAYS = 30


def policy(settings: Settings) -> SuspensionPolicy:
    return SuspensionPolicy(
        bounce_rate=settings.suspend_bounce_rate,
        complaint_rate=settings.suspend_complaint_rate,
        min_sent=settings.suspend_min_sent,
        spike_factor=settings.suspend_spike_factor,
        warmup_days=settings.warmup_days,
        breaker_sample=settings.breaker_sample,
        breaker_bounce_rate=settings.breaker_bounce_rate,
    )


def suspend(deps: Deps, account_id: str, reason: str) -> Account:
    """Suspend an account (idempotent: an already suspended one keeps its first reason)."""
    for _ in range(_MAX_ATTEMPTS):
        account = deps.accounts.get(account_id)
        if account.suspended:
            return account
        now = deps.clock()
        updated = replace(
            account, status="suspended", suspension_reason=reason, suspended_at=now, updated_at=now
        )
        try:
            saved = deps.accounts.save(updated)
        except ConcurrentModification:
            continue
        logger.warning("account suspended", extra={"account_id": account_id, "reason": reason})
        metrics.add_metric(name="AccountsSuspended", unit="Count", value=1)
        return saved
    raise ConcurrentModification("the account is being changed concurrently; retry")


def check_reputation(deps: Deps, account_id: str) -> str | None:
    """Suspend the account if its rolling 7-day rates cross the thresholds; the reason."""
    account = deps.accounts.get(account_id)
    if account.suspended:
        return account.suspension_reason
    first, last = window(deps.clock(), account.reinstated_at)
    days = deps.stats.days(account_id, first, last)
    rep = summarise([(d.sent, d.hard_bounces, d.complaints) for d in days])
    reason = suspension_reason(rep, policy(deps.settings))
    if reason is not None:
        suspend(deps, account_id, reason)
    return reason


def check_volume(deps: Deps, account: Account, today_sent: int, now: datetime) -> bool:
    """Suspend for a volume spike: today's sends over ``spike_factor`` times the trailing daily
    average (days since creation or reinstatement, at most 30), once past warm-up."""
    start = account.created_at.date()
    if account.reinstated_at is not None:
        start = max(start, account.reinstated_at.date())
    first = max(start, (now - timedelta(days=SPIKE_HISTORY_DAYS)).date())
    yesterday = (now - timedelta(days=1)).date()
    if first > yesterday:
        return False
    by_day = {d.day: d.sent for d in deps.stats.days(account.account_id, first, yesterday)}
    trailing = [by_day.get(first + timedelta(days=i), 0) for i in range((yesterday - first).days + 1)]
    if volume_spike(today_sent, trailing, policy(deps.settings)):
        suspend(deps, account.account_id, "volume_spike")
        return True
    return False


def after_sends(deps: Deps, account_id: str, sent: int, total: int, now: datetime) -> None:
    """After ``sent`` sends brought today's total to ``total``: run the volume-spike check each
    ``SPIKE_CHECK_EVERY`` sends of the day (its Query of at most 30 items is amortised)."""
    if total // SPIKE_CHECK_EVERY == (total - sent) // SPIKE_CHECK_EVERY:
        return
    try:
        account = deps.accounts.get(account_id)
    except NotFound:
        return
    if not account.suspended:
        check_volume(deps, account, total, now)


def check_breaker(deps: Deps, account_id: str, campaign_id: str) -> bool:
    """Pause a campaign whose first sends bounce too much (it is resumable by staff)."""
    campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.ACTIVE):
        return False
    campaign = deps.campaigns.with_counters(campaign)
    sent, bounced = campaign.counters.get("sent", 0), campaign.counters.get("bounced", 0)
    rules = policy(deps.settings)
    # Bounces arrive after the sends; past the sample, a campaign still bouncing at the
    # breaker's rate over everything it sent is paused too.
    heavy = sent > rules.breaker_sample and bounced / sent >= rules.breaker_bounce_rate
    if not (breaker_trips(sent, bounced, rules) or heavy):
        return False
    if deps.campaigns.move(campaign, CampaignStatus.PAUSED, deps.clock(), paused_reason="circuit_breaker"):
        logger.warning(
            "campaign paused by the circuit breaker",
            extra={"campaign_id": campaign_id, "sent": sent, "bounced": bounced},
        )
        metrics.add_metric(name="CampaignsBreakerPaused", unit="Count", value=1)
        return True
    return False
