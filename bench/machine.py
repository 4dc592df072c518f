"""Is the machine quiet enough for a benchmark's figures to mean something?

The benchmarks run on a shared 2-core machine. A rate or a latency measured
while other work holds every core is a figure of that other work, not of the
product, so the load is sampled while a benchmark runs and ``bench/report.py``
refuses to write ``bench/REPORT.md`` when it was too high, saying why.

**The rule** (``quiet_enough``): the 1-minute load average before the
benchmark started is at most the number of cores (nothing else was already
filling the machine), and its median while the benchmark ran is at most
``BUSY_FACTOR`` (1.5) times the cores — the benchmark's own processes (the
emulator, the simulated SES, the workers, mostly waiting for their send slots)
account for about one core's worth; anything well beyond that is other work
competing with them. Counts of items and request units do not depend on the
load; rates and Lambda seconds do.
"""

from __future__ import annotations

import os
import statistics
import threading
from typing import Any

BUSY_FACTOR = 1.5
SAMPLE_SECONDS = 5.0


def cores() -> int:
    return os.cpu_count() or 1


def quiet_enough(cpu_count: int, load_before: float, loads_during: list[float]) -> tuple[bool, str]:
    """``(quiet, why)`` for a run on ``cpu_count`` cores (see the module's rule)."""
    if load_before > cpu_count:
        return False, (
            f"the load average was {load_before:.2f} before the benchmark started, above the "
            f"{cpu_count} cores: other work already filled the machine"
        )
    during = statistics.median(loads_during) if loads_during else load_before
    if during > BUSY_FACTOR * cpu_count:
        return False, (
            f"the median load average while the benchmark ran was {during:.2f}, above "
            f"{BUSY_FACTOR} x {cpu_count} cores: other work competed with the benchmark's processes"
        )
    return True, f"load average {load_before:.2f} before, median {during:.2f} during, on {cpu_count} cores"


class LoadSampler:
    """Samples the 1-minute load average every ``SAMPLE_SECONDS`` in a thread."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self.interval = interval
        self.before = os.getloadavg()[0]
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def summary(self) -> dict[str, Any]:
        quiet, why = quiet_enough(cores(), self.before, self.samples)
        return {
            "cores": cores(),
            "load_before": round(self.before, 2),
            "load_median_during": round(statistics.median(self.samples), 2) if self.samples else None,
            "load_max_during": round(max(self.samples), 2) if self.samples else None,
            "samples": len(self.samples),
            "quiet": quiet,
            "why": why,
        }
