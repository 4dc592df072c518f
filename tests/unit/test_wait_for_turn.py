"""A message waiting in hand for its account's turn (``services.sending._wait_for_turn``):
the turn comes sooner when the account's share rises meanwhile, never later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.sending import _wait_for_turn

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class World:
    """A clock that moves only when slept on, and an account share that changes at given times."""

    def __init__(self, shares: list[tuple[float, float]]) -> None:
        self.now = T0
        self.slept = 0.0
        self._shares = shares  # (from second, share)

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.slept += seconds

    def share(self, now: float) -> float:
        elapsed = now - T0.timestamp()
        return [share for since, share in self._shares if since <= elapsed][-1]


def wait(world: World, seconds: float, pace: float) -> float:
    _wait_for_turn(world, world, T0.timestamp() + seconds, pace)  # type: ignore[arg-type]
    return world.slept


def test_at_a_steady_share_it_waits_for_the_estimated_turn() -> None:
    assert wait(World([(0, 1.4)]), 5.0, 1.4) == pytest.approx(5.0)


def test_a_share_that_rises_brings_the_turn_nearer_by_the_same_factor() -> None:
    # After 1 s of a 9 s wait the share doubles: the 8 s left at the old share take 4 s.
    assert wait(World([(0, 1.4), (1.0, 2.8)]), 9.0, 1.4) == pytest.approx(5.0, abs=0.5)
    # Alone on the platform at the end (ten times the share): the wait all but ends.
    assert wait(World([(0, 1.4), (1.0, 14.0)]), 9.0, 1.4) < 2.5


def test_a_share_that_falls_or_barely_moves_keeps_the_estimate() -> None:
    assert wait(World([(0, 1.4), (1.0, 0.7)]), 6.0, 1.4) == pytest.approx(6.0)
    assert wait(World([(0, 1.4), (1.0, 1.42)]), 6.0, 1.4) == pytest.approx(6.0)


def test_a_turn_already_due_waits_not_at_all() -> None:
    assert wait(World([(0, 1.4)]), -0.5, 1.4) == 0.0
