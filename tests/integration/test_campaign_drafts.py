"""Campaign drafts (API.md, second round): edit, delete, duplicate, render, test send, and
scheduled sending fired by its schedule."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.time import to_iso
from tests.integration.conftest import Http, create_account
from tests.integration.sending_support import drain, parsed, sent_messages, simulated

SENDER = "hello@salon.example"
TERMS = "https://salon.example/terms"
INTEREST = "https://salon.example/legitimate-interest"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Any:
    from tests.integration.conftest import verify_sender

    verify_sender(SENDER)
    with simulated() as pair:
        yield pair


def draft(http: Http, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Autumn offer",
        "subject": "Hello {{ first_name }}",
        "html": "<p>20% off, {{ first_name }}.</p>",
        "selection": {"tag": "vip"},
        **extra,
    }
    status, created = http.post("/v1/campaigns", body)
    assert status == 201, created
    return created


def client(http: Http, email: str, **extra: Any) -> str:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return str(body["client_id"])


def schedule_tick(http: Http) -> Any:
    event = http.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return http.client.lambda_.invoke("send_scheduled_campaigns", event).payload


# --- edit, delete, duplicate ----------------------------------------------------------------


def test_a_draft_is_edited_and_checked_like_a_new_campaign(http: Http) -> None:
    campaign = draft(http, text="Hi {{ first_name }}")
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    status, edited = http.patch(path, {"subject": "Last days, {{ first_name }}", "text": None})
    assert status == 200, edited
    assert edited["subject"] == "Last days, {{ first_name }}" and edited["text"] is None
    assert edited["html"] == campaign["html"] and edited["status"] == "draft"
    assert http.get(path)[1]["subject"] == "Last days, {{ first_name }}"
    # the new selection name and the old one both work; the response carries both
    status, edited = http.patch(path, {"audience": {"auto_status": "lost"}})
    assert status == 200 and edited["selection"] == edited["audience"] == {"auto_status": "lost"}
    # what creating refuses, editing refuses (and nothing changes)
    for bad, field in [
        ({"subject": "{{ nope }}"}, "subject"),
        ({"html": None}, "body"),
        ({"name": None}, "name"),
        ({"selection": {"client_ids": ["cl_1"]}}, "selection"),
        ({"selection": {"tag": "x"}, "audience": {"tag": "y"}}, "body"),
        ({"kind": "reactivation"}, "terms_url"),
        ({"cooldown_days": 3}, "body"),
        ({"status": "sent"}, "status"),
    ]:
        status, body = http.patch(path, bad)
        assert status == 400, (bad, body)
        assert any(field in d["field"] for d in body["error"]["details"]), (bad, body)
    assert http.get(path)[1]["subject"] == "Last days, {{ first_name }}"


def test_only_a_draft_can_be_edited_or_deleted(http: Http) -> None:
    client(http, "a@example.com", tags=["vip"])
    campaign = draft(http)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    status, _ = http.post(f"{path}/send", {"acknowledge_non_consented": True})
    assert status == 202
    status, body = http.patch(path, {"subject": "changed"})
    assert status == 409 and body["error"]["code"] == "invalid_campaign_status"
    status, body = http.delete(path)
    assert status == 409 and body["error"]["code"] == "invalid_campaign_status"
    other = draft(http, name="Second")
    assert http.delete(f"/v1/campaigns/{other['campaign_id']}")[0] == 204
    assert http.get(f"/v1/campaigns/{other['campaign_id']}")[0] == 404
    assert http.delete(f"/v1/campaigns/{other['campaign_id']}")[0] == 404


def test_duplicate_makes_a_new_draft_of_any_campaign(http: Http) -> None:
    client(http, "a@example.com", tags=["vip"])
    campaign = draft(http, text="Hi", language="it")
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    http.post(f"{path}/send", {"acknowledge_non_consented": True})
    status, copy = http.post(f"{path}/duplicate")
    assert status == 201, copy
    assert copy["campaign_id"] != campaign["campaign_id"] and copy["status"] == "draft"
    for field in ("kind", "subject", "html", "text", "language", "selection", "terms_url"):
        assert copy[field] == campaign[field], field
    assert copy["name"] == "Autumn offer (copy)"
    assert http.patch(f"/v1/campaigns/{copy['campaign_id']}", {"name": "Spring"})[0] == 200


def test_another_accounts_campaign_is_not_found(api: Any, http: Http) -> None:
    campaign = draft(http)
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    for method, suffix, body in [
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("POST", "/duplicate", None),
        ("POST", "/render", {}),
        ("POST", "/test", {}),
    ]:
        status, _ = other.call(method, path + suffix, body)
        assert status == 404, (method, suffix)
    assert http.get(path)[1]["name"] == "Autumn offer"


# --- render and test send ---------------------------------------------------------------------


def test_render_as_a_client_or_a_sample_with_links_that_record_nothing(http: Http) -> None:
    anna = client(http, "anna@example.com", first_name="Anna", tags=["vip"])
    campaign = draft(http)
    path = f"/v1/campaigns/{campaign['campaign_id']}/render"
    status, rendered = http.post(path, {"client_id": anna})
    assert status == 200, rendered
    assert rendered["subject"] == "Hello Anna" and "20% off, Anna." in rendered["html"]
    assert "Unsubscribe" in rendered["text"]
    status, sample = http.post(path, {})
    assert status == 200 and sample["subject"] == "Hello Alex"
    assert http.post(path, {"client_id": "cl_missing"})[0] == 404
    # the preview's unsubscribe link opens the page, marked as a test, and records nothing
    href = re.search(r'href="([^"]+)" data-cta="unsubscribe"', rendered["html"]).group(1)  # type: ignore[union-attr]
    page = http.client.http.get(urlsplit(href).path)
    assert page.status_code == 200 and "nothing you do on this page is recorded" in page.body.decode()
    done = http.client.http.post(urlsplit(href).path, headers=FORM, body=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert http.get(f"/v1/clients/{anna}")[1]["suppressed"] is False
    assert http.get(f"/v1/clients/{anna}/consent")[1]["events"] == []


def test_a_test_send_is_one_marked_email_whose_links_record_nothing(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    anna = client(http, "anna@example.com", first_name="Anna", tags=["old"])
    status, campaign = http.post(
        "/v1/campaigns",
        {
            "name": "Still with us?",
            "kind": "reactivation",
            "selection": {"tag": "old"},
            "terms_url": TERMS,
            "legitimate_interest_url": INTEREST,
        },
    )
    assert status == 201
    path = f"/v1/campaigns/{campaign['campaign_id']}/test"
    status, sent = http.post(path, {})
    assert status == 202, sent
    assert sent["to"] == SENDER and sent["subject"].startswith("[TEST] ")
    status, sent = http.post(path, {"email": "anna@example.com"})
    assert status == 202 and sent["to"] == "anna@example.com"
    messages = [parsed(m) for m in sent_messages()]
    assert len(messages) == 2 and all(str(m["Subject"]).startswith("[TEST] ") for m in messages)
    html = messages[1].get_body(preferencelist=("html",)).get_content()
    assert "Anna" in html  # rendered for the client who owns the address
    ctas = {
        cta: urlsplit(href).path for href, cta in re.findall(r'<a href="([^"]+)" data-cta="([a-z]+)"', html)
    }
    assert set(ctas) == {"confirm", "decline", "unsubscribe"}
    for cta in ("confirm", "decline"):
        page = http.client.http.get(ctas[cta])
        assert page.status_code == 200 and "nothing you do on this page is recorded" in page.body.decode()
        done = http.client.http.post(ctas[cta], headers=FORM, body=b"choice=x")
        assert done.status_code == 200 and "nothing you do" in done.body.decode()
    one_click = messages[1]["List-Unsubscribe"].strip("<>")
    assert (
        http.client.http.post(
            urlsplit(one_click).path, headers=FORM, body=b"List-Unsubscribe=One-Click"
        ).status_code
        == 200
    )
    consent = http.get(f"/v1/clients/{anna}/consent")[1]
    assert consent["state"] == "unknown" and consent["events"] == [] and consent["suppressed"] is False
    assert http.get(f"/v1/campaigns/{campaign['campaign_id']}")[1]["status"] == "draft"
    assert http.get(f"/v1/campaigns/{campaign['campaign_id']}/report")[1]["recipients"] == 0


def test_test_sends_are_limited_per_account(http: Http, sim: Any) -> None:
    from chalicelib.services.previews import TEST_SENDS_PER_HOUR

    campaign = draft(http)
    path = f"/v1/campaigns/{campaign['campaign_id']}/test"
    for _ in range(TEST_SENDS_PER_HOUR):
        assert http.post(path, {})[0] == 202
    status, body = http.post(path, {})
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert http.post(path, {"email": "not an address"})[0] == 400


# --- scheduled sending ------------------------------------------------------------------------


def test_scheduled_send_waits_for_its_time_and_is_fired_by_the_schedule(http: Http, sim: Any) -> None:
    time, queue = sim
    client(http, "a@example.com", tags=["vip"])
    campaign = draft(http)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    past = to_iso(time.now - timedelta(minutes=1))
    status, body = http.post(f"{path}/send", {"send_at": past, "acknowledge_non_consented": True})
    assert status == 400 and body["error"]["details"][0]["field"] == "send_at"
    # the consent gate is asked when scheduling, as when sending
    at = to_iso(time.now + timedelta(hours=2))
    status, body = http.post(f"{path}/send", {"send_at": at})
    assert status == 409 and body["error"]["code"] == "non_consented_recipients"
    status, scheduled = http.post(f"{path}/send", {"send_at": at, "acknowledge_non_consented": True})
    assert status == 202 and scheduled["status"] == "scheduled" and scheduled["send_at"] == at
    assert http.patch(path, {"name": "x"})[0] == 409  # not a draft while scheduled
    assert schedule_tick(http) == {"started": 0, "returned_to_draft": 0}
    time.advance(hours=2, seconds=1)
    assert schedule_tick(http) == {"started": 1, "returned_to_draft": 0}
    assert schedule_tick(http) == {"started": 0, "returned_to_draft": 0}  # fired once
    drain(http.client, queue)
    assert http.get(path)[1]["status"] == "sent"
    assert len(sent_messages()) == 1


def test_cancel_before_the_time_returns_a_scheduled_campaign_to_draft(http: Http, sim: Any) -> None:
    time, _ = sim
    campaign = draft(http)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    at = to_iso(time.now + timedelta(days=1))
    assert http.post(f"{path}/send", {"send_at": at})[1]["status"] == "scheduled"
    status, cancelled = http.post(f"{path}/cancel")
    assert status == 200 and cancelled["status"] == "draft" and cancelled["send_at"] is None
    time.advance(days=2)
    assert schedule_tick(http)["started"] == 0
    assert http.patch(path, {"name": "Edited after all"})[0] == 200
    assert http.delete(path)[0] == 204


def test_a_scheduled_send_that_would_now_need_an_acknowledgement_returns_to_draft(
    http: Http, sim: Any
) -> None:
    time, _ = sim
    campaign = draft(http)  # nobody holds the tag yet: nothing to acknowledge
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    at = to_iso(time.now + timedelta(minutes=30))
    assert http.post(f"{path}/send", {"send_at": at})[0] == 202
    client(http, "late@example.com", tags=["VIP"])  # without consent, and any spelling counts
    time.advance(hours=1)
    assert schedule_tick(http) == {"started": 0, "returned_to_draft": 1}
    body = http.get(path)[1]
    assert body["status"] == "draft" and body["schedule_error"] == "non_consented_recipients"
    assert not sent_messages()
    deps = get_deps()
    assert deps.campaigns.due_to_send(deps.clock(), limit=10) == []
