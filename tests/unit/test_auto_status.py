from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.auto_status import AutoStatus, Thresholds, compute_auto_status

T = Thresholds()
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
VISIT = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (CREATED, AutoStatus.NEW),
        (CREATED + 30 * DAY - TICK, AutoStatus.NEW),
        (CREATED + 30 * DAY, AutoStatus.LOST),
    ],
)
def test_never_visited(now: datetime, expected: AutoStatus) -> None:
    assert compute_auto_status(CREATED, None, now, T).status is expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0 * DAY, AutoStatus.ACTIVE),
        (90 * DAY - TICK, AutoStatus.ACTIVE),
        (90 * DAY, AutoStatus.LAPSING),
        (180 * DAY - TICK, AutoStatus.LAPSING),
        (180 * DAY, AutoStatus.LOST),
        (900 * DAY, AutoStatus.LOST),
    ],
)
def test_visited(offset: timedelta, expected: AutoStatus) -> None:
    assert compute_auto_status(CREATED, VISIT, VISIT + offset, T).status is expected


def test_next_change_is_the_boundary() -> None:
    assert compute_auto_status(CREATED, None, CREATED, T).next_change_at == CREATED + 30 * DAY
    assert compute_auto_status(CREATED, VISIT, VISIT, T).next_change_at == VISIT + 90 * DAY
    assert compute_auto_status(CREATED, VISIT, VISIT + 100 * DAY, T).next_change_at == VISIT + 180 * DAY
    assert compute_auto_status(CREATED, VISIT, VISIT + 200 * DAY, T).next_change_at is None


def test_custom_thresholds() -> None:
    short = Thresholds(new_days=7, active_days=10, lapsing_days=20)
    assert compute_auto_status(CREATED, VISIT, VISIT + 15 * DAY, short).status is AutoStatus.LAPSING
    assert compute_auto_status(CREATED, None, CREATED + 8 * DAY, short).status is AutoStatus.LOST


def test_a_visit_in_the_future_counts_as_active() -> None:
    assert compute_auto_status(CREATED, VISIT + 10 * DAY, VISIT, T).status is AutoStatus.ACTIVE
