"""An account's sending limits: the operator's ceilings, the warm-up cap of a new account,
and what is in force today (``domain.limits`` holds the rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.config import Settings
from chalicelib.domain.limits import (
    AccountLimits,
    InForce,
    WarmupPolicy,
    follow_limits,
    in_force,
    warmup_daily_cap,
)
from chalicelib.domain.records import Account
from chalicelib.errors import ConcurrentModification
from chalicelib.observability import logger

_MAX_ATTEMPTS = 3


def default_limits(settings: Settings) -> AccountLimits:
    """The limits a new account starts with (PERMESSO_NEW_ACCOUNT_*)."""
    return AccountLimits(
        send_rate_per_second=settings.new_account_send_rate_per_second,
        hourly_send_cap=settings.new_account_hourly_send_cap,
        daily_send_cap=settings.new_account_daily_send_cap,
    )


def limits_of(deps: Deps, account: Account) -> AccountLimits:
    return account.limits if account.limits is not None else default_limits(deps.settings)


def warmup_policy(settings: Settings) -> WarmupPolicy:
    return WarmupPolicy(
        base_daily_cap=settings.warmup_daily_cap,
        days=settings.warmup_days,
        clean_bounce_rate=settings.suspend_bounce_rate / 2,
        clean_complaint_rate=settings.suspend_complaint_rate / 2,
        min_sent=settings.suspend_min_sent,
    )


def warmup_cap(deps: Deps, account: Account, now: datetime) -> int | None:
    """Today's warm-up cap of the account, ``None`` once it is warmed up. Reads the account's
    daily counters (one Query of at most ``horizon_days`` small items) only while it is young."""
    policy = warmup_policy(deps.settings)
    limit = limits_of(deps, account).daily_send_cap
    today, created = now.date(), account.created_at.date()
    if policy.base_daily_cap >= limit or (today - created).days >= policy.horizon_days:
        return None
    first = created - timedelta(days=7)
    history = {
        d.day: (d.sent, d.hard_bounces, d.complaints)
        for d in deps.stats.days(account.account_id, first, today - timedelta(days=1))
    }
    return warmup_daily_cap(policy, created, today, history, limit)


def limits_in_force(deps: Deps, account: Account, now: datetime) -> InForce:
    return in_force(account.settings.model_dump(), limits_of(deps, account), warmup_cap(deps, account, now))


def limits_view(deps: Deps, account: Account) -> dict[str, Any]:
    """``limits`` of ``GET /v1/account``: the operator's ceilings, the warm-up cap in force
    (``null`` once warmed up) and what applies today."""
    limits = limits_of(deps, account)
    force = limits_in_force(deps, account, deps.clock())
    return {
        **limits.model_dump(mode="json"),
        "warmup_daily_cap": force.warmup_daily_cap,
        "in_force": force.as_dict(),
    }


def set_limits(deps: Deps, account_id: str, limits: AccountLimits) -> Account:
    """Operator: replace an account's limits. Settings at the old ceiling follow the new one;
    settings above the new ceiling come down to it (``domain.limits.follow_limits``)."""
    for _ in range(_MAX_ATTEMPTS):
        account = deps.accounts.get(account_id)
        old = limits_of(deps, account)
        changes = follow_limits(account.settings.model_dump(), old, limits)
        settings = account.settings.model_copy(update=changes) if changes else account.settings
        updated = replace(account, limits=limits, settings=settings, updated_at=deps.clock())
        try:
            saved = deps.accounts.save(updated)
        except ConcurrentModification:
            continue
        logger.info("account limits set", extra={"account_id": account_id, **limits.model_dump()})
        return saved
    raise ConcurrentModification("the account is being changed concurrently; retry")
