"""Stored time text <-> datetimes, shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.time import to_storage


def stored_time(moment: datetime | None) -> str | None:
    return None if moment is None else to_storage(moment)


def loaded_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# A position in an index Query that a later Query resumes after: the index's and the table's key
# attributes of the last item handled, as plain strings (JSON-friendly, for a job's cursor).
Position = dict[str, str]


def position_of(item: object, names: tuple[str, ...]) -> Position:
    return {name: str(getattr(item, name)) for name in names}


def start_after(position: Position | None) -> dict[str, dict[str, str]] | None:
    """A position as DynamoDB's ``ExclusiveStartKey`` (every key attribute is a string)."""
    return None if position is None else {name: {"S": value} for name, value in position.items()}
