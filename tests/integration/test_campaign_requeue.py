"""Resume and cancel do a bounded amount of work in the request: what a campaign still waits
for is re-enqueued in the request when its deliveries fit in one read of
``requeue_sync_limit``, else by a ``campaign_requeue`` job (202 with the campaign and the job).
Every waiting recipient is sent once, or settled cancelled; a job whose Lambda's time runs out
continues and ends as the uninterrupted one. The limit is set low here instead of writing
thousands of deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.jobs import Budget
from chalicelib.services import jobs as job_service
from chalicelib.services import requeue, sending
from chalicelib.storage.campaigns import DeliveryRepository
from chalicelib.storage.models import DeliveryModel
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import (
    SimQueue,
    SimTime,
    deliver,
    drain,
    recipients_of_sent,
    sent_messages,
    simulated,
)
from tests.integration.test_campaigns import add_clients, new_campaign
from tests.integration.test_lambda_time_budget import FakeContext
from tests.integration.test_openapi_conformance import conforms

LIMIT = 5  # deliveries resume and cancel may read in the request, in these tests


@pytest.fixture
def sim(api: Any, account: dict[str, Any], tune: Any) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    tune(send_batch_size=10, requeue_sync_limit=LIMIT, job_chunk_items=10, job_chunk_seconds=3600.0)
    with simulated() as pair:
        yield pair


@contextmanager
def deliveries_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many deliveries each Query page read while the block ran."""
    reads: list[int] = []
    real = DeliveryRepository.page

    def page(self: DeliveryRepository, campaign_id: str, **kwargs: Any) -> Any:
        items, after = real(self, campaign_id, **kwargs)
        reads.append(len(items))
        return items, after

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryRepository, "page", page)
        yield reads


def _statuses(campaign_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in DeliveryModel.query(campaign_id):
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def _exactly_once(n: int) -> None:
    per_address = recipients_of_sent()
    assert sorted(per_address) == sorted(f"c{i}@example.com" for i in range(n))
    assert set(per_address.values()) == {1}, {a: c for a, c in per_address.items() if c != 1}


def _paused_midway(http: Http, queue: SimQueue, n: int) -> tuple[str, int]:
    """A campaign to ``n`` clients paused after about a third was sent, its dropped messages
    gone: ``(campaign_id, how many were sent)``; the others wait ``queued``."""
    add_clients(http, n)
    campaign = new_campaign(http)
    campaign_id = campaign["campaign_id"]
    status, body = http.post(f"/v1/campaigns/{campaign_id}/send", {"acknowledge_non_consented": True})
    assert status == 202, body
    drain(http.client, queue, stop=lambda: len(sent_messages()) >= n // 3)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/pause")
    assert status == 200 and body["status"] == "paused", body
    drain(http.client, queue)  # messages arriving while paused are dropped
    at_pause = len(sent_messages())
    assert 0 < at_pause < n
    assert _statuses(campaign_id) == {"sent": at_pause, "queued": n - at_pause}
    return campaign_id, at_pause


def _job(http: Http, job_id: str) -> dict[str, Any]:
    status, job = http.get(f"/v1/jobs/{job_id}")
    assert status == 200, job
    return job


def test_resume_beyond_the_limit_is_a_job_that_sends_each_waiting_recipient_once(
    http: Http, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, queue = sim
    n = 40
    campaign_id, at_pause = _paused_midway(http, queue, n)
    waiting = n - at_pause
    with deliveries_read(monkeypatch) as reads:
        status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 202, body
    conforms("/v1/campaigns/{campaign_id}/resume", "POST", status, body)
    # The campaign as before (existing clients keep working), and the job.
    assert body["campaign_id"] == campaign_id and body["status"] == "sending" and "progress" in body
    job = body["job"]
    assert job["kind"] == requeue.KIND and job["status"] == "queued"
    assert (job["done"], job["total"]) == (0, waiting)  # the total from the counters, at once
    assert reads == []  # the counters said more than the limit waits: no delivery read
    assert queue.pending("send") == []  # nothing re-enqueued by the request
    drain(http.client, queue)
    final = _job(http, job["job_id"])
    assert final["status"] == "done" and final["done"] == final["total"] == waiting
    assert final["result"] == {"requeued": waiting, "read": n}
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "sent"
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n and report["queued"] == 0


def test_a_requeue_chunk_run_twice_sends_and_counts_nobody_twice(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    """A worker that died after enqueuing its pages, before its commit: the chunk runs again
    and every waiting delivery has two messages; the claim sends each once, counts it once."""
    _, queue = sim
    n = 30
    campaign_id, at_pause = _paused_midway(http, queue, n)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 202, body
    deps = get_deps()
    job = deps.jobs.get(account["account_id"], body["job"]["job_id"])
    requeue.requeue_chunk(deps, job, Budget.start(10_000, 3600.0))  # the dead worker's run
    assert sum(len(b["client_ids"]) for b in queue.pending("send")) == n - at_pause
    drain(http.client, queue)  # the job's own chunks enqueue them again (until it is sent)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n and report["failed"] == 0
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"
    final = _job(http, body["job"]["job_id"])
    # Its chunks stop once the campaign is sent (the dead worker's messages finished it).
    assert final["status"] == "done" and final["done"] == final["total"] <= n - at_pause


def test_cancel_beyond_the_limit_settles_every_waiting_recipient_as_cancelled(
    http: Http, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, queue = sim
    n = 40
    campaign_id, at_pause = _paused_midway(http, queue, n)
    waiting = n - at_pause
    with deliveries_read(monkeypatch) as reads:
        status, body = http.post(f"/v1/campaigns/{campaign_id}/cancel")
    assert status == 202, body
    conforms("/v1/campaigns/{campaign_id}/cancel", "POST", status, body)
    assert body["status"] == "cancelled" and body["job"]["total"] == waiting and reads == []
    drain(http.client, queue)
    assert len(sent_messages()) == at_pause  # nobody more got it
    assert _statuses(campaign_id) == {"sent": at_pause, "failed": waiting}
    failed = [d for d in DeliveryModel.query(campaign_id) if d.status == "failed"]
    assert {d.reason for d in failed} == {"cancelled"}
    final = _job(http, body["job"]["job_id"])
    assert final["status"] == "done" and final["done"] == final["total"] == waiting
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert (report["sent"], report["failed"], report["recipients"]) == (at_pause, waiting, n)
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "cancelled"


def test_a_few_waiting_in_a_bigger_campaign_the_request_reads_one_page_and_hands_over(
    http: Http, sim: Any, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer waiting than the limit, more deliveries than it: the request re-enqueues what waits
    in the first page it reads, and the job goes on after that page, that work in its ``done``."""
    _, queue = sim
    n = 30
    campaign_id, at_pause = _paused_midway(http, queue, n)
    waiting = n - at_pause
    limit = waiting  # all waiting ones would fit, the campaign's deliveries do not
    tune(requeue_sync_limit=limit)
    ordered = sorted(DeliveryModel.query(campaign_id), key=lambda d: d.client_id)
    in_first_page = sum(d.status == "queued" for d in ordered[: limit + 1])
    with deliveries_read(monkeypatch) as reads:
        status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 202, body
    assert reads == [limit + 1]  # one Query: the limit, and one more to see there is more
    assert (body["job"]["done"], body["job"]["total"]) == (in_first_page, waiting)
    assert sum(len(b["client_ids"]) for b in queue.pending("send")) == in_first_page
    drain(http.client, queue)
    final = _job(http, body["job"]["job_id"])
    assert final["status"] == "done" and final["done"] == final["total"] == waiting
    _exactly_once(n)
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


@pytest.mark.parametrize("limit", [1000, 30], ids=["well-below", "exactly-the-limit"])
def test_below_the_limit_resume_is_done_in_the_request_as_before(
    http: Http, sim: Any, tune: Any, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    _, queue = sim
    n = 30
    campaign_id, _ = _paused_midway(http, queue, n)
    tune(requeue_sync_limit=limit)
    with deliveries_read(monkeypatch) as reads:
        status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 200 and body["status"] == "sending", body
    assert "job" not in body
    conforms("/v1/campaigns/{campaign_id}/resume", "POST", status, body)
    assert reads == [n]  # the whole campaign in one read
    assert queue.pending("jobs") == []  # no job
    drain(http.client, queue)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_resume_with_nothing_waiting_reads_no_delivery_and_finishes_the_campaign(
    http: Http, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everyone was sent but the finishing check was lost; paused, then resumed: the counters
    say nothing waits, so nothing is read, and resume finishes the campaign."""
    _, queue = sim
    n = 12
    add_clients(http, n)
    campaign_id = new_campaign(http)["campaign_id"]
    with monkeypatch.context() as patch:
        patch.setattr(sending, "maybe_finish", lambda *args, **kwargs: False)
        status, _ = http.post(f"/v1/campaigns/{campaign_id}/send", {"acknowledge_non_consented": True})
        assert status == 202
        drain(http.client, queue)
    assert _statuses(campaign_id) == {"sent": n}
    assert http.post(f"/v1/campaigns/{campaign_id}/pause")[0] == 200
    with deliveries_read(monkeypatch) as reads:
        status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 200 and body["status"] == "sent" and "job" not in body, body
    assert reads == [] and queue.pending("send") == [] and queue.pending("jobs") == []
    _exactly_once(n)


def _run_requeue_jobs(http: Http, queue: SimQueue, checks: int | None) -> list[str]:
    """Deliver every message: job chunks with a Lambda context that has time for ``checks``
    budget checks (``None``: plenty), send messages to the send worker. What each chunk did."""
    deps = get_deps()
    outcomes: list[str] = []
    while (entry := queue.pop()) is not None:
        if entry.queue == "jobs":
            context = FakeContext(checks if checks is not None else 10_000)
            outcomes.append(job_service.handle_message(deps, entry.body, context))
        else:
            assert deliver(http.client, entry.queue, entry.body)
    return outcomes


@pytest.mark.parametrize("checks", [None, 1], ids=["uninterrupted", "out-of-time-mid-job"])
def test_a_requeue_job_whose_lambda_runs_out_continues_and_ends_the_same(
    http: Http, sim: Any, tune: Any, monkeypatch: pytest.MonkeyPatch, checks: int | None
) -> None:
    _, queue = sim
    n = 30
    campaign_id, at_pause = _paused_midway(http, queue, n)
    waiting = n - at_pause
    tune(job_chunk_items=1000)  # the time binds, not the items
    monkeypatch.setattr(requeue, "PAGE", 4)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 202, body
    outcomes = _run_requeue_jobs(http, queue, checks)
    if checks is None:
        assert outcomes == ["done"], outcomes
    else:
        # Two pages a chunk (a check after each: the second finds the time spent): 8 of 30.
        assert outcomes == ["chunk", "chunk", "chunk", "done"], outcomes
    final = _job(http, body["job"]["job_id"])
    assert (final["status"], final["done"], final["total"]) == ("done", waiting, waiting)
    assert final["result"] == {"requeued": waiting, "read": n}
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_a_requeue_job_stops_when_the_campaign_is_paused_again(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 30
    campaign_id, at_pause = _paused_midway(http, queue, n)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 202, body
    assert http.post(f"/v1/campaigns/{campaign_id}/pause")[0] == 200
    drain(http.client, queue)
    final = _job(http, body["job"]["job_id"])
    assert final["status"] == "done" and final["result"].get("stopped") == 1
    assert final["done"] == final["total"] == 0
    assert len(sent_messages()) == at_pause  # paused: nothing more went out
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")  # the next resume walks again
    assert status == 202, body
    drain(http.client, queue)
    _exactly_once(n)
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"
