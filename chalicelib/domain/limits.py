"""How much an account may send: the operator's limits, the business's own (lower) settings,
and the warm-up schedule of a new account (pure rules).

- ``AccountLimits`` are the operator's ceilings (``PUT /v1/accounts/{id}/limits``):
  send rate, hourly cap, daily cap. A business's settings of the same names may only
  be at or below them (``above_limits`` names the fields that are not).
- ``follow_limits``: when the operator changes an account's limits, a setting that was
  at the old ceiling follows the ceiling (up or down) and one above the new ceiling
  comes down to it; a setting the business lowered itself stays.
- ``warmup_daily_cap``: a new account's daily cap starts at the platform's
  ``warmup_daily_cap`` and grows geometrically, one step per *clean* day since the
  account first sent, reaching the account's daily limit after ``warmup_days`` clean
  days. A day is clean when the account's 7-day reputation ending that day stays under
  half the suspension thresholds (or is too small a sample to judge); a dirty day does
  not count, so growth pauses while the reputation is not clean. Past
  ``horizon_days`` of age the warm-up is over (the suspension protections remain).
- ``in_force``: what the send worker applies: the lower of setting and limit, and the
  warm-up cap on top of the daily cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.reputation import WINDOW_DAYS, summarise

LIMITED = ("send_rate_per_second", "hourly_send_cap", "daily_send_cap")


class AccountLimits(BaseModel):
    """The operator's ceilings of one account (``PUT /v1/accounts/{account_id}/limits``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    send_rate_per_second: float = Field(ge=0.01, le=1000)  # DynamoDB stores no smaller magnitude sensibly
    hourly_send_cap: int = Field(ge=1, le=10_000_000)
    daily_send_cap: int = Field(ge=1, le=10_000_000)


def above_limits(values: Mapping[str, Any], limits: AccountLimits) -> list[dict[str, Any]]:
    """The fields of ``values`` (a settings change) above the account's limits, as error details."""
    return [
        {
            "field": name,
            "message": f"at most {getattr(limits, name)}, the account's limit",
            "limit": getattr(limits, name),
        }
        for name in LIMITED
        if name in values and values[name] is not None and values[name] > getattr(limits, name)
    ]


def follow_limits(
    settings: Mapping[str, Any], old: AccountLimits, new: AccountLimits
) -> dict[str, float | int]:
    """The new values of the limited settings when the limits change from ``old`` to ``new``."""
    changed: dict[str, float | int] = {}
    for name in LIMITED:
        value, ceiling, limit = settings[name], getattr(old, name), getattr(new, name)
        target = limit if value >= ceiling else min(value, limit)
        if target != value:
            changed[name] = target
    return changed


@dataclass(frozen=True)
class WarmupPolicy:
    base_daily_cap: int  # the first day's cap (PERMESSO_WARMUP_DAILY_CAP)
    days: int  # clean days to reach the account's daily limit (PERMESSO_WARMUP_DAYS)
    clean_bounce_rate: float  # half the suspension threshold
    clean_complaint_rate: float
    min_sent: int  # below this many sends in the window the rates are not judged
    horizon_days: int = 60  # the warm-up ends at this age whatever happened


DayCounts = tuple[int, int, int]  # sent, hard bounces, complaints


def clean_day(day: date, history: Mapping[date, DayCounts], policy: WarmupPolicy) -> bool:
    """The 7-day reputation ending ``day`` is clean (or too small to judge)."""
    window = [history.get(day - timedelta(days=i), (0, 0, 0)) for i in range(WINDOW_DAYS)]
    rep = summarise(window)
    if rep.sent < policy.min_sent:
        return True
    return rep.bounce_rate < policy.clean_bounce_rate and rep.complaint_rate < policy.clean_complaint_rate


def clean_days(today: date, history: Mapping[date, DayCounts], policy: WarmupPolicy) -> int:
    """Days from the first day with sends up to yesterday whose reputation was clean."""
    sent_days = [day for day, counts in history.items() if counts[0] > 0 and day < today]
    if not sent_days:
        return 0
    day, count = min(sent_days), 0
    while day < today:
        count += clean_day(day, history, policy)
        day += timedelta(days=1)
    return count


def warmup_daily_cap(
    policy: WarmupPolicy, created: date, today: date, history: Mapping[date, DayCounts], daily_limit: int
) -> int | None:
    """Today's warm-up cap, or ``None`` once the account is warmed up (its daily limit applies).

    ``base · (limit/base)^(n/days)`` after ``n`` clean days: day 0 allows ``base``, each
    clean day multiplies the cap by the same factor, and ``days`` clean days reach the limit.
    """
    base = policy.base_daily_cap
    if base >= daily_limit or policy.days <= 0 or (today - created).days >= policy.horizon_days:
        return None
    n = clean_days(today, history, policy)
    if n >= policy.days:
        return None
    return min(daily_limit, int(base * (daily_limit / base) ** (n / policy.days)))


@dataclass(frozen=True)
class InForce:
    """What the send worker applies today."""

    send_rate_per_second: float
    hourly_send_cap: int
    daily_send_cap: int  # the warm-up cap included
    warmup_daily_cap: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "send_rate_per_second": self.send_rate_per_second,
            "hourly_send_cap": self.hourly_send_cap,
            "daily_send_cap": self.daily_send_cap,
            "warmup_daily_cap": self.warmup_daily_cap,
        }


def in_force(settings: Mapping[str, Any], limits: AccountLimits, warmup_cap: int | None) -> InForce:
    daily = min(int(settings["daily_send_cap"]), limits.daily_send_cap)
    if warmup_cap is not None:
        daily = min(daily, warmup_cap)
    return InForce(
        send_rate_per_second=min(float(settings["send_rate_per_second"]), limits.send_rate_per_second),
        hourly_send_cap=min(int(settings["hourly_send_cap"]), limits.hourly_send_cap),
        daily_send_cap=daily,
        warmup_daily_cap=warmup_cap,
    )
