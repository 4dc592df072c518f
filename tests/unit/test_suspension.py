from __future__ import annotations

import pytest

from chalicelib.domain.reputation import Reputation
from chalicelib.domain.suspension import SuspensionPolicy, breaker_trips, suspension_reason, volume_spike

P = SuspensionPolicy()


@pytest.mark.parametrize(
    ("sent", "bounces", "complaints", "reason"),
    [
        (199, 100, 100, None),  # too few sends to judge
        (200, 10, 0, "bounce_rate"),  # exactly 5 %
        (200, 9, 0, None),
        (1000, 0, 1, "complaint_rate"),  # exactly 0.1 %
        (1001, 0, 1, None),
        (10_000, 400, 5, None),
    ],
)
def test_thresholds(sent: int, bounces: int, complaints: int, reason: str | None) -> None:
    assert suspension_reason(Reputation(sent, bounces, complaints), P) == reason


def test_spike_needs_history_and_a_big_jump() -> None:
    history = [100] * 14
    assert not volume_spike(1000, history, P)  # exactly 10x is not over
    assert volume_spike(1001, history, P)
    assert not volume_spike(5000, [100] * 13, P)  # still warming up
    assert not volume_spike(5000, [0] * 30, P)


@pytest.mark.parametrize(
    ("sent", "bounces", "trips"),
    [(50, 19, False), (50, 20, True), (200, 19, False), (200, 20, True), (201, 100, False), (0, 0, False)],
)
def test_breaker(sent: int, bounces: int, trips: bool) -> None:
    assert breaker_trips(sent, bounces, P) is trips
