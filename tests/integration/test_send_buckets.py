"""The shared send throttle in DynamoDB: GCRA buckets and fixed-window caps under contention."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from chalicelib.domain.throttle import Deferred, Reservation
from chalicelib.storage.throttle import ThrottleRepository

pytestmark = pytest.mark.usefixtures("aws")


def test_concurrent_reservations_never_share_or_crowd_slots() -> None:
    repo = ThrottleRepository()
    rate, now = 20.0, 1_000.0

    def book(_: int) -> Reservation | Deferred:
        return repo.reserve_rate("platform#test", 5, rate, now, max_wait=60)

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(book, range(12)))
    slots = sorted(r.slot(i) for r in outcomes if isinstance(r, Reservation) for i in range(r.count))
    assert len(slots) == 60  # 12 x 5, all within 3 s of booking
    gaps = [b - a for a, b in pairwise(slots)]
    assert min(gaps) == pytest.approx(1 / rate)
    # In any 1-second window at most rate (+ the slot on its left edge).
    assert max(sum(1 for s in slots if t <= s < t + 1) for t in slots) <= rate


def test_a_bucket_booked_far_ahead_defers_instead_of_waiting() -> None:
    repo = ThrottleRepository()
    first = repo.reserve_rate("account#a#rate", 100, 10.0, 0.0, max_wait=5)
    assert isinstance(first, Reservation)
    second = repo.reserve_rate("account#a#rate", 1, 10.0, 0.0, max_wait=5)
    assert isinstance(second, Deferred) and second.retry_at == pytest.approx(5.0)


def test_caps_are_exact_across_concurrent_workers() -> None:
    repo = ThrottleRepository()
    expires = datetime.now(UTC) + timedelta(days=1)

    def take(_: int) -> int:
        return repo.take_from_cap("account#a#day#20261124", 7, 100, expires)

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(take, range(20)))
    assert sum(admitted) == 100  # 20 x 7 asked, the cap admits exactly 100
    assert repo.take_from_cap("account#a#day#20261124", 1, 100, expires) == 0
    repo.give_back("account#a#day#20261124", 3)
    assert repo.take_from_cap("account#a#day#20261124", 5, 100, expires) == 3
