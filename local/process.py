"""Process plumbing shared by the local stack's child processes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

# Set by local.run in its children's environment: the pid they must not outlive.
PARENT_PID_ENV = "PERMESSO_LOCAL_PARENT_PID"


def exit_with_parent(on_orphaned: Callable[[], None], poll_seconds: float = 1.0) -> None:
    """Call ``on_orphaned`` once the launching ``local.run`` process is gone.

    ``local.run`` stops its children itself on Ctrl-C or SIGTERM; this covers the
    case it cannot handle (it was SIGKILLed), so no API or worker process is left
    holding a port. Does nothing when the process was not started by ``local.run``.
    """
    text = os.environ.get(PARENT_PID_ENV)
    if not text:
        return
    parent = int(text)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        on_orphaned()

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def quiet_library_logs() -> None:
    """Keep the terminal for the app's own lines: no per-call INFO from the AWS SDK and PynamoDB."""
    for name in ("botocore", "boto3", "pynamodb", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- memory -------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc; Linux)."""
    from pathlib import Path

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found = [pid]
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.append(child)
                pending.append(child)
    return found


def resident_bytes(pids: list[int]) -> int:
    """The resident memory (RSS) of these processes, added up; gone processes count 0."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


class MemoryWatchdog:
    """Kills a process tree whose resident memory passes ``ceiling_bytes``.

    Volume experiments (benchmarks, large imports in tests) run under one, so that a
    regression that makes the emulator grow without bound ends the run instead of the
    machine's memory. ``peak`` is the largest total seen; ``tripped`` whether it killed."""

    def __init__(self, root_pid: int, ceiling_bytes: int, interval: float = 0.5) -> None:
        self.root_pid = root_pid
        self.ceiling_bytes = ceiling_bytes
        self.peak = 0
        self.tripped = False
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="memory-watchdog", daemon=True)

    def __enter__(self) -> MemoryWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(self._interval * 4)

    def sample(self) -> int:
        total = resident_bytes(process_tree(self.root_pid))
        self.peak = max(self.peak, total)
        return total

    def _watch(self) -> None:
        import signal

        while not self._stop.wait(self._interval):
            if self.sample() > self.ceiling_bytes:
                self.tripped = True
                logging.getLogger("local.process").error(
                    "memory watchdog: %d MB > %d MB, killing the process tree of %d",
                    self.peak // 2**20,
                    self.ceiling_bytes // 2**20,
                    self.root_pid,
                )
                for pid in process_tree(self.root_pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                return
