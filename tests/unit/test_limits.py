"""Account limits, the business's settings under them, and the warm-up schedule (pure rules)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.limits import (
    AccountLimits,
    WarmupPolicy,
    above_limits,
    clean_days,
    follow_limits,
    in_force,
    warmup_daily_cap,
)

LIMITS = AccountLimits(send_rate_per_second=5.0, hourly_send_cap=2000, daily_send_cap=10_000)
POLICY = WarmupPolicy(
    base_daily_cap=200, days=14, clean_bounce_rate=0.025, clean_complaint_rate=0.0005, min_sent=200
)
CREATED = date(2026, 11, 1)


def test_limits_are_validated() -> None:
    with pytest.raises(ValidationError):
        AccountLimits.model_validate({"send_rate_per_second": 0, "hourly_send_cap": 1, "daily_send_cap": 1})
    with pytest.raises(ValidationError):
        AccountLimits.model_validate({"send_rate_per_second": 1, "hourly_send_cap": 1})  # all three


def test_settings_may_be_lowered_never_raised() -> None:
    assert above_limits({"send_rate_per_second": 5.0, "daily_send_cap": 500}, LIMITS) == []
    over = above_limits({"send_rate_per_second": 1000.0, "hourly_send_cap": 2001, "language": "cs"}, LIMITS)
    assert [d["field"] for d in over] == ["send_rate_per_second", "hourly_send_cap"]
    assert over[0]["limit"] == 5.0


def test_settings_at_the_ceiling_follow_it_and_others_stay_below() -> None:
    raised = AccountLimits(send_rate_per_second=20.0, hourly_send_cap=5000, daily_send_cap=50_000)
    settings = {"send_rate_per_second": 5.0, "hourly_send_cap": 1000, "daily_send_cap": 10_000}
    # The rate and the daily cap were at the old ceilings: they follow; the hourly cap was lowered.
    assert follow_limits(settings, LIMITS, raised) == {"send_rate_per_second": 20.0, "daily_send_cap": 50_000}
    lowered = AccountLimits(send_rate_per_second=2.0, hourly_send_cap=500, daily_send_cap=10_000)
    assert follow_limits(settings, LIMITS, lowered) == {"send_rate_per_second": 2.0, "hourly_send_cap": 500}


def test_in_force_takes_the_lowest() -> None:
    settings = {"send_rate_per_second": 3.0, "hourly_send_cap": 5000, "daily_send_cap": 10_000}
    force = in_force(settings, LIMITS, warmup_cap=450)
    assert (force.send_rate_per_second, force.hourly_send_cap, force.daily_send_cap) == (3.0, 2000, 450)
    assert in_force(settings, LIMITS, None).daily_send_cap == 10_000


def sent_daily(
    days: int, sent: int = 150, bounces: int = 0, start: date = CREATED
) -> dict[date, tuple[int, int, int]]:
    return {start + timedelta(days=i): (sent, bounces, 0) for i in range(days)}


def test_a_new_account_starts_at_the_base_cap() -> None:
    assert warmup_daily_cap(POLICY, CREATED, CREATED, {}, 10_000) == 200
    # Idle days before the first send do not count.
    assert warmup_daily_cap(POLICY, CREATED, CREATED + timedelta(days=10), {}, 10_000) == 200


def test_clean_days_grow_the_cap_to_the_limit() -> None:
    caps = [
        warmup_daily_cap(POLICY, CREATED, CREATED + timedelta(days=n), sent_daily(n), 10_000)
        for n in range(16)
    ]
    assert caps[0] == 200 and caps[7] == int(200 * 50**0.5)
    numbers = [c for c in caps if c is not None]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)  # grows every clean day
    assert caps[14] is None and caps[15] is None  # 14 clean days: warmed up, the limit applies


def test_growth_pauses_while_the_reputation_is_not_clean() -> None:
    history = sent_daily(10, sent=300)
    for i in range(3, 10):  # from day 3 on, 4 % hard bounces: above half the suspension threshold
        history[CREATED + timedelta(days=i)] = (300, 12, 0)
    today = CREATED + timedelta(days=10)
    assert clean_days(today, history, POLICY) < 10
    dirty = warmup_daily_cap(POLICY, CREATED, today, history, 10_000)
    clean = warmup_daily_cap(POLICY, CREATED, today, sent_daily(10, sent=300), 10_000)
    assert dirty is not None and clean is not None and dirty < clean


def test_no_warmup_when_the_base_cap_is_already_the_limit_or_the_account_is_old() -> None:
    assert warmup_daily_cap(POLICY, CREATED, CREATED, {}, 200) is None
    assert warmup_daily_cap(POLICY, CREATED, CREATED + timedelta(days=60), {}, 10_000) is None


@given(st.integers(0, 59), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 40)), max_size=59))
def test_the_warmup_cap_is_within_base_and_limit(age: int, days: list[tuple[int, int]]) -> None:
    history = {CREATED + timedelta(days=i): (sent, min(b, sent), 0) for i, (sent, b) in enumerate(days)}
    cap = warmup_daily_cap(POLICY, CREATED, CREATED + timedelta(days=age), history, 10_000)
    assert cap is None or 200 <= cap <= 10_000
