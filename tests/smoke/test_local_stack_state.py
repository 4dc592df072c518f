"""Smoke test: the local stack keeps a real salon's data across restarts.

One stack on free ports imports 10,000 clients through ``POST /v1/clients/import``
(the documented limit; a job the stack's worker runs, polled until done), under a memory
watchdog; Ctrl-C stops it promptly with its
state saved; a second start restores it and every client is found again, the demo
account kept; a write followed by a crash (SIGKILL, no last snapshot) survives once a
periodic snapshot has been taken; ``--fresh`` starts empty.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bench.local_stack import import_csv
from local.process import MemoryWatchdog, process_tree
from tests.smoke.test_local_stack import (
    READY_BANNER,
    START_TIMEOUT,
    STOP_PROMPTLY,
    STOP_TIMEOUT,
    alive,
    every_client,
    free_ports,
    listening,
    stack_environment,
    start_stack,
    wait_for,
)

pytestmark = pytest.mark.smoke
RUN_FIRST = 170  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

ROWS = 10_000
RSS_CEILING = 3 * 2**30  # the watchdog's: far above what the stack needs (see bench/local_stack.py)
RSS_GOAL = 1.5 * 2**30
IMPORT_TIMEOUT = 3600.0  # minutes on an idle machine; far more when it is shared and loaded
# The schedules fire every minute, as the fastest of the deployed rates (app.py), rather than
# the local default of every 10 s: they still run during the import and the restarts, without
# taking the import's CPU six times a minute (this module proves no schedule's work).
SCHEDULED_ENV = {**stack_environment(), "PERMESSO_LOCAL_SCHEDULE_SECONDS": "60"}


class Run:
    """One start of ``python -m local.run`` on the same ports and state directory."""

    def __init__(self, ports: tuple[int, int], state: Path, log: Path, *extra: str) -> None:
        self.api_port, self.moto_port = ports
        self.log = log
        self.process = start_stack(self.api_port, self.moto_port, state, log, SCHEDULED_ENV, *extra)
        deadline = time.monotonic() + START_TIMEOUT
        while READY_BANNER not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"local.run exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {START_TIMEOUT:.0f} s:\n{self.output()}")
            time.sleep(0.2)
        assert wait_for(lambda: "Ctrl-C stops everything" in self.output(), 10)
        [self.key] = [
            line.split()[-1] for line in self.output().splitlines() if line.strip().startswith("API key:")
        ]
        self.auth = {"Authorization": f"Bearer {self.key}"}
        self.api = f"http://127.0.0.1:{self.api_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, signum: signal.Signals = signal.SIGINT) -> float:
        """Signal the stack; the seconds until every process is gone and both ports are free."""
        processes = process_tree(self.process.pid)
        started = time.monotonic()
        self.process.send_signal(signum)
        self.process.wait(timeout=STOP_TIMEOUT)
        assert wait_for(lambda: not any(alive(pid) for pid in processes), STOP_TIMEOUT)
        assert wait_for(lambda: not listening(self.api_port) and not listening(self.moto_port), 10)
        return time.monotonic() - started

    def kill(self) -> None:
        """A crash: SIGKILL, no handler runs (the children follow their parent out)."""
        processes = process_tree(self.process.pid)
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)
        assert wait_for(lambda: not any(alive(pid) for pid in processes), STOP_TIMEOUT)
        assert wait_for(lambda: not listening(self.api_port) and not listening(self.moto_port), 10)

    def clients(self) -> list[dict]:
        return every_client(self.api, self.auth)


@dataclass
class Story:
    """What the steps below share: one stack's ports and state directory, its runs in order."""

    ports: tuple[int, int]
    state: Path
    logs: Path
    runs: list[Run] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def start(self, name: str, *extra: str) -> Run:
        run = Run(self.ports, self.state, self.logs / f"{name}.log", *extra)
        self.runs.append(run)
        return run

    def last(self, count: int) -> Run:
        """The last run, once ``count`` runs have started (an earlier step failed otherwise)."""
        assert len(self.runs) == count, "an earlier step of this module failed"
        return self.runs[-1]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """The steps are one story told in file order (as in the other smoke modules): several
    tests rather than one, so that under pytest-xdist this long module is not handed a second
    module to run after it before its last, short steps."""
    workdir = tmp_path_factory.mktemp("restarts")
    api_port, moto_port = free_ports(2)
    told = Story((api_port, moto_port), workdir / "state", workdir)
    yield told
    for run in told.runs:
        if run.process.poll() is None:
            for pid in process_tree(run.process.pid):
                if alive(pid):
                    subprocess.run(["kill", "-9", str(pid)], check=False)


def _manifest(state: Path) -> dict:
    try:
        return dict(json.loads((state / "emulator" / "manifest.json").read_text()))
    except (OSError, ValueError):
        return {}


def test_ten_thousand_rows_import_within_the_memory_goal(story: Story) -> None:
    first = story.start("first")
    story.emails = [f"client{i:05d}@restart.example" for i in range(ROWS)]
    csv = "email;first_name;last_name;tags\n" + "".join(
        f"{email};Anna{i};Nováková;vip,import\n" for i, email in enumerate(story.emails)
    )
    with MemoryWatchdog(first.process.pid, RSS_CEILING) as watchdog:
        # 202: the import is a job the stack's worker runs; this waits until it is done
        imported = import_csv(first.api, first.auth, csv.encode(), timeout=IMPORT_TIMEOUT)
        watchdog.sample()
    assert not watchdog.tripped, f"the stack passed {RSS_CEILING >> 20} MB"
    assert imported["created"] == ROWS and imported["errors"] == [], str(imported)[:500]
    assert watchdog.peak < RSS_GOAL, f"{watchdog.peak >> 20} MB"


def test_ctrl_c_stops_the_stack_promptly(story: Story) -> None:
    first = story.last(1)
    assert first.stop(signal.SIGINT) < STOP_PROMPTLY, first.output()[-2000:]


def test_a_restart_finds_every_imported_client_and_the_same_demo_account(story: Story) -> None:
    first = story.last(1)
    second = story.start("second")
    assert "Restored the emulator state" in second.output()
    assert second.key == first.key and "kept from the last run" in second.output()
    assert sorted(client["email"] for client in second.clients()) == story.emails


def test_a_write_survives_a_crash_once_a_periodic_snapshot_is_taken(story: Story) -> None:
    second = story.last(2)
    generation = _manifest(story.state).get("generation", 0)
    posted = requests.post(
        f"{second.api}/v1/clients",
        json={"email": "after-crash@restart.example"},
        headers=second.auth,
        timeout=60,
    )
    assert posted.status_code == 201, posted.text
    assert wait_for(lambda: _manifest(story.state).get("generation", 0) > generation, 30)
    second.kill()

    third = story.start("third")
    fetched = requests.get(
        f"{third.api}/v1/clients/{posted.json()['client_id']}", headers=third.auth, timeout=60
    )
    assert fetched.status_code == 200, fetched.text
    assert third.stop(signal.SIGTERM) < STOP_PROMPTLY, third.output()[-2000:]


def test_fresh_starts_empty(story: Story) -> None:
    first = story.runs[0]
    story.last(3)
    fresh = story.start("fresh", "--fresh")
    assert fresh.key != first.key and "Starting empty" in fresh.output()
    assert requests.get(f"{fresh.api}/v1/account", headers=first.auth, timeout=60).status_code == 401
    assert fresh.clients() == []
    fresh.stop()
