"""Nothing outlives its Lambda: schedules and job chunks take their time from the Lambda context
and hand what is left to a continuation, which picks up exactly where they stopped.

The fake context's remaining time drops by ``tick`` milliseconds each time it is read (a budget
reads it at every check), so "the time runs out after N checks" is exact, not a race. It starts
with more than 25 s left, so the margin is the full ``SAFETY_MARGIN_SECONDS``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.bootstrap import get_deps
from chalicelib.domain.jobs import SAFETY_MARGIN_SECONDS, Job
from chalicelib.services import continuations
from chalicelib.services import jobs as job_service
from chalicelib.services.jobs import STALLED
from chalicelib.storage.models import JobModel
from tests.integration.conftest import Http
from tests.integration.sending_support import SimQueue, SimTime, simulated


class FakeContext:
    """A Lambda context with ``checks`` budget checks left before only the margin remains."""

    def __init__(self, checks: int, tick_ms: int = 10_000) -> None:
        self.tick_ms = tick_ms
        # every read costs a tick: the budget's creation reads once, then each check once
        self.remaining_ms = int(SAFETY_MARGIN_SECONDS * 1000) + (checks + 2) * tick_ms
        self.reads = 0

    def get_remaining_time_in_millis(self) -> int:
        self.reads += 1
        self.remaining_ms -= self.tick_ms
        return max(0, self.remaining_ms)


@pytest.fixture
def sim(api: Client, tune: Any) -> Iterator[tuple[SimTime, SimQueue]]:
    tune(bulk_sync_limit=1, job_chunk_items=1000, job_chunk_seconds=3600.0)
    with simulated() as (time, queue):
        yield time, queue


def _quiet_job(account_id: str, n: int, when: Any) -> Job:
    return get_deps().jobs.create(
        Job(
            account_id=account_id,
            job_id=f"job_quiet{n:03d}",
            kind="bulk_tags",
            params={"target": {"client_ids": []}, "add": ["x"], "remove": []},
            created_at=when,
            updated_at=when,
        )
    )


def _run_continuation(queue: SimQueue, checks: int) -> list[str]:
    """Deliver the continuation's messages, each chunk with a context that runs out after
    ``checks`` checks; returns what each chunk did. Other messages stay aside (returned)."""
    deps = get_deps()
    outcomes: list[str] = []
    aside: list[dict[str, Any]] = []
    while (entry := queue.pop()) is not None:
        body = entry.body
        if body["account_id"] != continuations.PLATFORM_ACCOUNT:
            aside.append(body)
            continue
        outcomes.append(job_service.handle_message(deps, body, FakeContext(checks)))
    for body in aside:
        queue.send("jobs", body)
    return outcomes


def test_the_stall_sweeper_continues_after_its_lambda_and_resumes_each_job_once(
    account: dict[str, Any], sim: tuple[SimTime, SimQueue]
) -> None:
    time, queue = sim
    deps = get_deps()
    account_id = account["account_id"]
    quiet = [_quiet_job(account_id, n, time.now) for n in range(7)]
    time.advance(seconds=STALLED.total_seconds() + 60)
    # Resumed jobs stay in the by-stall index (a resume only sends a message): without an exact
    # cursor a continuation would resume them again.
    answer = continuations.run_scheduled(deps, "resume_stalled_jobs", FakeContext(checks=3))
    assert answer["complete"] is False and answer["resumed"] == 3, answer
    continuation = answer["continued_by"]
    job = deps.jobs.get(continuations.PLATFORM_ACCOUNT, continuation, consistent=True)
    assert (job.kind, job.done, job.result) == (continuations.KIND, 3, {"resumed": 3})
    outcomes = _run_continuation(queue, checks=2)
    assert outcomes == ["chunk", "done"], outcomes  # 2 more, then the last 2 and the end
    job = deps.jobs.get(continuations.PLATFORM_ACCOUNT, continuation, consistent=True)
    assert (job.status, job.done, job.result) == ("done", 7, {"resumed": 7})
    resent = Counter(body["job_id"] for body in queue.pending("jobs"))
    assert resent == Counter({j.job_id: 1 for j in quiet})  # every job once: none twice, none skipped


def test_an_uninterrupted_sweep_needs_no_continuation(
    account: dict[str, Any], sim: tuple[SimTime, SimQueue]
) -> None:
    time, queue = sim
    account_id = account["account_id"]
    for n in range(3):
        _quiet_job(account_id, n, time.now)
    time.advance(seconds=STALLED.total_seconds() + 60)
    answer = continuations.run_scheduled(get_deps(), "resume_stalled_jobs", FakeContext(checks=50))
    assert answer == {"resumed": 3, "complete": True}
    assert list(JobModel.query(continuations.PLATFORM_ACCOUNT)) == []  # no job was started
    assert len(queue.pending("jobs")) == 3


def test_status_recomputation_interrupted_ends_as_the_uninterrupted_run(
    http: Http, sim: tuple[SimTime, SimQueue]
) -> None:
    time, queue = sim
    deps = get_deps()
    ids = [http.post("/v1/clients", {"email": f"c{i}@example.com"})[1]["client_id"] for i in range(9)]
    time.advance(days=31)
    answer = continuations.run_scheduled(deps, "recompute_auto_status", FakeContext(checks=4))
    assert answer["complete"] is False and (answer["visited"], answer["changed"]) == (4, 4), answer
    outcomes = _run_continuation(queue, checks=2)
    assert outcomes == ["chunk", "chunk", "done"], outcomes
    job = deps.jobs.get(continuations.PLATFORM_ACCOUNT, answer["continued_by"], consistent=True)
    assert (job.status, job.done) == ("done", 9)
    assert job.result == {"visited": 9, "changed": 9, "skipped": 0}  # each client written once
    assert {http.get(f"/v1/clients/{i}")[1]["auto_status"] for i in ids} == {"lost"}
    again = continuations.run_scheduled(deps, "recompute_auto_status", FakeContext(checks=50))
    assert again == {"visited": 0, "changed": 0, "skipped": 0, "complete": True}


def test_without_a_context_the_configured_timeout_is_the_budget(api: Client, tune: Any) -> None:
    from chalicelib.domain.jobs import Budget

    deps = tune(lambda_timeout_seconds=30.0)
    budget = Budget.for_lambda(10, None, deps.settings.lambda_timeout_seconds)
    assert 30.0 - SAFETY_MARGIN_SECONDS - 1 < budget.left() <= 30.0 - SAFETY_MARGIN_SECONDS
    assert not budget.spent(0) and budget.spent(10)
