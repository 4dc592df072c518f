"""Per-account daily counters: read side (the sending engine adds to them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chalicelib.storage.models import AccountDayStatsModel


@dataclass(frozen=True)
class DayStats:
    day: date
    sent: int
    hard_bounces: int
    complaints: int


class StatsRepository:
    def days(self, account_id: str, first_day: date, last_day: date) -> list[DayStats]:
        condition = AccountDayStatsModel.day.between(first_day.isoformat(), last_day.isoformat())
        return [
            DayStats(
                day=date.fromisoformat(item.day),
                sent=int(item.sent or 0),
                hard_bounces=int(item.hard_bounces or 0),
                complaints=int(item.complaints or 0),
            )
            for item in AccountDayStatsModel.query(account_id, condition)
        ]
