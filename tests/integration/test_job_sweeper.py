"""The stall sweeper: background jobs whose chunk message was lost do not stay running forever.

A lost message (dead-lettered after repeated worker kills, or a send that failed after the
progress commit) leaves a job unfinished with nothing on the queue for it. The scheduled
``resume_stalled_jobs`` Lambda finds such jobs of every account in the sparse ``by-stall``
index of the jobs table and sends each its current chunk's message again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.services import job_kinds
from chalicelib.services import jobs as job_service
from chalicelib.storage.conversions import stored_time
from chalicelib.storage.models import ClientModel, JobModel
from tests.integration.conftest import Http, create_account
from tests.integration.sending_support import SimQueue, SimTime, deliver, simulated


@pytest.fixture
def sim(api: Client, tune: Any) -> Iterator[tuple[SimTime, SimQueue]]:
    tune(bulk_sync_limit=1, job_chunk_items=2)
    with simulated() as (time, queue):
        yield time, queue


def start_bulk(http: Http, prefix: str, tag: str, n: int = 5) -> tuple[str, list[str]]:
    ids = []
    for i in range(n):
        status, body = http.post("/v1/clients", {"email": f"{prefix}{i}@example.com"})
        assert status == 201, body
        ids.append(body["client_id"])
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": ids}, "add": [tag]})
    assert status == 202, body
    return str(body["job_id"]), ids


def take(queue: SimQueue) -> list[dict[str, Any]]:
    """Every waiting message of the jobs queue, removed from it (lost, or to deliver by hand)."""
    taken = []
    while (entry := queue.pop()) is not None:
        assert entry.queue == "jobs", entry
        taken.append(entry.body)
    return taken


def drain(api: Client, queue: SimQueue) -> Counter[str]:
    outcome: Counter[str] = Counter()
    for _ in range(200):
        entry = queue.pop()
        if entry is None:
            return outcome
        outcome[str(deliver(api, entry.queue, entry.body))] += 1
    raise AssertionError("the queue did not drain")


def sweep(api: Client) -> dict[str, Any]:
    event = api.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return dict(api.lambda_.invoke("resume_stalled_jobs", event).payload)


@contextmanager
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record every DynamoDB operation the app makes (through PynamoDB)."""
    from pynamodb.connection.base import Connection

    calls: list[tuple[str, dict[str, Any]]] = []
    real = Connection._make_api_call

    def recording(connection: Any, operation: str, kwargs: dict[str, Any]) -> Any:
        calls.append((operation, dict(kwargs)))
        return real(connection, operation, kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "_make_api_call", recording)
        yield calls


def indexed(account_id: str, job_id: str) -> tuple[str | None, str | None]:
    item = JobModel.get(account_id, job_id, consistent_read=True)
    return item.stall_shard, item.last_attempt_at


def json_result(job: JobModel) -> dict[str, int]:
    return {k: v for k, v in json.loads(job.result).items() if v}


def tags_by_email(account_id: str) -> dict[str, list[str]]:
    return {c.email: sorted(c.tags) for c in ClientModel.query(account_id)}


def fail_job(api: Client, queue: SimQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt of the waiting chunk fails until the job gives up (``MAX_ATTEMPTS``)."""

    def broken(deps: Any, job: Any, budget: Any) -> Any:
        raise RuntimeError("chunk keeps failing")

    job_kinds.load()
    with monkeypatch.context() as patch:
        patch.setitem(job_service._KINDS, "bulk_tags", broken)
        (body,) = take(queue)
        for attempt in range(1, job_service.MAX_ATTEMPTS + 1):
            # failed attempts are redelivered by SQS; the last one marks the job failed
            assert deliver(api, "jobs", body) == (attempt == job_service.MAX_ATTEMPTS)


def test_lost_messages_of_every_account_are_resent_and_finished_jobs_are_left_alone(
    api: Client,
    http: Http,
    account: dict[str, Any],
    sim: tuple[SimTime, SimQueue],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    time, queue = sim
    a = account["account_id"]
    other = create_account(api, "Other", "o@other.example")
    b, http_b = other["account_id"], Http(api, other["api_key"])

    # account A: a job done, untouched, and a job whose continuation message is lost
    done_id, _ = start_bulk(http, "d", "done")
    assert set(drain(api, queue)) == {"True"}
    running_id, a_ids = start_bulk(http, "a", "spring")
    assert deliver(api, "jobs", take(queue)[0])  # chunk 0 runs; its continuation never arrives
    assert len(take(queue)) == 1
    # account B: a job that failed on its own retry limit, and a job whose first message is lost
    failed_id, _ = start_bulk(http_b, "f", "failing")
    fail_job(api, queue, monkeypatch)
    queued_id, b_ids = start_bulk(http_b, "b", "autumn")
    assert len(take(queue)) == 1

    jobs = {
        name: JobModel.get(owner, job_id, consistent_read=True)
        for name, owner, job_id in [
            ("done", a, done_id),
            ("running", a, running_id),
            ("failed", b, failed_id),
            ("queued", b, queued_id),
        ]
    }
    assert {n: j.status for n, j in jobs.items()} == {
        "done": "done",
        "running": "running",
        "failed": "failed",
        "queued": "queued",
    }
    # the index is sparse: only unfinished jobs carry its keys
    assert indexed(a, done_id) == indexed(b, failed_id) == (None, None)
    assert all(indexed(a, running_id)) and all(indexed(b, queued_id))

    time.advance(minutes=14)
    assert sweep(api) == {"resumed": 0, "complete": True}  # quiet, but not for long enough
    assert len(queue) == 0

    time.advance(minutes=2)
    with dynamodb_calls(monkeypatch) as calls:
        assert sweep(api) == {"resumed": 2, "complete": True}
    operations = Counter(op for op, _ in calls)
    assert operations == Counter({"Query": 16}), operations  # one per shard: no Scan, no table read
    assert {kw.get("IndexName") for _, kw in calls} == {"by-stall"}
    # each job gets its own chunk's message, naming its own account
    assert sorted(queue.pending("jobs"), key=lambda m: m["account_id"] == b) == [
        {"account_id": a, "job_id": running_id, "seq": 1},
        {"account_id": b, "job_id": queued_id, "seq": 0},
    ]

    assert set(drain(api, queue)) == {"True"}
    for owner, job_id, size in [(a, running_id, len(a_ids)), (b, queued_id, len(b_ids))]:
        job = JobModel.get(owner, job_id, consistent_read=True)
        assert (job.status, int(job.done), json_result(job)) == (
            "done",
            size,
            {"matched": size, "updated": size},
        ), job
        assert indexed(owner, job_id) == (None, None)
    # nothing crossed accounts: each job tagged its own clients only
    assert {e: t for e, t in tags_by_email(a).items() if e.startswith("a")} == {
        f"a{i}@example.com": ["spring"] for i in range(5)
    }
    assert {e: t for e, t in tags_by_email(b).items() if e.startswith("b")} == {
        f"b{i}@example.com": ["autumn"] for i in range(5)
    }
    assert not any("spring" in t for t in tags_by_email(b).values())
    assert not any("autumn" in t for t in tags_by_email(a).values())
    # the done and failed jobs were never touched
    for name, owner, job_id in [("done", a, done_id), ("failed", b, failed_id)]:
        assert JobModel.get(owner, job_id, consistent_read=True).attribute_values == (
            jobs[name].attribute_values
        )

    time.advance(hours=1)
    assert sweep(api) == {"resumed": 0, "complete": True}  # every job is finished now
    assert len(queue) == 0


def test_a_job_that_makes_progress_is_never_stalled(
    api: Client, http: Http, account: dict[str, Any], sim: tuple[SimTime, SimQueue], tune: Any
) -> None:
    """Each chunk attempt moves the job's place in the index, so a long job whose chunks keep
    coming is never resent, however long ago it started."""
    time, queue = sim
    tune(job_chunk_items=1)
    job_id, _ = start_bulk(http, "p", "slow", n=5)
    for _ in range(3):
        time.advance(minutes=10)
        (body,) = take(queue)
        assert deliver(api, "jobs", body)
        assert indexed(account["account_id"], job_id)[1] == stored_time(time.now)
        time.advance(minutes=10)
        assert sweep(api) == {"resumed": 0, "complete": True}


def test_the_local_worker_fires_the_sweeper() -> None:
    import app as app_module
    from local.worker import discover

    _, schedules = discover(app_module, "local")
    (sweeper,) = [s for s in schedules if s.name == "resume_stalled_jobs"]
    assert sweeper.expression == "rate(15 minutes)" and sweeper.handler is app_module.resume_stalled_jobs
