"""Rolling reputation rates of an account (pure maths over daily counters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

WINDOW_DAYS = 7


@dataclass(frozen=True)
class Reputation:
    sent: int
    hard_bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.hard_bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


def window(now: datetime, reinstated_at: datetime | None) -> tuple[date, date]:
    """The days counted: the last 7 (today included), never before a reinstatement,
    so a reinstated account is not judged again on the evidence that suspended it."""
    first = (now - timedelta(days=WINDOW_DAYS - 1)).date()
    if reinstated_at is not None and reinstated_at.date() > first:
        first = reinstated_at.date()
    return first, now.date()


def summarise(days: list[tuple[int, int, int]]) -> Reputation:
    """Sum ``(sent, hard_bounces, complaints)`` per day into one window."""
    return Reputation(
        sent=sum(d[0] for d in days),
        hard_bounces=sum(d[1] for d in days),
        complaints=sum(d[2] for d in days),
    )
