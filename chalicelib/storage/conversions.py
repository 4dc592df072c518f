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
