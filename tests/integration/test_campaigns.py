"""Campaigns through the HTTP API: create/read, preview and the consent gate, the pipeline
to SES (moto), unsubscribe, bounces and complaints, suspension, the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.consent import EventType, Source
from chalicelib.services.consent import ConsentChange, record_consent
from chalicelib.storage.models import AccountDayStatsModel, ConsentEventModel, DeliveryModel
from tests.integration.conftest import Http, create_account, create_clients
from tests.integration.sending_support import (
    SimQueue,
    SimTime,
    deliver,
    drain,
    parsed,
    recipients_of_sent,
    sent_messages,
    simulated,
)

SENDER = "hello@salon.example"
HTML = '<p>Ciao {{ first_name }}!</p><p><a href="https://salon.example/offer">Our offer</a></p>'


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    from tests.integration.conftest import verify_sender

    verify_sender(SENDER)
    with simulated() as pair:
        yield pair


def add_clients(http: Http, n: int, *, tag: str = "vip", prefix: str = "c") -> list[str]:
    """``n`` clients as ``POST /v1/clients`` creates them (in process: see create_clients)."""
    return create_clients(
        http, [{"email": f"{prefix}{i}@example.com", "first_name": f"N{i}", "tags": [tag]} for i in range(n)]
    )


def grant(http: Http, client_ids: list[str], granted: bool = True) -> None:
    for client_id in client_ids:
        status, body = http.put(f"/v1/clients/{client_id}/consent", {"granted": granted})
        assert status == 200, body


def suppress(account_id: str, client_id: str) -> None:
    deps = get_deps()
    account = deps.accounts.get(account_id)
    record_consent(
        deps,
        account,
        client_id,
        ConsentChange(type=EventType.UNSUBSCRIBED, source=Source.ONE_CLICK_UNSUBSCRIBE),
    )


def new_campaign(http: Http, audience: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Autumn",
        "subject": "Hi {{ first_name }}",
        "html": HTML,
        "audience": audience or {"tag": "vip"},
    }
    status, campaign = http.post("/v1/campaigns", {**body, **extra})
    assert status == 201, campaign
    return campaign


def test_create_get_and_list(http: Http) -> None:
    campaign = new_campaign(http)
    assert campaign["status"] == "draft" and campaign["kind"] == "standard"
    assert campaign["audience"] == {"tag": "vip"} and campaign["campaign_id"].startswith("cmp_")
    status, got = http.get(f"/v1/campaigns/{campaign['campaign_id']}")
    assert status == 200 and got["subject"] == "Hi {{ first_name }}"
    new_campaign(http, name="Second")
    status, page = http.get("/v1/campaigns?limit=1")
    assert status == 200 and len(page["items"]) == 1 and page["next_cursor"]
    status, rest = http.get(f"/v1/campaigns?limit=5&cursor={page['next_cursor']}")
    assert status == 200 and len(rest["items"]) == 1 and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"html": "<p>{{ secret }}</p>"}, "html"),
        ({"subject": "{% if %}"}, "subject"),
        ({"html": None, "text": None}, "body"),
        ({"audience": {"tag": "x", "filter": {}}}, "audience"),
        ({"audience": {"filter": {"field": "nope", "op": "eq", "value": 1}}}, "audience.filter"),
        ({"kind": "weekly"}, "kind"),
        ({"kind": "reactivation"}, "terms_url"),
    ],
)
def test_invalid_campaigns_are_400_with_details(http: Http, body: dict[str, Any], field: str) -> None:
    base = {"name": "X", "subject": "S", "html": "<p>x</p>", "audience": {"tag": "vip"}}
    status, error = http.post("/v1/campaigns", {**base, **body})
    assert status == 400, error
    assert any(d["field"].startswith(field) for d in error["error"]["details"]), error


def test_other_accounts_campaigns_and_lists_are_not_found(api: Any, http: Http) -> None:
    campaign = new_campaign(http)
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    for method, path in (
        ("get", f"/v1/campaigns/{campaign['campaign_id']}"),
        ("post", f"/v1/campaigns/{campaign['campaign_id']}/send"),
        ("get", f"/v1/campaigns/{campaign['campaign_id']}/report"),
        ("post", f"/v1/campaigns/{campaign['campaign_id']}/pause"),
    ):
        status, body = getattr(other, method)(path)
        assert status == 404, (path, body)
    status, body = other.post(
        "/v1/campaigns",
        {"name": "X", "subject": "S", "html": "<p>x</p>", "audience": {"list_id": "lst_01ABC"}},
    )
    assert status == 404, body


def test_preview_and_the_consent_gate(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, 6)
    grant(http, ids[:2])  # 2 granted
    grant(http, ids[2:3], granted=False)  # 1 denied by staff
    suppress(account["account_id"], ids[3])  # 1 unsubscribed; ids[4:] unknown
    campaign = new_campaign(http)
    cid = campaign["campaign_id"]
    status, preview = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 200, preview
    assert {
        k: preview[k] for k in ("recipients", "consented", "not_consented", "suppressed", "will_send")
    } == {
        "recipients": 6,
        "consented": 2,
        "not_consented": 2,
        "suppressed": 2,
        "will_send": 4,
    }
    assert [w["code"] for w in preview["warnings"]] == ["non_consented_recipients", "suppressed_recipients"]
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["code"] == "non_consented_recipients"
    assert refused["error"]["details"]["count"] == 2
    status, sending = http.post(f"/v1/campaigns/{cid}/send", {"acknowledge_non_consented": True})
    assert status == 202 and sending["status"] == "sending", sending
    drain(http.client, queue)
    status, report = http.get(f"/v1/campaigns/{cid}/report")
    assert status == 200, report
    assert (report["recipients"], report["sent"], report["suppressed"], report["excluded_no_consent"]) == (
        6,
        4,
        2,
        0,
    )
    assert report["sent"] + report["suppressed"] + report["excluded_no_consent"] + report["failed"] == 6
    assert sorted(recipients_of_sent()) == sorted(f"c{i}@example.com" for i in (0, 1, 4, 5))
    assert http.get(f"/v1/campaigns/{cid}")[1]["status"] == "sent"
    status, again = http.post(f"/v1/campaigns/{cid}/send", {"acknowledge_non_consented": True})
    assert status == 409 and again["error"]["code"] == "invalid_campaign_status"


def test_consent_only_excludes_the_non_consented(http: Http, sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, 4)
    grant(http, ids[:1])
    assert http.patch("/v1/account/settings", {"consent_only_campaigns": True})[0] == 200
    campaign = new_campaign(http)
    status, preview = http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")
    assert preview["will_send"] == 1 and preview["warnings"][0]["code"] == "excluded_no_consent"
    status, body = http.post(f"/v1/campaigns/{campaign['campaign_id']}/send")
    assert status == 202, body
    drain(http.client, queue)
    report = http.get(f"/v1/campaigns/{campaign['campaign_id']}/report")[1]
    assert (report["recipients"], report["sent"], report["excluded_no_consent"]) == (4, 1, 3)
    assert list(recipients_of_sent()) == ["c0@example.com"]


def test_a_list_audience_and_a_filter_audience(http: Http, sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, 3)
    add_clients(http, 2, tag="other", prefix="o")
    status, lst = http.post("/v1/lists", {"name": "L", "source": {"client_ids": ids[:2]}})
    assert status == 201, lst
    by_list = new_campaign(http, {"list_id": lst["list_id"]})
    by_filter = new_campaign(http, {"filter": {"field": "tags", "op": "contains", "value": "other"}})
    for campaign in (by_list, by_filter):
        status, body = http.post(
            f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
        )
        assert status == 202, body
    drain(http.client, queue)
    assert sorted(recipients_of_sent()) == [
        "c0@example.com",
        "c1@example.com",
        "o0@example.com",
        "o1@example.com",
    ]


def test_every_email_carries_one_click_unsubscribe(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    (client_id,) = add_clients(http, 1)
    campaign = new_campaign(http, language="it")
    http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
    drain(http.client, queue)
    (message,) = sent_messages()
    mail = parsed(message)
    url = str(mail["List-Unsubscribe"]).strip("<>")
    assert url.startswith("https://permesso.test/p/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == "Hi N0"
    html = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert (
        f'href="{url}" data-cta="unsubscribe"' in html and "Annulla l&#x27;iscrizione" in html
    ) or "Annulla" in html
    assert url in text and "Ciao N0!" in text
    path = url.removeprefix("https://permesso.test")
    # Opening the visible link changes nothing: a page with a POST button.
    response = http.client.http.get(path)
    assert response.status_code == 200 and b'method="post"' in response.body
    assert http.get(f"/v1/clients/{client_id}")[1]["suppressed"] is False
    # The RFC 8058 one-click POST.
    response = http.client.http.post(
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"List-Unsubscribe=One-Click",
    )
    assert response.status_code == 200
    client = http.get(f"/v1/clients/{client_id}")[1]
    assert client["suppressed"] is True and client["consent"]["state"] == "denied"
    events = http.get(f"/v1/clients/{client_id}/consent")[1]["events"]
    assert events[-1]["type"] == "unsubscribed" and events[-1]["source"] == "one_click_unsubscribe"
    assert events[-1]["campaign_id"] == campaign["campaign_id"]
    report = http.get(f"/v1/campaigns/{campaign['campaign_id']}/report")[1]
    assert report["unsubscribed"] == 1 and report["sent"] == 1
    # A tampered token: the uniform 404 page.
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert http.client.http.get(tampered).status_code == 404
    assert (
        http.client.http.post(
            tampered,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"List-Unsubscribe=One-Click",
        ).status_code
        == 404
    )


def test_a_suspended_account_gets_423_and_its_reason(http: Http, account: dict[str, Any]) -> None:
    from chalicelib.services.suspension import suspend

    campaign = new_campaign(http)
    suspend(get_deps(), account["account_id"], "bounce_rate")
    status, body = http.post(
        f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
    )
    assert status == 423 and body["error"]["code"] == "account_suspended"
    me = http.get("/v1/account")[1]
    assert me["status"] == "suspended" and me["suspension"]["reason"] == "bounce_rate"
    from tests.integration.conftest import OPERATOR

    status, body = http.post(f"/v1/accounts/{account['account_id']}/reinstate", headers=OPERATOR)
    assert status == 200 and body["status"] == "active"


# --- SES events through SNS -------------------------------------------------------------------


def _publish(notification: dict[str, Any]) -> list[dict[str, Any]]:
    """Publish to the SES events topic (subscribed to the ses-events queue, as the local stack
    and infra wire it) and take what arrives on the queue."""
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    sns = boto3.client("sns", region_name=settings.region)
    sqs = boto3.client("sqs", region_name=settings.region)
    topic = sns.create_topic(Name=settings.resource_name("ses-events"))["TopicArn"]
    url = sqs.get_queue_url(QueueName=settings.resource_name("ses-events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message=json.dumps(notification))
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def _notification(kind: str, account_id: str, campaign_id: str, client_id: str, email: str) -> dict[str, Any]:
    mail = {
        "messageId": "ses-1",
        "destination": [email],
        "tags": {"account_id": [account_id], "campaign_id": [campaign_id], "client_id": [client_id]},
    }
    if kind == "Complaint":
        return {
            "notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": email}]},
            "mail": mail,
        }
    bounce_type = "Permanent" if kind == "hard" else "Transient"
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bouncedRecipients": [{"emailAddress": email}]},
        "mail": mail,
    }


def test_hard_bounce_and_complaint_via_sns(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, 2)
    campaign = new_campaign(http)
    cid, aid = campaign["campaign_id"], account["account_id"]
    http.post(f"/v1/campaigns/{cid}/send", {"acknowledge_non_consented": True})
    drain(http.client, queue)
    for kind, client_id, email in (
        ("hard", ids[0], "c0@example.com"),
        ("Complaint", ids[1], "c1@example.com"),
    ):
        (body,) = _publish(_notification(kind, aid, cid, client_id, email))
        assert body["Type"] == "Notification"
        assert deliver(http.client, "ses-events", body)
        assert deliver(http.client, "ses-events", body)  # a redelivery counts nothing twice
    bounced = DeliveryModel.get(cid, ids[0])
    complained = DeliveryModel.get(cid, ids[1])
    assert (bounced.bounce, complained.bounce) == ("hard", "complaint")
    for client_id, event in ((ids[0], "bounced"), (ids[1], "complained")):
        client = http.get(f"/v1/clients/{client_id}")[1]
        assert client["suppressed"] is True
        types = [e.type for e in ConsentEventModel.query(f"{aid}#{client_id}")]
        assert event in types
    report = http.get(f"/v1/campaigns/{cid}/report")[1]
    assert (report["bounced"], report["complained"], report["sent"]) == (1, 1, 2)
    (day,) = list(AccountDayStatsModel.query(aid))
    assert (int(day.sent), int(day.hard_bounces), int(day.complaints)) == (2, 1, 1)
    # 2 sent is far below the 200 minimum: no suspension yet.
    assert http.get("/v1/account")[1]["status"] == "active"


def test_three_soft_bounces_in_five_suppress(http: Http, account: dict[str, Any], sim: Any) -> None:
    from chalicelib.services.ses_events import handle_event

    _, queue = sim
    (client_id,) = add_clients(http, 1)
    aid = account["account_id"]
    campaigns = []
    for i in range(3):
        campaign = new_campaign(http, name=f"C{i}")
        http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
        drain(http.client, queue)
        campaigns.append(campaign["campaign_id"])
    for i, cid in enumerate(campaigns):
        result = handle_event(
            get_deps(), json.dumps(_notification("soft", aid, cid, client_id, "c0@example.com"))
        )
        assert result == ("soft_suppressed" if i == 2 else "soft"), result
    assert http.get(f"/v1/clients/{client_id}")[1]["suppressed"] is True


def test_the_soft_bounce_rule_finds_the_clients_messages_among_the_accounts_campaigns(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deliveries have no index by client: the rule looks through the account's campaigns,
    # newest first. Campaigns that did not mail the client (another tag, a draft) are passed
    # over; a soft bounce further back than the look-back does not count.
    from chalicelib.services import ses_events
    from chalicelib.services.ses_events import _latest_sent, handle_event

    _, queue = sim
    (client_id,) = add_clients(http, 1)
    add_clients(http, 1, tag="other", prefix="o")
    aid = account["account_id"]

    def send(audience: dict[str, Any] | None = None) -> str:
        campaign = new_campaign(http, audience)
        http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
        drain(http.client, queue)
        return str(campaign["campaign_id"])

    def soft(cid: str) -> Any:
        return handle_event(
            get_deps(), json.dumps(_notification("soft", aid, cid, client_id, "c0@example.com"))
        )

    oldest, middle, newest = send(), send(), send()
    for _ in range(3):  # newer campaigns, none of them to the client
        send({"tag": "other"})
        new_campaign(http)  # a draft
    monkeypatch.setattr(ses_events, "SOFT_PAGE", 2)  # the look-back crosses pages
    assert [d.campaign_id for d in _latest_sent(get_deps(), aid, client_id)] == [newest, middle, oldest]

    monkeypatch.setattr(ses_events, "SOFT_PAGE", 1)
    monkeypatch.setattr(ses_events, "SOFT_LOOKBACK", 5)  # the three others, newest, middle
    assert [soft(oldest), soft(middle), soft(newest)] == ["soft", "soft", "soft"]
    assert http.get(f"/v1/clients/{client_id}")[1]["suppressed"] is False  # the oldest is too far back
    latest = send()
    monkeypatch.setattr(ses_events, "SOFT_LOOKBACK", 6)  # latest, the three others, newest, middle
    assert soft(latest) == "soft_suppressed"  # latest, newest, middle: three soft bounces
    assert http.get(f"/v1/clients/{client_id}")[1]["suppressed"] is True


def test_reputation_suspends_and_stops_in_flight_campaigns(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    from chalicelib.services.ses_events import handle_event

    _, queue = sim
    aid = account["account_id"]
    ids = add_clients(http, 200)
    first = new_campaign(http)
    http.post(f"/v1/campaigns/{first['campaign_id']}/send", {"acknowledge_non_consented": True})
    drain(http.client, queue)
    assert len(sent_messages()) == 200
    second = new_campaign(http, name="Second")
    http.post(f"/v1/campaigns/{second['campaign_id']}/send", {"acknowledge_non_consented": True})
    # The fan-out runs; before any batch is sent, 10 hard bounces (5 %) arrive.
    while queue.pending("jobs"):
        entry = queue.pop()
        assert entry is not None
        if entry.queue == "jobs":
            assert deliver(http.client, "jobs", entry.body)
        else:
            queue.send(entry.queue, entry.body)
    for client_id in ids[:10]:
        handle_event(
            get_deps(),
            json.dumps(_notification("hard", aid, first["campaign_id"], client_id, "x@example.com")),
        )
    me = http.get("/v1/account")[1]
    assert me["status"] == "suspended" and me["suspension"]["reason"] == "bounce_rate"
    assert me["reputation"]["sent_7d"] == 200 and me["reputation"]["bounce_rate_7d"] == 0.05
    drain(http.client, queue)
    assert len(sent_messages()) == 200  # nothing more went out
    paused = http.get(f"/v1/campaigns/{second['campaign_id']}")[1]
    assert paused["status"] == "paused" and paused["paused_reason"] == "account_suspended"
    status, body = http.post(f"/v1/campaigns/{second['campaign_id']}/resume")
    assert status == 423, body


def test_circuit_breaker_pauses_a_heavily_bouncing_campaign(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services.ses_events import handle_event

    _, queue = sim
    deps = get_deps()
    monkeypatch.setattr(deps, "settings", deps.settings.model_copy(update={"send_batch_size": 25}))
    aid = account["account_id"]
    ids = add_clients(http, 60)
    campaign = new_campaign(http)
    cid = campaign["campaign_id"]
    http.post(f"/v1/campaigns/{cid}/send", {"acknowledge_non_consented": True})
    # Send the first two batches (50), leave the rest queued.
    drain(http.client, queue, stop=lambda: len(sent_messages()) >= 50)
    # 20 hard bounces = 10 % of the 200-send sample: the breaker trips (50 sent is under the
    # 200 that account suspension needs, so the account stays active).
    for client_id in ids[:20]:
        handle_event(deps, json.dumps(_notification("hard", aid, cid, client_id, "x@example.com")))
    assert http.get("/v1/account")[1]["status"] == "active"
    body = http.get(f"/v1/campaigns/{cid}")[1]
    assert body["status"] == "paused" and body["paused_reason"] == "circuit_breaker"
    drain(http.client, queue)
    assert len(sent_messages()) == 50


def test_export_lists_the_clients_deliveries(http: Http, sim: Any) -> None:
    _, queue = sim
    (client_id,) = add_clients(http, 1)
    campaign = new_campaign(http)
    http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
    drain(http.client, queue)
    status, export = http.get(f"/v1/clients/{client_id}/export")
    assert status == 200, export
    (delivery,) = export["deliveries"]
    assert delivery["campaign_id"] == campaign["campaign_id"] and delivery["status"] == "sent"


def test_export_finds_every_delivery_among_the_accounts_campaigns(http: Http, sim: Any) -> None:
    # Found through the account's campaigns (no index by client): every campaign that mailed the
    # client, newest first, and none that did not (another tag, a draft).
    _, queue = sim
    (client_id,) = add_clients(http, 1)
    add_clients(http, 1, tag="other", prefix="o")
    mailed = []
    for audience in ({"tag": "vip"}, {"tag": "other"}, {"tag": "vip"}):
        campaign = new_campaign(http, audience)
        http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
        drain(http.client, queue)
        if audience["tag"] == "vip":
            mailed.append(campaign["campaign_id"])
    new_campaign(http)  # a draft
    status, export = http.get(f"/v1/clients/{client_id}/export")
    assert status == 200, export
    assert [d["campaign_id"] for d in export["deliveries"]] == mailed[::-1]
    assert {d["status"] for d in export["deliveries"]} == {"sent"}


def test_a_volume_spike_suspends_once_past_warm_up(http: Http, account: dict[str, Any]) -> None:
    from datetime import timedelta

    from chalicelib.services.suspension import after_sends

    deps = get_deps()
    aid = account["account_id"]
    created = deps.accounts.get(aid).created_at
    today = created + timedelta(days=20)
    for days_ago in range(1, 20):
        deps.stats.add(aid, (today - timedelta(days=days_ago)).date(), sent=20)
    # 150 today: the check runs only when the day crosses a multiple of 200 sends.
    after_sends(deps, aid, 150, 150, today)
    assert http.get("/v1/account")[1]["status"] == "active"
    after_sends(deps, aid, 70, 220, today)  # crosses 200: 220 > 10 x the trailing 20 a day
    me = http.get("/v1/account")[1]
    assert me["status"] == "suspended" and me["suspension"]["reason"] == "volume_spike"


def test_no_volume_spike_at_the_usual_volume(http: Http, account: dict[str, Any]) -> None:
    from datetime import timedelta

    from chalicelib.services.suspension import after_sends

    deps = get_deps()
    aid = account["account_id"]
    today = deps.accounts.get(aid).created_at + timedelta(days=20)
    for days_ago in range(1, 20):
        deps.stats.add(aid, (today - timedelta(days=days_ago)).date(), sent=100)
    after_sends(deps, aid, 400, 400, today)  # 400 < 10 x 100
    assert http.get("/v1/account")[1]["status"] == "active"


def test_a_finished_campaign_takes_its_account_out_of_the_senders_at_once(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The others' shares grow when a campaign ends, not ``SENDING_HORIZON`` after its last
    slot: the seconds in which its share went unused by everybody."""
    from chalicelib.services import pacing
    from tests.integration.sending_support import crowd, deliver

    time, queue = sim
    deps = get_deps()
    crowd(deps, time, n=2)
    grant(http, add_clients(http, 3))
    cid = new_campaign(http)["campaign_id"]
    when_done: list[set[str]] = []
    real_leave = pacing.leave

    def leave(deps: Any, account_id: str) -> None:
        when_done.append(set(deps.throttle.senders(pacing.SENDERS_BUCKET)[0]))
        real_leave(deps, account_id)

    monkeypatch.setattr(pacing, "leave", leave)
    assert http.post(f"/v1/campaigns/{cid}/send")[0] == 202
    while (entry := queue.pop()) is not None:
        assert deliver(http.client, entry.queue, entry.body)
    assert http.get(f"/v1/campaigns/{cid}")[1]["status"] == "sent"
    others = {"acc_other0", "acc_other1"}
    assert when_done == [others | {account["account_id"]}]  # it was sending when it finished…
    assert set(deps.throttle.senders(pacing.SENDERS_BUCKET)[0]) == others  # …and left then
