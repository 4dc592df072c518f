"""UTC time: the one clock type, parsing and the API's ISO 8601 format."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """``2026-11-22T10:00:00Z`` (seconds; the ledger orders events by id, not by text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_storage(moment: datetime) -> str:
    """Sortable microsecond text used as stored value and index key."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: object) -> datetime:
    """Parse an ISO 8601 timestamp or date; a naive value is taken as UTC.

    Raises ``ValueError`` with a human message for anything else.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp, e.g. 2026-11-22T10:00:00Z") from None
        if len(text) == 10:  # a bare date
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
    else:
        raise ValueError("must be an ISO 8601 timestamp string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1900 <= parsed.year <= 2200:
        raise ValueError("year must be between 1900 and 2200")
    return parsed.astimezone(UTC)
