"""When an account must stop sending, and when a campaign must pause (pure rules).

Thresholds are half of SES's own pause levels (10 % bounces, 0.5 % complaints),
so one tenant can never get the shared SES account paused.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.reputation import Reputation


@dataclass(frozen=True)
class SuspensionPolicy:
    bounce_rate: float = 0.05
    complaint_rate: float = 0.001
    min_sent: int = 200  # rates mean little below this many sends in the window
    spike_factor: float = 10.0
    warmup_days: int = 14  # no spike check before this much history
    breaker_sample: int = 200  # a campaign's first sends…
    breaker_bounce_rate: float = 0.10  # …pause it at this hard-bounce rate


def suspension_reason(rep: Reputation, policy: SuspensionPolicy) -> str | None:
    """``bounce_rate`` / ``complaint_rate`` when the window's rates cross the thresholds."""
    if rep.sent < policy.min_sent:
        return None
    if rep.bounce_rate >= policy.bounce_rate:
        return "bounce_rate"
    if rep.complaint_rate >= policy.complaint_rate:
        return "complaint_rate"
    return None


def volume_spike(today_sent: int, trailing_daily: list[int], policy: SuspensionPolicy) -> bool:
    """Today's sends far above the account's usual day (once it has a history).

    ``trailing_daily`` holds the sends of each previous day (oldest first, zero
    days included) — the account's age in days is its length.
    """
    if len(trailing_daily) < policy.warmup_days:
        return False
    average = sum(trailing_daily) / len(trailing_daily)
    if average <= 0:
        return False
    return today_sent > policy.spike_factor * average and today_sent >= policy.min_sent


def breaker_trips(sent: int, hard_bounces: int, policy: SuspensionPolicy) -> bool:
    """A campaign whose first sends bounce heavily is paused before it does damage."""
    if sent == 0 or sent > policy.breaker_sample:
        return False
    sample_full = sent >= policy.breaker_sample
    # Trip early when the bounces already reach the rate over the whole sample size.
    return hard_bounces >= policy.breaker_bounce_rate * policy.breaker_sample or (
        sample_full and hard_bounces / sent >= policy.breaker_bounce_rate
    )
