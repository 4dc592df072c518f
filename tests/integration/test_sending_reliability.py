"""The reliability suite: every recipient exactly once under SES faults, worker crashes,
pause/resume and cancel; the shared throttle holds the platform rate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import DeliveryModel
from tests.integration.conftest import OPERATOR, Http, verify_sender
from tests.integration.sending_support import (
    FaultyMailer,
    SimQueue,
    SimTime,
    deliver,
    drain,
    recipients_of_sent,
    sent_messages,
    simulated,
)
from tests.integration.test_campaigns import add_clients, new_campaign

RUN_FIRST = 175  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


def _send(http: Http, audience: dict[str, Any] | None = None) -> str:
    campaign = new_campaign(http, audience)
    status, body = http.post(
        f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
    )
    assert status == 202, body
    return str(campaign["campaign_id"])


def _statuses(campaign_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in DeliveryModel.query(campaign_id):
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def _exactly_once(n: int, prefix: str = "c") -> None:
    per_address = recipients_of_sent()
    assert sorted(per_address) == sorted(f"{prefix}{i}@example.com" for i in range(n))
    assert set(per_address.values()) == {1}, {a: c for a, c in per_address.items() if c != 1}


def test_ses_throttling_and_transient_errors_never_lose_or_repeat_anyone(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 300
    add_clients(http, n)
    deps = get_deps()
    faulty = FaultyMailer(deps.mailer, throttle=0.30, transient=0.05, seed=11)
    deps.__dict__["mailer"] = faulty
    campaign_id = _send(http)
    drain(http.client, queue)
    assert faulty.throttled > 50 and faulty.transient_errors > 5  # the faults really happened
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] == report["recipients"] == n and report["failed"] == 0
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_a_worker_killed_after_ses_accepted_never_sends_twice(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 30
    ids = add_clients(http, n)
    deps = get_deps()
    faulty = FaultyMailer(deps.mailer, crash_after_accept=1)
    deps.__dict__["mailer"] = faulty
    campaign_id = _send(http)
    drain(http.client, queue)
    _exactly_once(n)  # the crashed recipient got its e-mail once, and only once
    statuses = _statuses(campaign_id)
    assert statuses == {"sent": n - 1, "failed": 1}, statuses
    (stuck,) = [d for d in DeliveryModel.query(campaign_id) if d.status == "failed"]
    assert stuck.reason == "unconfirmed" and stuck.client_id in ids
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] + report["failed"] == report["recipients"] == n
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_an_ses_event_reconciles_a_delivery_left_sending(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    _, queue = sim
    (client_id,) = add_clients(http, 1)
    deps = get_deps()
    deps.__dict__["mailer"] = FaultyMailer(deps.mailer, crash_after_accept=1)
    campaign_id = _send(http)
    # Run until the crash: the first send message fails and is handed back.
    while True:
        entry = queue.pop()
        assert entry is not None
        if not deliver(http.client, entry.queue, entry.body):
            break
    assert DeliveryModel.get(campaign_id, client_id).status == "sending"
    # The configuration set publishes ``Send`` (SES accepted the e-mail) for every e-mail;
    # that event alone repairs the crash (``Delivery`` is not published: see resources).
    event = {
        "eventType": "Send",
        "mail": {
            "messageId": "ses-x",
            "tags": {
                "account_id": [account["account_id"]],
                "campaign_id": [campaign_id],
                "client_id": [client_id],
            },
        },
    }
    assert deliver(http.client, "ses-events", {"Type": "Notification", "Message": json.dumps(event)})
    assert DeliveryModel.get(campaign_id, client_id).status == "sent"
    queue.send("send", entry.body)  # SQS redelivers the crashed message
    drain(http.client, queue)
    assert len(sent_messages()) == 1
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_pause_at_30_percent_then_resume_skips_and_repeats_nobody(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 400
    add_clients(http, n)
    campaign_id = _send(http)
    drain(http.client, queue, stop=lambda: len(sent_messages()) >= 0.3 * n)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/pause")
    assert status == 200 and body["status"] == "paused"
    at_pause = len(sent_messages())
    drain(http.client, queue)  # messages arriving while paused are dropped
    assert len(sent_messages()) == at_pause
    assert 0.3 * n <= at_pause < n
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 200 and body["status"] == "sending", body
    drain(http.client, queue)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_cancel_mid_send_settles_everyone_else(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 120
    add_clients(http, n)
    campaign_id = _send(http)
    drain(http.client, queue, stop=lambda: len(sent_messages()) >= 50)
    status, body = http.post(f"/v1/campaigns/{campaign_id}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    drain(http.client, queue)
    sent = len(sent_messages())
    statuses = _statuses(campaign_id)
    assert statuses == {"sent": sent, "failed": n - sent}
    assert all(d.reason == "cancelled" for d in DeliveryModel.query(campaign_id) if d.status == "failed")
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["sent"] + report["failed"] == report["recipients"] == n


def test_duplicate_messages_send_nothing_twice(http: Http, sim: Any) -> None:
    _, queue = sim
    n = 60
    add_clients(http, n)
    campaign_id = _send(http)
    # Run the fan-out, then duplicate every send message (SQS is at-least-once).
    while queue.pending("jobs"):
        entry = queue.pop()
        assert entry is not None
        assert deliver(http.client, entry.queue, entry.body) if entry.queue == "jobs" else True
        if entry.queue != "jobs":
            queue.send(entry.queue, entry.body)
    for body in queue.pending("send"):
        queue.send("send", body)
    drain(http.client, queue)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}


def raise_limits(http: Http, account_id: str, rate: float = 1000) -> None:
    """The operator lifts the account's limits (a new account's are conservative)."""
    limits = {"send_rate_per_second": rate, "hourly_send_cap": 1_000_000, "daily_send_cap": 1_000_000}
    status, body = http.put(f"/v1/accounts/{account_id}/limits", limits, headers=OPERATOR)
    assert status == 200, body
    assert body["settings"]["send_rate_per_second"] == rate  # the setting at the ceiling follows it


def test_the_shared_throttle_keeps_the_platform_rate(http: Http, account: dict[str, Any], sim: Any) -> None:
    time, queue = sim
    deps = get_deps()
    n = 200
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    stamps: list[float] = []
    real = deps.mailer

    class Stamping:
        def send_raw(self, raw: bytes, **kw: Any) -> str:
            stamps.append(time.now.timestamp())
            return str(real.send_raw(raw, **kw))

    deps.__dict__["mailer"] = Stamping()
    _send(http)
    drain(http.client, queue)
    rate = deps.settings.platform_send_rate_per_second
    stamps.sort()
    window = max(sum(1 for s in stamps if t <= s < t + 1) for t in stamps)
    assert len(stamps) == n and window <= rate
    # The bucket runs at platform_rate_safety (0.96) of the rate; nearly all of it is used.
    assert (n - 1) / (stamps[-1] - stamps[0]) >= 0.9 * rate


def test_a_message_reads_only_the_clients_its_send_window_admits(http: Http, sim: Any) -> None:
    """A batch larger than one send window (10 s of the account's rate) sends its first
    window and continues with the rest unread: each client is read (fresh) once per send."""
    _, queue = sim
    n = 60
    add_clients(http, n)
    assert http.patch("/v1/account/settings", {"send_rate_per_second": 2})[0] == 200
    deps = get_deps()
    reads: list[int] = []
    index = deps.client_index
    real_get_many = index.get_many

    def counting_get_many(account_id: str, client_ids: list[str]) -> Any:
        reads.append(len(client_ids))
        return real_get_many(account_id, client_ids)

    index.get_many = counting_get_many  # type: ignore[method-assign]
    try:
        campaign_id = _send(http)
        drain(http.client, queue)
    finally:
        del index.get_many
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    assert max(reads) <= 20  # 10 s at 2 per second
    assert sum(reads) == n  # nobody read twice
