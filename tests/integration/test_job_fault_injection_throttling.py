"""Fault injection for the resumable jobs, continued from ``test_job_fault_injection.py``
(its injector, worlds and reference runs): DynamoDB throttling, and continuation messages
lost until the next schedule or the stall sweeper sends them again. A file of its own so
that under pytest-xdist (``--dist loadfile``) another worker runs these beside the kills and
duplicates of that module; each file's process runs the references it needs once."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.storage.models import JobModel
from tests.integration import test_job_fault_injection as scenarios
from tests.integration.test_job_fault_injection import Faults, World, assert_same, faulted, reference

RUN_FIRST = 105  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

# The same fixtures: 2,600 clients for the bulk job; 32 recipients, four a chunk, for segmentation.
bulk = scenarios.bulk
segmentation = scenarios.segmentation


def test_bulk_job_under_dynamodb_throttling_ends_as_an_uninterrupted_run(
    bulk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, _ = reference("bulk", bulk, monkeypatch)
    # Clients are written up to 16 to a transaction: about a hundred transactions in all, so
    # each attempt is refused more often than a single client's was (0.05) to refuse dozens.
    faults = Faults(transient=0.3, transient_other=0.3, seed=3)
    actual, outcome = faulted(bulk, faults, monkeypatch)
    # the faults really happened, on every kind of call, and each chunk still got through
    assert faults.injected["TransactionCanceledException"] > 25, faults.injected
    assert faults.injected["ProvisionedThroughputExceededException"] >= 3, faults.injected
    assert faults.injected["ThrottlingException"] >= 3, faults.injected
    assert set(outcome) <= {"ok", "failed"}, outcome
    assert_same(expected, actual)


def test_bulk_job_with_a_lost_continuation_message_is_resumed_by_the_stall_sweeper(
    bulk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A continuation message never arrives: the job sits "running" with nothing queued for it
    until the stall sweeper (every 15 minutes) finds it in the jobs' sparse index, from the
    index alone, and sends its chunk's message again."""
    from pynamodb.connection.base import Connection

    from chalicelib.services.jobs import STALLED

    expected, _ = reference("bulk", bulk, monkeypatch)
    calls: list[tuple[str, str | None]] = []

    def sweep(world: World) -> dict[str, Any]:
        event = world.api.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        real = Connection._make_api_call

        def recording(connection: Any, operation: str, kwargs: dict[str, Any]) -> Any:
            calls.append((operation, kwargs.get("IndexName")))
            return real(connection, operation, kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(Connection, "_make_api_call", recording)
            return dict(world.api.lambda_.invoke("resume_stalled_jobs", event).payload)

    def stalled_then_swept(world: World) -> None:
        (job,) = JobModel.query(world.account_id)
        assert job.status == "running" and len(world.queue) == 0, job
        world.time.advance(minutes=10)
        assert sweep(world) == {"resumed": 0, "complete": True}  # not stalled long enough yet
        world.time.advance(seconds=STALLED.total_seconds() - 10 * 60 + 1)
        assert sweep(world) == {"resumed": 1, "complete": True}
        assert world.queue.pending("jobs") == [
            {"account_id": world.account_id, "job_id": job.job_id, "seq": 3}
        ]

    actual, outcome = faulted(bulk, Faults(), monkeypatch, lose={3}, recover=stalled_then_swept)
    assert outcome["lost"] == 1, outcome
    assert {op for op, _ in calls} == {"Query"} and {index for _, index in calls} == {"by-stall"}, calls
    assert_same(expected, actual)


def test_segmentation_under_throttling_and_a_lost_message_ends_as_an_uninterrupted_run(
    segmentation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A continuation message never arrives (say, dead-lettered after repeated crashes): the
    job stalls until the next hourly schedule notices and sends its chunk's message again."""
    from tests.integration.test_reactivation import run_schedule

    expected, _ = reference("segmentation", segmentation, monkeypatch)
    faults = Faults(transient=0.1, transient_other=0.2, seed=9)

    def next_schedule(world: World) -> None:
        world.time.advance(hours=1)
        run_schedule(world.http)

    actual, outcome = faulted(segmentation, faults, monkeypatch, lose={3}, recover=next_schedule)
    assert outcome["lost"] == 1, outcome
    assert sum(faults.injected.values()) > 10, faults.injected
    assert_same(expected, actual)
