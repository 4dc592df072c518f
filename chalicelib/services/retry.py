"""Optimistic writes that lost a race are tried again inside the server.

A client (or its consent) is written conditionally on the version that was read; when
another request changed it in between, the write is refused and the whole
read-modify-write runs again after a full-jitter exponential pause (a few milliseconds at
first, when contention is rare; up to half a second when dozens of requests race for one
item). Only when it still loses after every attempt does the caller see
``ConcurrentModification`` (409) — which then means the item really is too busy to change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from chalicelib.errors import ConcurrentModification

MAX_ATTEMPTS = 30
T = TypeVar("T")


def pause(attempt: int) -> None:
    """The full-jitter pause before attempt ``attempt + 1``."""
    time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))


def retry_conflicts(operation: Callable[[], T], *, what: str, attempts: int = MAX_ATTEMPTS) -> T:
    """``operation()`` again after each ``ConcurrentModification``, at most ``attempts`` times."""
    for attempt in range(attempts):
        try:
            return operation()
        except ConcurrentModification:
            if attempt + 1 < attempts:
                pause(attempt)
    raise ConcurrentModification(f"{what} is being changed concurrently; retry")
