"""The campaign's counters: small items apart from the campaign, added exactly once per send
message, and the source of the report and of the campaign's completion (the message that
finishes last, or the completion sweep when that message died)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.sending import STALLED_CAMPAIGN, finish_stalled_campaigns
from chalicelib.storage.models import CampaignCounterModel, CampaignModel, DeliveryModel
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, deliver, drain, simulated
from tests.integration.test_campaigns import add_clients, new_campaign


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


def _send(http: Http) -> str:
    campaign = new_campaign(http)
    status, body = http.post(
        f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
    )
    assert status == 202, body
    return str(campaign["campaign_id"])


def _status(http: Http, campaign_id: str) -> str:
    return str(http.get(f"/v1/campaigns/{campaign_id}")[1]["status"])


class _DiesBeforeCounting:
    """Around the repository: the send worker dies right after its sends, before its count
    (its first ``times`` commits of a finished batch raise)."""

    def __init__(self, real: Any, times: int = 1) -> None:
        self.real, self.left = real, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def commit_step(self, *args: Any, **kwargs: Any) -> bool:
        if kwargs.get("batch") is not None and self.left > 0:
            self.left -= 1
            raise RuntimeError("worker killed after its sends")
        return bool(self.real.commit_step(*args, **kwargs))


class _DiesBeforeFinishing(_DiesBeforeCounting):
    """The worker dies right after its count, before it checks whether the campaign is done."""

    def commit_step(self, *args: Any, **kwargs: Any) -> bool:
        done = bool(self.real.commit_step(*args, **kwargs))
        if kwargs.get("batch") is not None and self.left > 0:
            self.left -= 1
            raise RuntimeError("worker killed after its count")
        return done


def _run_losing_failed_messages(api: Any, queue: SimQueue) -> int:
    """Deliver every message once; a failed one is lost (it went to the dead-letter queue)."""
    lost = 0
    while (entry := queue.pop()) is not None:
        lost += not deliver(api, entry.queue, entry.body)
    return lost


def test_counters_live_apart_from_the_campaign_item_and_make_the_report(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    _, queue = sim
    n = 130  # two send batches
    add_clients(http, n)
    campaign_id = _send(http)
    drain(http.client, queue)
    assert _status(http, campaign_id) == "sent"
    account_id = account["account_id"]
    item = CampaignModel.get(account_id, campaign_id)
    assert item.n_sent == 0 and item.n_batches_done == 0  # the 20 KB item is never counted on
    shards = list(CampaignCounterModel.query(f"counts#{campaign_id}"))
    assert 1 <= len(shards) <= 4
    assert sum(int(s.sent or 0) for s in shards) == n
    assert sum(int(s.batches_done or 0) for s in shards) == 2
    # The report reads the counters, never the deliveries.
    deps = get_deps()
    real = deps.deliveries

    class NoWalk:
        def __getattr__(self, name: str) -> Any:
            if name in ("of_campaign", "page", "get_many", "get"):
                raise AssertionError(f"the report read deliveries ({name})")
            return getattr(real, name)

    deps.__dict__["deliveries"] = NoWalk()
    try:
        status, report = http.get(f"/v1/campaigns/{campaign_id}/report")
    finally:
        deps.__dict__["deliveries"] = real
    assert status == 200, report
    assert report["sent"] == report["recipients"] == n and report["queued"] == report["failed"] == 0
    view = http.get(f"/v1/campaigns/{campaign_id}")[1]["progress"]
    assert view["sent"] == n and view["batches_done"] == 2 and view["recipients"] == n


def test_duplicate_send_messages_count_nothing_twice(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 60
    add_clients(http, n)
    campaign_id = _send(http)
    while queue.pending("jobs"):
        entry = queue.pop()
        assert entry is not None
        if entry.queue == "jobs":
            assert deliver(http.client, entry.queue, entry.body)
        else:
            queue.send(entry.queue, entry.body)
    for body in queue.pending("send"):
        queue.send("send", body)  # SQS is at-least-once: every message twice
    drain(http.client, queue)
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n, report
    assert _status(http, campaign_id) == "sent"


def test_a_message_killed_before_its_count_recounts_its_own_sends_when_redelivered(
    http: Http, sim: Any
) -> None:
    _, queue = sim
    n = 40
    add_clients(http, n)
    deps = get_deps()
    deps.__dict__["campaigns"] = _DiesBeforeCounting(deps.campaigns)
    try:
        campaign_id = _send(http)
        drain(http.client, queue)  # the failed message is redelivered, as SQS does
    finally:
        deps.__dict__.pop("campaigns", None)
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n, report
    assert _status(http, campaign_id) == "sent"


def _send_losing_the_last_message(http: Http, queue: Any, dies: type) -> str:
    """Send a campaign while the campaigns repository is wrapped by ``dies``: the one message
    that fails is lost for good (never redelivered). The campaign's id."""
    deps = get_deps()
    deps.__dict__["campaigns"] = dies(deps.campaigns)
    try:
        campaign_id = _send(http)
        assert _run_losing_failed_messages(http.client, queue) == 1
    finally:
        deps.__dict__.pop("campaigns", None)
    return campaign_id


def test_the_last_message_killed_after_its_count_is_finished_by_the_sweep(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 30
    add_clients(http, n)
    deps = get_deps()
    campaign_id = _send_losing_the_last_message(http, queue, _DiesBeforeFinishing)
    assert _status(http, campaign_id) == "sending"
    assert finish_stalled_campaigns(deps) == {
        "finished": 1,
        "checked": 0,
        "complete": 1,
    }  # from the counters alone
    assert _status(http, campaign_id) == "sent"
    assert finish_stalled_campaigns(deps) == {"finished": 0, "checked": 0, "complete": 1}  # it left the index


def test_the_last_message_killed_after_its_sends_and_lost_still_ends_sent(http: Http, sim: Any) -> None:
    time, queue = sim
    n = 30
    add_clients(http, n)
    deps = get_deps()
    campaign_id = _send_losing_the_last_message(http, queue, _DiesBeforeCounting)
    assert {d.status for d in DeliveryModel.query(campaign_id)} == {"sent"}  # every e-mail went out
    assert _status(http, campaign_id) == "sending"
    # Its count died with it: the sweep waits for the campaign to be quiet, then reads its
    # deliveries once, repairs the counters and finishes it.
    assert finish_stalled_campaigns(deps) == {"finished": 0, "checked": 0, "complete": 1}
    time.advance(seconds=STALLED_CAMPAIGN.total_seconds() + 1)
    assert finish_stalled_campaigns(deps) == {"finished": 1, "checked": 1, "complete": 1}
    assert _status(http, campaign_id) == "sent"
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n, report


class _NoTimeLeft:
    """A Lambda context whose invocation has no time left."""

    def get_remaining_time_in_millis(self) -> int:
        return 0


def test_the_sweep_stops_when_its_lambda_has_no_time_left(http: Http, sim: Any) -> None:
    _, queue = sim
    add_clients(http, 10)
    deps = get_deps()
    campaign_id = _send_losing_the_last_message(http, queue, _DiesBeforeFinishing)
    # Out of time: nothing is looked at, and the campaign stays in the index for the next run.
    assert finish_stalled_campaigns(deps, context=_NoTimeLeft()) == {
        "finished": 0,
        "checked": 0,
        "complete": 0,
    }
    assert _status(http, campaign_id) == "sending"
    assert finish_stalled_campaigns(deps) == {"finished": 1, "checked": 0, "complete": 1}
    assert _status(http, campaign_id) == "sent"


def test_the_sweep_leaves_a_campaign_whose_deliveries_still_wait(http: Http, sim: Any) -> None:
    time, queue = sim
    n = 20
    add_clients(http, n)
    campaign_id = _send(http)
    while queue.pending("jobs"):  # the fan-out only: every delivery is queued
        entry = queue.pop()
        assert entry is not None
        if entry.queue == "jobs":
            assert deliver(http.client, entry.queue, entry.body)
        else:
            queue.send(entry.queue, entry.body)
    time.advance(seconds=STALLED_CAMPAIGN.total_seconds() + 1)
    assert finish_stalled_campaigns(get_deps()) == {"finished": 0, "checked": 1, "complete": 1}
    assert _status(http, campaign_id) == "sending"
    drain(http.client, queue)
    assert _status(http, campaign_id) == "sent"


def test_the_completion_sweep_is_a_schedule_of_its_own(http: Http, sim: Any) -> None:
    import app as app_module
    from local.worker import discover

    _, schedules = discover(app_module, "local")
    (sweep,) = [s for s in schedules if s.name == "finish_stalled_campaigns"]
    assert sweep.expression == "rate(15 minutes)" and sweep.handler is app_module.finish_stalled_campaigns
    event = http.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    payload = http.client.lambda_.invoke("finish_stalled_campaigns", event).payload
    assert payload == {"finished": 0, "checked": 0, "complete": 1}
