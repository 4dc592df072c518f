"""Automatic client status: ``new``, ``active``, ``lapsing``, ``lost``.

A pure function of the client's ``created_at``, ``last_visit_at``, the
account's thresholds and "now".  It also returns the moment the status will
next change by the mere passing of time, so a scheduled job can visit only
the clients whose status changes (a sparse index on that moment) instead of
scanning the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class AutoStatus(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    LAPSING = "lapsing"
    LOST = "lost"


@dataclass(frozen=True)
class Thresholds:
    """Defaults from the product specification, in days."""

    new_days: int = 30
    active_days: int = 90
    lapsing_days: int = 180


@dataclass(frozen=True)
class StatusAt:
    status: AutoStatus
    next_change_at: datetime | None  # None: no change will happen by time alone


def compute_auto_status(
    created_at: datetime,
    last_visit_at: datetime | None,
    now: datetime,
    thresholds: Thresholds,
) -> StatusAt:
    """Status of a client at ``now``.

    - never visited: ``new`` for ``new_days`` after creation, then ``lost``;
    - visited: ``active`` up to ``active_days`` after the last visit,
      ``lapsing`` up to ``lapsing_days``, then ``lost``.

    Boundaries are half-open: exactly ``active_days`` after the visit the
    client is ``lapsing``.
    """
    if last_visit_at is None:
        becomes_lost = created_at + timedelta(days=thresholds.new_days)
        if now < becomes_lost:
            return StatusAt(AutoStatus.NEW, becomes_lost)
        return StatusAt(AutoStatus.LOST, None)
    becomes_lapsing = last_visit_at + timedelta(days=thresholds.active_days)
    becomes_lost = last_visit_at + timedelta(days=thresholds.lapsing_days)
    if now < becomes_lapsing:
        return StatusAt(AutoStatus.ACTIVE, becomes_lapsing)
    if now < becomes_lost:
        return StatusAt(AutoStatus.LAPSING, becomes_lost)
    return StatusAt(AutoStatus.LOST, None)
