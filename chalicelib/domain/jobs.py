"""Background jobs: the record, and the pure rules of chunked, resumable progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)
# A job that reports per-row errors (a large CSV import) keeps this many of them on its record
# (each about 100 bytes, so the item stays far below DynamoDB's 400 KB); ``result["errors"]``
# counts them all.
MAX_JOB_ERRORS = 1000


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
    # The first MAX_JOB_ERRORS per-row errors ({row, code, message}) of a kind that reports
    # them; None for kinds that do not.
    errors: list[dict[str, Any]] | None = None

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
    errors: list[dict[str, Any]] = field(default_factory=list)  # per-row errors of the chunk


def kept_errors(
    current: list[dict[str, Any]] | None, more: list[dict[str, Any]], limit: int = MAX_JOB_ERRORS
) -> list[dict[str, Any]] | None:
    """The errors a job keeps after a chunk reported ``more``: the first ``limit`` in the order
    they came (``None`` stays ``None`` for a kind that reports none)."""
    if current is None and not more:
        return None
    kept = list(current or [])
    return kept + list(more[: max(0, limit - len(kept))])


@dataclass
class Budget:
    """How much one chunk may do: at most ``items`` items and until ``clock()`` reaches
    ``deadline`` (by default the monotonic clock, in seconds)."""

    items: int
    deadline: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def start(cls, items: int, seconds: float) -> Budget:
        return cls(items=items, deadline=time.monotonic() + seconds)

    @classmethod
    def for_lambda(
        cls, items: int, context: Any, timeout_seconds: float, *, cap_seconds: float | None = None
    ) -> Budget:
        """A chunk's budget inside a Lambda: until the invocation has only its safety margin
        (``safety_margin``: 5 s) left, read from ``context.get_remaining_time_in_millis()``
        whenever the budget is checked (without a context: the configured ``timeout_seconds``
        from now), and never longer than ``cap_seconds``."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            seconds = seconds_left(None, timeout_seconds)
            if cap_seconds is not None:
                seconds = min(seconds, cap_seconds)
            return cls.start(items, seconds)

        def clock() -> float:  # minus the seconds the invocation has left
            return -float(remaining()) / 1000.0

        now = clock()
        deadline = -safety_margin(-now)
        if cap_seconds is not None:
            deadline = min(deadline, now + cap_seconds)
        return cls(items=items, deadline=deadline, clock=clock)

    def left(self) -> float:
        """Seconds until the deadline (negative once it passed)."""
        return self.deadline - self.clock()

    def page(self, items: int) -> Budget:
        """A budget for part of this one: at most ``items`` items, the same deadline."""
        return Budget(items=items, deadline=self.deadline, clock=self.clock)

    def spent(self, handled: int) -> bool:
        return handled >= self.items or self.clock() >= self.deadline


# What a chunk leaves unused of its Lambda's time: enough to finish the page of items it is
# working on (at most a few hundred conditional writes), commit its cursor and send the message
# of its continuation before Lambda ends the invocation. An invocation that starts with less
# than 25 s left keeps a fifth of it instead, so a short one still gets work done.
SAFETY_MARGIN_SECONDS = 5.0
SAFETY_MARGIN_SHARE = 0.2


def safety_margin(remaining_seconds: float) -> float:
    """The margin kept from an invocation that has ``remaining_seconds`` left when it starts."""
    return min(SAFETY_MARGIN_SECONDS, max(0.0, remaining_seconds) * SAFETY_MARGIN_SHARE)


def seconds_left(context: Any, timeout_seconds: float) -> float:
    """Seconds a Lambda invocation may still work: its remaining time (``context``'s
    ``get_remaining_time_in_millis``, or the whole configured ``timeout_seconds`` where there
    is no context) minus the safety margin; never negative."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000.0 if callable(remaining) else float(timeout_seconds)
    return max(0.0, seconds - safety_margin(seconds))


def add_counters(current: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    merged = dict(current)
    for name, value in more.items():
        merged[name] = merged.get(name, 0) + value
    return merged


@dataclass(frozen=True)
class SweepStep:
    """What one stretch of a scheduled sweep did: where the next stretch starts (``None``: the
    sweep is complete), how many items it handled and counters to add."""

    cursor: Any
    done: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.cursor is None
