"""Background jobs: the record, and the pure rules of chunked, resumable progress."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)


@dataclass(frozen=True)
class Job:
    account_id: str
    job_id: str
    kind: str
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: str = QUEUED
    done: int = 0
    total: int | None = None
    cursor: Any = None  # JSON position where the next chunk starts (None: the beginning)
    result: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    actor: str | None = None  # the user_id or key_id that started the job; None: a schedule
    seq: int = 0  # chunks committed; a chunk message carries the seq it is for
    enqueued_seq: int = 0  # highest seq whose chunk message was sent
    failures: int = 0  # failed attempts of the current chunk

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class ChunkOutcome:
    """What one chunk did: where the next starts, how many items it handled, counters to add."""

    cursor: Any
    done: int
    finished: bool
    counters: dict[str, int] = field(default_factory=dict)
    total: int | None = None


@dataclass
class Budget:
    """How much one chunk may do: at most ``items`` items and until ``deadline`` (monotonic)."""

    items: int
    deadline: float

    @classmethod
    def start(cls, items: int, seconds: float) -> Budget:
        return cls(items=items, deadline=time.monotonic() + seconds)

    def spent(self, handled: int) -> bool:
        return handled >= self.items or time.monotonic() >= self.deadline


def add_counters(current: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    merged = dict(current)
    for name, value in more.items():
        merged[name] = merged.get(name, 0) + value
    return merged
