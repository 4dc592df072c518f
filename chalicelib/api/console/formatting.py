"""Dates and numbers on console pages, in the reader's locale (Babel's CLDR data).

``Formats(language)`` is what templates call as ``fmt``: ``fmt.number(1234)`` is
``1,234`` in English, ``1 234`` in Czech and ``1.234`` in Italian; ``fmt.datetime(t)``
and ``fmt.date(t)`` write a moment the way the locale does. Times are shown in UTC and
the tables that show them say so in their header: an account has no time zone setting yet.

Babel is imported on the first formatted value, never by ``import app`` (cold start).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from chalicelib.mail.rendering import pick_language


@lru_cache(maxsize=8)
def _locale(language: str) -> Any:
    from babel import Locale

    return Locale.parse(pick_language(language))


class Formats:
    """Locale-aware formatting for one language (``en``, ``cs``, ``it``)."""

    def __init__(self, language: str) -> None:
        self.language = pick_language(language)

    @property
    def locale(self) -> Any:
        return _locale(self.language)

    def number(self, value: int | float | None) -> str:
        if value is None:
            return ""
        from babel.numbers import format_decimal

        return str(format_decimal(value, locale=self.locale))

    def percent(self, value: float | None) -> str:
        if value is None:
            return ""
        from babel.numbers import format_percent

        return str(format_percent(value, locale=self.locale, format="#,##0.#%"))

    def datetime(self, value: datetime | None) -> str:
        """Day, month, year, hours and minutes, in UTC: ``31 Jan 2026, 10:00``."""
        if value is None:
            return ""
        from babel.dates import format_date, format_time

        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        day = format_date(moment.date(), format="medium", locale=self.locale)
        time = format_time(moment, format="short", tzinfo=UTC, locale=self.locale)
        pattern = str(self.locale.datetime_formats.get("medium", "{1} {0}"))
        return pattern.replace("{1}", str(day)).replace("{0}", str(time)).replace("'", "")

    def date(self, value: datetime | date | None) -> str:
        if value is None:
            return ""
        from babel.dates import format_date

        day = value.astimezone(UTC).date() if isinstance(value, datetime) and value.tzinfo else value
        return str(format_date(day, format="medium", locale=self.locale))

    def iso(self, value: datetime | None) -> str:
        """The machine-readable form for ``<time datetime>``."""
        if value is None:
            return ""
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
