"""Automatic campaigns with an injected clock: clients move active → lapsing → lost over
simulated months; the "lost" win-back campaign reaches each of them exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.auto_status import recompute_due_statuses
from tests.integration.conftest import Http
from tests.integration.sending_support import (
    START,
    SimQueue,
    SimTime,
    drain,
    recipients_of_sent,
    simulated,
)

SENDER = "hello@salon.example"


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    from tests.integration.conftest import verify_sender

    verify_sender(SENDER)
    with simulated() as pair:
        yield pair


def tick(http: Http, time: SimTime, queue: SimQueue, **advance: float) -> None:
    """Let time pass, then do what the schedules do: statuses, then automatic rounds."""
    time.advance(**advance)
    recompute_due_statuses(get_deps())
    event = http.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    http.client.lambda_.invoke("run_automatic_campaigns", event)
    drain(http.client, queue)


def status_of(http: Http, client_id: str) -> str:
    return http.get(f"/v1/clients/{client_id}")[1]["auto_status"]


def test_win_back_reaches_each_lost_client_once(http: Http, sim: Any) -> None:
    time, queue = sim
    visit = (START - timedelta(days=10)).isoformat()
    people = {}
    for name in ("anna", "bea", "carl", "dora"):
        _, body = http.post("/v1/clients", {"email": f"{name}@example.com", "last_visit_at": visit})
        people[name] = body["client_id"]
    for name in ("anna", "bea", "dora"):
        http.put(f"/v1/clients/{people[name]}/consent", {"granted": True})
    http.put(f"/v1/clients/{people['carl']}/consent", {"granted": False})  # denied: never mailed
    status, campaign = http.post(
        "/v1/campaigns",
        {
            "name": "We miss you",
            "kind": "automatic",
            "subject": "We miss you, {{ first_name }}",
            "html": "<p>Come back for 20 % off.</p>",
            "audience": {"auto_status": "lost"},
        },
    )
    assert status == 201, campaign
    cid = campaign["campaign_id"]
    assert http.patch("/v1/account/settings", {"consent_only_campaigns": True})[0] == 200
    status, body = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 202 and body["status"] == "active", body

    tick(http, time, queue, days=1)
    assert recipients_of_sent() == {}  # nobody is lost yet
    # dora comes back in month two, so she never gets lost in this story
    tick(http, time, queue, days=60)
    http.patch(f"/v1/clients/{people['dora']}", {"last_visit_at": time.now.isoformat()})
    tick(http, time, queue, days=30)  # 101 days after the visit
    assert {status_of(http, people[n]) for n in ("anna", "bea", "carl")} == {"lapsing"}
    tick(http, time, queue, days=90)  # 191 days after the visit: lost
    assert {status_of(http, people[n]) for n in ("anna", "bea", "carl")} == {"lost"}
    assert status_of(http, people["dora"]) == "lapsing"  # 120 days after her return visit
    for _ in range(3):  # later rounds see the same lost clients again
        tick(http, time, queue, days=7)
    assert recipients_of_sent() == {"anna@example.com": 1, "bea@example.com": 1}

    # consent-only: a lost client without consent is not mailed; once she grants, she is
    _, eve = http.post("/v1/clients", {"email": "eve@example.com", "last_visit_at": "2020-01-01"})
    tick(http, time, queue, days=1)
    assert "eve@example.com" not in recipients_of_sent()
    http.put(f"/v1/clients/{eve['client_id']}/consent", {"granted": True})
    tick(http, time, queue, days=1)
    assert recipients_of_sent()["eve@example.com"] == 1

    report = http.get(f"/v1/campaigns/{cid}/report")[1]
    assert report["sent"] == 3 and report["recipients"] == 3


def test_paused_and_cancelled_automatic_campaigns_send_nothing(http: Http, sim: Any) -> None:
    time, queue = sim
    _, lost = http.post("/v1/clients", {"email": "lost@example.com", "last_visit_at": "2020-01-01"})
    http.put(f"/v1/clients/{lost['client_id']}/consent", {"granted": True})
    _, campaign = http.post(
        "/v1/campaigns",
        {
            "name": "Win back",
            "kind": "automatic",
            "subject": "Hello",
            "html": "<p>Hi</p>",
            "audience": {"auto_status": "lost"},
        },
    )
    cid = campaign["campaign_id"]
    assert http.post(f"/v1/campaigns/{cid}/send")[0] == 202
    assert http.post(f"/v1/campaigns/{cid}/pause")[0] == 200
    tick(http, time, queue, days=1)
    assert recipients_of_sent() == {}
    assert http.post(f"/v1/campaigns/{cid}/resume")[1]["status"] == "active"
    tick(http, time, queue, days=1)
    assert recipients_of_sent() == {"lost@example.com": 1}
    assert http.post(f"/v1/campaigns/{cid}/cancel")[0] == 200
    _, late = http.post("/v1/clients", {"email": "late@example.com", "last_visit_at": "2020-01-01"})
    http.put(f"/v1/clients/{late['client_id']}/consent", {"granted": True})
    tick(http, time, queue, days=1)
    assert "late@example.com" not in recipients_of_sent()


def test_cooldown_sends_again_once_per_period(http: Http, sim: Any) -> None:
    time, queue = sim
    _, lost = http.post("/v1/clients", {"email": "again@example.com", "last_visit_at": "2020-01-01"})
    http.put(f"/v1/clients/{lost['client_id']}/consent", {"granted": True})
    status, campaign = http.post(
        "/v1/campaigns",
        {
            "name": "Monthly win-back",
            "kind": "automatic",
            "subject": "Hello",
            "html": "<p>Hi</p>",
            "audience": {"auto_status": "lost"},
            "cooldown_days": 30,
        },
    )
    assert status == 201 and campaign["cooldown_days"] == 30, campaign
    assert http.post(f"/v1/campaigns/{campaign['campaign_id']}/send")[0] == 202
    tick(http, time, queue, days=1)
    for _ in range(4):  # four weekly rounds inside the cooldown: nothing more
        tick(http, time, queue, days=7)
    assert recipients_of_sent() == {"again@example.com": 1}
    tick(http, time, queue, days=3)  # 31 days after the first send
    tick(http, time, queue, days=1)  # and another round right after: still once per period
    assert recipients_of_sent() == {"again@example.com": 2}
    report = http.get(f"/v1/campaigns/{campaign['campaign_id']}/report")[1]
    assert report["sent"] == 1  # the report counts recipients by their delivery's latest state


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "standard", "cooldown_days": 30}, "body"),
        ({"kind": "automatic", "cooldown_days": 0}, "cooldown_days"),
    ],
)
def test_cooldown_is_validated(http: Http, payload: dict[str, Any], field: str) -> None:
    body = {"name": "C", "subject": "S", "html": "<p>x</p>", "audience": {"auto_status": "lost"}, **payload}
    status, answer = http.post("/v1/campaigns", body)
    assert status == 400, answer
    assert field in [d["field"] for d in answer["error"]["details"]]


def test_a_round_reads_only_the_clients_who_entered_the_audience(
    http: Http, sim: Any, account: dict[str, Any]
) -> None:
    """After the first (full) round, a round reads the clients who entered the audience's
    automatic status since the previous round: its cost follows the change, not the audience."""
    time, queue = sim
    deps = get_deps()
    account_id = account["account_id"]

    def lost_client(email: str) -> str:
        _, body = http.post("/v1/clients", {"email": email, "last_visit_at": "2020-01-01"})
        assert body["auto_status"] == "lost"
        http.put(f"/v1/clients/{body['client_id']}/consent", {"granted": True})
        return str(body["client_id"])

    def last_round() -> Any:
        campaign = deps.campaigns.get(account_id, cid, consistent=True)
        return deps.jobs.get(account_id, campaign.job_id, consistent=True)

    # settings written on the simulated clock (the account was made before it started)
    assert http.patch("/v1/account/settings", {"consent_only_campaigns": True})[0] == 200
    for i in range(6):
        lost_client(f"p{i}@example.com")
    _, campaign = http.post(
        "/v1/campaigns",
        {"name": "Win back", "kind": "automatic", "subject": "Hi", "html": "<p>Hi</p>",
         "audience": {"auto_status": "lost"}},
    )  # fmt: skip
    cid = campaign["campaign_id"]
    assert http.post(f"/v1/campaigns/{cid}/send")[0] == 202
    tick(http, time, queue, days=1)
    first = last_round()
    assert "since" not in first.params and (first.status, first.done, first.total) == ("done", 6, 6)
    assert len(recipients_of_sent()) == 6

    newcomers = [lost_client(f"n{i}@example.com") for i in range(2)]
    tick(http, time, queue, minutes=15)
    second = last_round()
    assert second.job_id != first.job_id and second.params["since"]
    assert (second.status, second.done, second.total) == ("done", 2, 2)  # the two who entered
    assert second.result["new_recipients"] == 2
    assert len(deps.client_index.get_many(account_id, newcomers)) == 2

    tick(http, time, queue, minutes=15)
    third = last_round()
    assert (third.status, third.done, third.total) == ("done", 0, 0)  # nobody changed
    sent = recipients_of_sent()
    assert len(sent) == 8 and set(sent.values()) == {1}
