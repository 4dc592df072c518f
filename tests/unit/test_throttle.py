from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.throttle import Deferred, Reservation, cap_allows, reserve, window_key


def test_first_reservation_starts_now() -> None:
    r = reserve(None, 100.0, 5, rate=10, max_wait=30)
    assert isinstance(r, Reservation)
    assert r.start == 100.0 and r.new_tat == pytest.approx(100.5)
    assert [r.slot(i) for i in range(3)] == pytest.approx([100.0, 100.1, 100.2])


def test_a_stale_tat_does_not_bank_a_burst() -> None:
    r = reserve(50.0, 100.0, 10, rate=10, max_wait=30)
    assert isinstance(r, Reservation) and r.start == 100.0


def test_booked_ahead_is_deferred() -> None:
    assert reserve(200.0, 100.0, 1, rate=10, max_wait=30) == Deferred(retry_at=170.0)


@given(
    st.lists(st.tuples(st.floats(0, 50), st.integers(1, 20)), min_size=1, max_size=60),
    st.floats(1, 100),
)
def test_shared_bucket_never_exceeds_its_rate(requests: list[tuple[float, int]], rate: float) -> None:
    """Any number of callers at any times: every 1-second window holds at most rate (+1 edge) sends."""
    tat: float | None = None
    sends: list[float] = []
    for now, count in sorted(requests):
        result = reserve(tat, now, count, rate, max_wait=1e9)
        assert isinstance(result, Reservation)
        tat = result.new_tat
        sends += [result.slot(i) for i in range(count)]
    sends.sort()
    j = 0
    for i, t in enumerate(sends):
        while sends[j] <= t - 1.0:
            j += 1
        assert i - j + 1 <= rate + 1 + 1e-9


def test_windows_and_caps() -> None:
    assert window_key(7201.5, 3600) == 7200
    assert cap_allows(used=990, count=20, cap=1000) == 10
    assert cap_allows(used=1000, count=5, cap=1000) == 0


@pytest.mark.parametrize(("count", "rate"), [(0, 1.0), (1, 0.0)])
def test_bad_arguments(count: int, rate: float) -> None:
    with pytest.raises(ValueError):
        reserve(None, 0.0, count, rate, 1.0)
