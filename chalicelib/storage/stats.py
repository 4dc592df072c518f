"""Per-account daily counters: the rolling reputation window's read side and atomic ``ADD``s."""

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

    def add(self, account_id: str, day: date, **counts: int) -> dict[str, int]:
        """Atomic ``ADD`` to one day's counters (``sent=25``, ``hard_bounces=1``…), amortised
        per send batch; the item is created by the first ``ADD``. Returns the new totals
        of the counters added to."""
        actions = [getattr(AccountDayStatsModel, name).add(value) for name, value in counts.items() if value]
        if not actions:
            return {}
        item = AccountDayStatsModel(account_id, day.isoformat())
        item.update(actions=actions)
        return {name: int(getattr(item, name) or 0) for name in counts}
