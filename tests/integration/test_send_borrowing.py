"""Platform slots nobody books are not lost (``Pacer.book``, ``domain.pacing.may_borrow``): an
account ahead of its fair share takes the platform's slots right after its own last ones when
no other account has booked them, and is held to its share as soon as one has. Against the
emulated throttle table, on simulated time."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.pacing import (
    PLATFORM_BUCKET,
    Group,
    Pacer,
    capacity,
    pace_bucket,
)
from tests.integration.sending_support import crowd, simulated

pytestmark = pytest.mark.usefixtures("aws")


def _book(pacer: Pacer, remaining: int = 100) -> Group:
    group = pacer.book(remaining, max_wait=10.0)
    assert isinstance(group, Group), group
    return group


def test_an_account_ahead_of_its_share_takes_the_idle_platforms_next_slots() -> None:
    with simulated() as (time, _):
        deps = get_deps()
        crowd(deps, time)
        pacer = Pacer(deps, "acc_a", 1000.0)
        spacing = 1.0 / capacity(deps)
        first = _book(pacer)
        assert first.pace == pytest.approx(capacity(deps) / 10)
        paced_until = deps.throttle.booked_until([pace_bucket("acc_a")])[pace_bucket("acc_a")]
        time.sleep(first.slots[-1] - time.clock().timestamp())  # the group is sent
        second = _book(pacer)
        # At its share the next group would wait ~2.2 s for the account's pace; nobody else booked
        # the platform, so it goes right after the first group's last slot.
        assert second.slots[0] - first.slots[-1] <= spacing + 0.1
        assert second.slots[0] < paced_until
        # Borrowed slots leave the account's own bucket where it was.
        assert deps.throttle.booked_until([pace_bucket("acc_a")])[pace_bucket("acc_a")] == paced_until


def test_an_account_is_held_to_its_share_once_another_waits_for_the_platform() -> None:
    with simulated() as (time, _):
        deps = get_deps()
        crowd(deps, time)
        pacer = Pacer(deps, "acc_a", 1000.0)
        first = _book(pacer)
        paced_until = deps.throttle.booked_until([pace_bucket("acc_a")])[pace_bucket("acc_a")]
        time.sleep(first.slots[-1] - time.clock().timestamp())
        # Another account books the platform's next slots (its own slot was due).
        rate = capacity(deps)
        deps.throttle.reserve_rate(PLATFORM_BUCKET, 3, rate, time.clock().timestamp(), 10.0)
        second = _book(pacer)
        assert second.slots[0] >= paced_until - 0.06  # the account's pace (PLATFORM_LEAD), not before


def test_an_account_limited_below_the_platforms_rate_never_borrows() -> None:
    with simulated() as (time, _):
        deps = get_deps()
        crowd(deps, time)
        own_rate = capacity(deps) / 2  # its own limit, below the platform's rate
        pacer = Pacer(deps, "acc_a", own_rate)
        first = _book(pacer)
        paced_until = deps.throttle.booked_until([pace_bucket("acc_a")])[pace_bucket("acc_a")]
        time.sleep(first.slots[-1] - time.clock().timestamp())
        second = _book(pacer)
        assert second.slots[0] >= paced_until - 0.06
