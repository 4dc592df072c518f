"""Rate maths for sending: a GCRA reservation and fixed-window caps (pure functions).

A rate bucket is one number, the *theoretical arrival time* ``tat`` (epoch
seconds): the moment the bucket's rate allows the next send.  Reserving ``n``
sends at ``now`` books the slots ``start, start + 1/r, …, start + (n-1)/r``
with ``start = max(tat, now)`` and moves ``tat`` to ``start + n/r``.  If each
send waits for its slot, no interval of length ``T`` ever holds more than
``r·T`` sends (plus the one at its left edge), however many workers share the
bucket — unlike a per-worker rate, which multiplies by the worker count.

The storage layer applies a reservation with a conditional write on the old
``tat`` (compare-and-set), so concurrent workers can never book the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reservation:
    start: float  # epoch seconds of the first booked slot
    interval: float  # seconds between booked slots (1 / rate)
    count: int
    new_tat: float

    def slot(self, index: int) -> float:
        """When the ``index``-th (0-based) reserved send may go out."""
        return self.start + index * self.interval


@dataclass(frozen=True)
class Deferred:
    """The bucket is booked too far ahead: try again at ``retry_at``."""

    retry_at: float


def reserve(
    tat: float | None, now: float, count: int, rate: float, max_wait: float
) -> Reservation | Deferred:
    """Book ``count`` consecutive slots at ``rate`` per second, if the first is at most
    ``max_wait`` seconds away; else say when to come back."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if rate <= 0:
        raise ValueError("rate must be positive")
    interval = 1.0 / rate
    start = now if tat is None or tat < now else tat
    if start - now > max_wait:
        return Deferred(retry_at=start - max_wait)
    return Reservation(start=start, interval=interval, count=count, new_tat=start + count * interval)


def window_key(epoch_seconds: float, window_seconds: int) -> int:
    """The fixed window (hour, day…) a moment falls in, as its start in epoch seconds."""
    return int(epoch_seconds // window_seconds) * window_seconds


def cap_allows(used: int, count: int, cap: int) -> int:
    """How many of ``count`` sends a fixed-window cap still admits."""
    return max(0, min(count, cap - used))
