"""Fixed-window rate limits: which counter a hit at a given moment falls into."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class FixedWindow:
    """At most ``limit`` hits per subject in each aligned window of ``seconds``."""

    name: str
    limit: int
    seconds: int

    def window_start(self, at: datetime) -> int:
        return int(at.timestamp()) // self.seconds * self.seconds

    def bucket(self, subject: str, at: datetime) -> str:
        """The counter's key: ``<name>#<subject>#<window start, epoch seconds>``."""
        return f"{self.name}#{subject}#{self.window_start(at)}"

    def window_end(self, at: datetime) -> datetime:
        return datetime.fromtimestamp(self.window_start(at) + self.seconds, UTC)

    def retry_after(self, at: datetime) -> int:
        """Whole seconds until the window of ``at`` closes (at least 1)."""
        return max(1, self.window_start(at) + self.seconds - int(at.timestamp()))
