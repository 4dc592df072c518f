"""Reactivation campaigns (seed 003) through the HTTP API: validation and the default
template, the e-mail's CTA links, the scanner-proof confirm/decline pages and their
evidence, tokens, the report, and wait-then-segment with an injected clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import ConsentEventModel, ListMemberModel
from tests.integration.conftest import Http, create_account, create_clients
from tests.integration.sending_support import SimQueue, SimTime, drain, parsed, sent_messages, simulated

SENDER = "hello@salon.example"
TERMS = "https://salon.example/terms"
INTEREST = "https://salon.example/legitimate-interest"
IP = "198.51.100.23"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SPOOFED = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.7", "X-Real-IP": "6.6.6.8"}


@pytest.fixture
def sim(
    api: Any, account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SimTime, SimQueue]]:
    from tests.integration.conftest import verify_sender

    verify_sender(SENDER)
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", IP)
    with simulated() as pair:
        yield pair


def add_clients(
    http: Http, names: list[str], *, tag: str = "old", language: str | None = None
) -> dict[str, str]:
    """Clients as ``POST /v1/clients`` creates them (in process: see create_clients), by name."""
    bodies: list[dict[str, Any]] = []
    for name in names:
        body: dict[str, Any] = {
            "email": f"{name}@example.com",
            "first_name": name.capitalize(),
            "tags": [tag],
        }
        if language:
            body["language"] = language
        bodies.append(body)
    return dict(zip(names, create_clients(http, bodies), strict=True))


def new_reactivation(http: Http, **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "name": "Do you still want our news?",
        "kind": "reactivation",
        "audience": {"tag": "old"},
        "terms_url": TERMS,
        "legitimate_interest_url": INTEREST,
        **extra,
    }
    return http.post("/v1/campaigns", body)


def send_and_drain(http: Http, queue: SimQueue, campaign_id: str) -> None:
    status, body = http.post(f"/v1/campaigns/{campaign_id}/send", {})
    assert status == 202, body
    drain(http.client, queue)
    status, body = http.get(f"/v1/campaigns/{campaign_id}")
    assert body["status"] == "awaiting_responses", body


def links_by_recipient() -> dict[str, dict[str, str]]:
    """``address → {cta: path}`` of every e-mail sent."""
    found: dict[str, dict[str, str]] = {}
    for message in sent_messages():
        mail = parsed(message)
        html = mail.get_body(preferencelist=("html",)).get_content()
        ctas = {}
        for href, cta in re.findall(r'<a href="([^"]+)" data-cta="([a-z]+)"', html):
            ctas[cta] = urlsplit(href).path
        found[str(mail["To"]).lower()] = ctas
    return found


def run_schedule(http: Http) -> Any:
    event = http.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return http.client.lambda_.invoke("segment_due_campaigns", event)


def get_page(http: Http, path: str, **headers: str) -> tuple[int, str]:
    response = http.client.http.get(path, headers=headers)
    return response.status_code, response.body.decode()


def post_page(http: Http, path: str, **headers: str) -> tuple[int, str]:
    response = http.client.http.post(path, headers={**FORM, **headers}, body=b"choice=x")
    return response.status_code, response.body.decode()


def consent_of(http: Http, client_id: str) -> dict[str, Any]:
    status, body = http.get(f"/v1/clients/{client_id}/consent")
    assert status == 200, body
    return body


# --- creation --------------------------------------------------------------------------------


def test_needs_https_terms_and_interest_urls(http: Http) -> None:
    status, body = http.post(
        "/v1/campaigns", {"name": "R", "kind": "reactivation", "audience": {"tag": "old"}}
    )
    assert status == 400 and {d["field"] for d in body["error"]["details"]} >= {
        "terms_url",
        "legitimate_interest_url",
    }
    status, body = new_reactivation(http, terms_url="http://salon.example/terms")
    assert status == 400 and "terms_url" in str(body["error"]["details"])
    # From the account settings instead.
    status, _ = http.patch(
        "/v1/account/settings", {"terms_url": TERMS, "legitimate_interest_url": INTEREST, "language": "cs"}
    )
    assert status == 200
    status, body = http.post(
        "/v1/campaigns", {"name": "R", "kind": "reactivation", "audience": {"tag": "old"}}
    )
    assert status == 201, body
    assert body["terms_url"] == TERMS and body["legitimate_interest_url"] == INTEREST


def test_default_template_wait_days_and_warnings(http: Http) -> None:
    status, body = new_reactivation(http)
    assert status == 201, body
    assert body["wait_days"] == 7 and body["warnings"] == []
    assert body["subject"] == "{{ business_name }}: may we keep writing to you?"
    status, body = new_reactivation(http, wait_days=2, language="it")
    assert status == 201 and body["wait_days"] == 2
    assert [w["code"] for w in body["warnings"]] == ["wait_days_unusual"]
    assert "possiamo continuare" in body["subject"]
    for bad in (31, -1):
        status, body = new_reactivation(http, wait_days=bad)
        assert status == 400 and body["error"]["details"][0]["field"] == "wait_days"


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hello {{ first_name }}</p>",
        '<p><a href="{{ confirm_url }}" data-cta="confirm">Yes</a> {{ terms_url }} {{ legitimate_interest_url }}</p>',
        '<a href="{{ decline_url }}" data-cta="confirm">x</a><a href="{{ confirm_url }}" data-cta="decline">y</a>'
        "{{ terms_url }}{{ legitimate_interest_url }}",
        '<a href="{{ confirm_url }}" data-cta="confirm">Y</a><a href="{{ decline_url }}" data-cta="decline">N</a>',
    ],
)
def test_an_override_without_ctas_or_links_is_refused(http: Http, html: str) -> None:
    status, body = new_reactivation(http, subject="Hi", html=html)
    assert status == 400 and body["error"]["details"], body
    assert all(d["field"] == "html" for d in body["error"]["details"])


def test_an_override_with_ctas_and_links_is_accepted(http: Http) -> None:
    html = (
        "<p>Hi {{ first_name }}, shall we stay in touch?</p>"
        '<p><a href="{{ confirm_url }}" data-cta="confirm">Yes</a> '
        '<a href="{{ decline_url }}" data-cta="decline">No</a></p>'
        '<p><a href="{{ terms_url }}">Terms</a> <a href="{{ legitimate_interest_url }}">Why</a></p>'
    )
    status, body = new_reactivation(http, subject="Still friends, {{ first_name }}?", html=html)
    assert status == 201, body
    assert body["html"] == html


# --- sending, pages, evidence ------------------------------------------------------------------


def test_audience_is_only_unknown_consent(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, ["anna", "bea", "carl", "dora"])
    http.put(f"/v1/clients/{ids['bea']}/consent", {"granted": True})
    http.put(f"/v1/clients/{ids['carl']}/consent", {"granted": False})
    from tests.integration.test_campaigns import suppress

    suppress(account["account_id"], ids["dora"])
    _status, campaign = new_reactivation(http)
    _status, preview = http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")
    assert preview["will_send"] == 1
    send_and_drain(http, queue, campaign["campaign_id"])  # no consent gate (no acknowledgement)
    assert sorted(links_by_recipient()) == ["anna@example.com"]


def test_confirm_and_decline_pages_record_evidence(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, ["anna", "bea"])
    http.patch(f"/v1/clients/{ids['bea']}", {"language": "cs"})
    status, campaign = new_reactivation(http)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    links = links_by_recipient()
    assert set(links["anna@example.com"]) == {"confirm", "decline", "unsubscribe"}
    (message,) = [m for m in sent_messages() if "anna@" in str(parsed(m)["To"])]
    html = parsed(message).get_body(preferencelist=("html",)).get_content()
    assert "Hello Anna," in html and TERMS in html and INTEREST in html
    assert "#0b6b2e" in html and "#a4000f" in html
    (czech,) = [m for m in sent_messages() if "bea@" in str(parsed(m)["To"])]
    assert "Dobrý den, Bea," in parsed(czech).get_body(preferencelist=("html",)).get_content()
    assert parsed(czech)["Subject"].endswith("můžeme vám dál psát?")

    confirm = links["anna@example.com"]["confirm"]
    # GET (a mail scanner, say) records only "opened", changes nothing.
    status, page = get_page(http, confirm, **SPOOFED)
    assert status == 200 and '<form method="post"' in page and "<script" not in page
    assert f'href="{TERMS}"' in page and f'href="{INTEREST}"' in page and '<html lang="en">' in page
    state = consent_of(http, ids["anna"])
    assert state["state"] == "unknown" and [e["type"] for e in state["events"]] == ["opened"]

    status, page = post_page(http, confirm, **{"User-Agent": "Mozilla/5.0 Test", **SPOOFED})
    assert status == 200 and "Thank you for confirming" in page
    assert 'data-cta="decline"' in page and '<form method="post"' in page  # the change-of-mind form
    state = consent_of(http, ids["anna"])
    assert state["state"] == "granted" and state["confirmed_at"]
    event = state["events"][-1]
    assert (event["type"], event["source"], event["campaign_id"]) == (
        "granted",
        "reactivation_campaign",
        campaign_id,
    )
    assert event["ip"] == IP and event["user_agent"] == "Mozilla/5.0 Test"
    assert (event["terms_url"], event["legitimate_interest_url"]) == (TERMS, INTEREST)
    assert "6.6.6" not in str(state)

    # Decline, in Czech (the client's language).
    decline = links["bea@example.com"]["decline"]
    status, page = get_page(http, decline)
    assert status == 200 and '<html lang="cs">' in page
    status, page = post_page(http, decline)
    assert status == 200 and "Vaši volbu jsme zaznamenali" in page
    status, client = http.get(f"/v1/clients/{ids['bea']}")
    assert client["consent"]["state"] == "denied" and client["suppressed"] is True

    # Anna changes her mind through the thank-you page's second form: latest choice wins.
    other = re.search(r'<form method="post" action="([^"]+)"', post_page(http, confirm)[1])
    assert other is not None
    status, page = post_page(http, confirm.rsplit("/", 1)[0] + "/" + other.group(1))
    assert status == 200
    assert consent_of(http, ids["anna"])["state"] == "denied"
    types = [e["type"] for e in consent_of(http, ids["anna"])["events"]]
    assert types == ["opened", "granted", "granted", "denied"]  # every POST is logged

    status, report = http.get(f"/v1/campaigns/{campaign_id}/report")
    assert (report["confirmed"], report["declined"], report["no_response"]) == (0, 2, 0)
    # The campaign's counters follow the latest answers, so the report outlives the deliveries.
    from chalicelib.bootstrap import get_deps

    campaigns = get_deps().campaigns
    counters = campaigns.with_counters(
        campaigns.get(account["account_id"], campaign_id, consistent=True)
    ).counters
    assert (counters["confirmed"], counters["declined"]) == (0, 2)


def test_tampered_truncated_and_foreign_tokens_get_the_same_404(
    api: Any, http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, queue = sim
    ids = add_clients(http, ["anna"])
    status, campaign = new_reactivation(http)
    send_and_drain(http, queue, campaign["campaign_id"])
    confirm = links_by_recipient()["anna@example.com"]["confirm"]
    prefix, token = confirm.rsplit("/", 1)
    status, not_found = get_page(http, "/p/reactivation/nothing")
    assert status == 404
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, token[:-4], token[:20], token + "x", token.replace(".", "", 1)):
        for method in (get_page, post_page):
            status, page = method(http, f"{prefix}/{bad}")
            assert status == 404 and page == not_found
    # A forged token is refused before any database read.
    deps = get_deps()

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a forged token must not reach the database")

    with monkeypatch.context() as patched:
        for repository in (deps.accounts, deps.campaigns, deps.clients):
            patched.setattr(repository, "get", no_read)
        for bad in (flipped, token[:-4], "k1.AAAA.BBBB"):
            assert get_page(http, f"{prefix}/{bad}") == (404, not_found)
            assert post_page(http, f"{prefix}/{bad}") == (404, not_found)
    # Another account's campaign link never touches this one's clients (and vice versa).
    other = create_account(api, "Other", "o@example.com")
    from chalicelib.domain.reactivation import Action, mint_cta

    forged = mint_cta(
        get_deps().key_ring, other["account_id"], campaign["campaign_id"], ids["anna"], Action.CONFIRM
    )
    assert get_page(http, f"{prefix}/{forged}") == (404, not_found)
    assert consent_of(http, ids["anna"])["events"] == []


# --- segmentation ---------------------------------------------------------------------------------


def _respond(http: Http, links: dict[str, dict[str, str]], who: str, *choices: str) -> None:
    for choice in choices:
        status, _ = post_page(http, links[f"{who}@example.com"][choice])
        assert status == 200


def test_wait_then_segment(http: Http, account: dict[str, Any], sim: Any) -> None:
    time, queue = sim
    http.patch("/v1/account/settings", {"non_responder_action": "tag"})
    ids = add_clients(http, ["anna", "bea", "carl", "dora", "emil", "fay"])
    status, campaign = new_reactivation(http, wait_days=5)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    links = links_by_recipient()
    _respond(http, links, "anna", "confirm")
    _respond(http, links, "bea", "confirm", "decline")  # confirm then decline: out
    _respond(http, links, "carl", "decline", "confirm")  # decline then confirm: in
    _respond(http, links, "dora", "decline")
    # emil stays silent
    _respond(http, links, "fay", "confirm")  # then unsubscribes through the footer: out
    response = http.client.http.post(
        links["fay@example.com"]["unsubscribe"], headers=FORM, body=b"List-Unsubscribe=One-Click"
    )
    assert response.status_code == 200

    status, body = http.post(f"/v1/campaigns/{campaign_id}/segment", {})
    assert status == 409 and body["error"]["code"] == "wait_not_elapsed"
    segment_after = http.get(f"/v1/campaigns/{campaign_id}")[1]["segment_after"]
    assert body["error"]["details"]["segment_after"] == segment_after

    # The hourly schedule before the wait is over does nothing.
    run_schedule(http)
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "awaiting_responses"

    time.advance(seconds=5 * 86400 + 60)
    result = run_schedule(http).payload
    assert result == {"due": 1}
    drain(http.client, queue)
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "segmented" and campaign["segment_list_id"]
    list_id = campaign["segment_list_id"]
    status, lst = http.get(f"/v1/lists/{list_id}")
    assert lst["name"] == "Do you still want our news?" and lst["size"] == 2 and lst["status"] == "ready"
    members = {m.client_id for m in ListMemberModel.query(list_id)}
    assert members == {ids["anna"], ids["carl"]}
    assert "no-response-" + campaign_id in http.get(f"/v1/clients/{ids['emil']}")[1]["tags"]
    assert "no-response-" + campaign_id not in http.get(f"/v1/clients/{ids['anna']}")[1]["tags"]

    # Idempotent: a second schedule and a forced POST change nothing.
    run_schedule(http)
    drain(http.client, queue)
    status, again = http.post(f"/v1/campaigns/{campaign_id}/segment", {"force": True})
    assert status == 200 and (again["list_id"], again["size"]) == (list_id, 2)
    assert {m.client_id for m in ListMemberModel.query(list_id)} == members

    status, report = http.get(f"/v1/campaigns/{campaign_id}/report")
    counted = ("confirmed", "declined", "no_response", "unsubscribed")
    assert tuple(report[k] for k in counted) == (2, 2, 1, 1)  # each recipient once

    # The seed's manual path: search by confirmation date, make a list of it.
    status, found = http.post(
        "/v1/clients/search", {"filter": {"field": "consent.confirmed_at", "op": "is_set"}}
    )
    assert status == 200 and {c["client_id"] for c in found["items"]} == members
    status, manual = http.post(
        "/v1/lists",
        {"name": "confirmed", "source": {"filter": {"field": "consent.confirmed_at", "op": "is_set"}}},
    )
    assert status == 201 and manual["size"] == 2, manual


def test_forced_segment_in_the_request_and_erasing_non_responders(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    _, queue = sim
    http.patch("/v1/account/settings", {"non_responder_action": "erase"})
    ids = add_clients(http, ["anna", "emil"])
    status, campaign = new_reactivation(http)
    campaign_id = campaign["campaign_id"]
    status, body = http.post(f"/v1/campaigns/{campaign_id}/segment", {"force": True})
    assert status == 409 and body["error"]["code"] == "invalid_campaign_status"  # not sent yet
    send_and_drain(http, queue, campaign_id)
    _respond(http, links_by_recipient(), "anna", "confirm")
    status, body = http.post(f"/v1/campaigns/{campaign_id}/segment", {"force": True})
    assert status == 200 and body["size"] == 1, body
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "segmented"
    assert http.get(f"/v1/clients/{ids['emil']}")[0] == 404  # erased
    assert http.get(f"/v1/clients/{ids['anna']}")[0] == 200
    status, body = http.post("/v1/campaigns/cmp_nope/segment", {})
    assert status == 404
    intruder = Http(http.client, create_account(http.client, "Other", "o@example.com")["api_key"])
    assert intruder.post(f"/v1/campaigns/{campaign_id}/segment", {"force": True})[0] == 404
    assert intruder.get(f"/v1/campaigns/{campaign_id}/report")[0] == 404
    status, body = http.post(f"/v1/campaigns/{campaign_id}/segment", {"force": "yes"})
    assert status == 400 and body["error"]["details"]


def test_segment_runs_resumably_in_chunks(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks: the job resumes from its cursor; starting it twice runs it once."""
    from chalicelib.services import segmentation

    time, queue = sim
    names = [f"p{i}" for i in range(7)]
    ids = add_clients(http, names)
    status, campaign = new_reactivation(http, wait_days=0)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    links = links_by_recipient()
    for name in names[:5]:
        _respond(http, links, name, "confirm")
    deps = get_deps()
    monkeypatch.setattr(deps, "settings", deps.settings.model_copy(update={"job_chunk_items": 1}))
    monkeypatch.setattr(segmentation, "_PAGE", 2)
    time.advance(seconds=3600)
    run_schedule(http)
    run_schedule(http)  # a duplicate (or concurrent) start
    assert len(queue.pending("jobs")) == 1
    ran = drain(http.client, queue)
    assert ran >= 4  # 7 deliveries, 2 a page, one page a chunk
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "segmented"
    members = [m.client_id for m in ListMemberModel.query(campaign["segment_list_id"])]
    assert sorted(members) == sorted(ids[n] for n in names[:5])
    assert http.get(f"/v1/lists/{campaign['segment_list_id']}")[1]["size"] == 5
    status, job = http.get(f"/v1/jobs/{segmentation.segment_job_id(campaign_id)}")
    assert status == 200 and job["status"] == "done" and job["done"] == 7, job


def test_opened_events_are_not_choices(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    ids = add_clients(http, ["anna"])
    _status, campaign = new_reactivation(http)
    send_and_drain(http, queue, campaign["campaign_id"])
    links = links_by_recipient()["anna@example.com"]
    for _ in range(3):
        assert get_page(http, links["confirm"])[0] == 200
        assert get_page(http, links["decline"])[0] == 200
    state = consent_of(http, ids["anna"])
    assert state["state"] == "unknown" and {e["type"] for e in state["events"]} == {"opened"}
    assert all(e["ip"] == IP for e in state["events"])
    # once per link (and hour): the confirm link's and the decline link's
    assert len(list(ConsentEventModel.query(f"{account['account_id']}#{ids['anna']}"))) == 2


def test_opened_is_kept_at_most_once_per_link_per_hour(
    http: Http, account: dict[str, Any], sim: tuple[SimTime, SimQueue]
) -> None:
    """Security review: 200 GETs of a link appended 200 ``opened`` events to the append-only
    ledger. A link's opening is evidence worth one event an hour: a marker item (conditional
    write, expiring) stands for the last one, and its time is checked in code (TTL deletion is
    late on AWS and never happens in the emulator)."""
    time, queue = sim
    ids = add_clients(http, ["anna"])
    _status, campaign = new_reactivation(http)
    send_and_drain(http, queue, campaign["campaign_id"])
    links = links_by_recipient()["anna@example.com"]

    def opened() -> int:
        return sum(e["type"] == "opened" for e in consent_of(http, ids["anna"])["events"])

    for _ in range(200):
        assert get_page(http, links["confirm"])[0] == 200
    assert opened() == 1
    assert get_page(http, links["decline"])[0] == 200  # another link
    assert opened() == 2
    time.advance(minutes=59)
    assert get_page(http, links["confirm"])[0] == 200
    assert opened() == 2
    time.advance(minutes=2)  # an hour after the first
    assert get_page(http, links["confirm"])[0] == 200
    assert get_page(http, links["confirm"])[0] == 200
    assert opened() == 3
    # The choices themselves are never limited: every POST is recorded.
    for _ in range(3):
        assert post_page(http, links["confirm"])[0] == 200
    assert [e["type"] for e in consent_of(http, ids["anna"])["events"]][-3:] == ["granted"] * 3


def test_a_segmentation_that_gave_up_is_resumed_by_the_next_schedule(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import segmentation

    time, queue = sim
    ids = add_clients(http, ["anna", "bea"])
    _status, campaign = new_reactivation(http, wait_days=1)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    _respond(http, links_by_recipient(), "anna", "confirm")
    deps = get_deps()
    broken = {"on": True}
    real = deps.lists.add_members

    def add_members(account_id: str, list_id: str, client_ids: list[str]) -> None:
        if broken["on"]:
            raise RuntimeError("storage unavailable")
        real(account_id, list_id, client_ids)

    monkeypatch.setattr(deps.lists, "add_members", add_members)
    time.advance(seconds=86400 + 1)
    run_schedule(http)
    drain(http.client, queue)
    first = segmentation.segment_job_id(campaign_id)
    assert http.get(f"/v1/jobs/{first}")[1]["status"] == "failed"
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "awaiting_responses"

    broken["on"] = False
    run_schedule(http)
    drain(http.client, queue)
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "segmented"
    assert [m.client_id for m in ListMemberModel.query(campaign["segment_list_id"])] == [ids["anna"]]
    status, body = http.post(f"/v1/campaigns/{campaign_id}/segment", {})
    assert (
        status == 200 and body["job_id"] == segmentation.segment_job_id(campaign_id, 1) and body["size"] == 1
    )


def test_concurrent_schedules_start_one_segmentation(http: Http, account: dict[str, Any], sim: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.services import segmentation

    time, queue = sim
    ids = add_clients(http, ["anna", "bea", "carl"])
    _status, campaign = new_reactivation(http, wait_days=0)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    links = links_by_recipient()
    _respond(http, links, "anna", "confirm")
    _respond(http, links, "carl", "confirm")
    time.advance(seconds=60)
    deps = get_deps()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: segmentation.segment_due_campaigns(deps), range(4)))
    assert len(queue.pending("jobs")) == 1  # one job, one first message
    drain(http.client, queue)
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    members = sorted(m.client_id for m in ListMemberModel.query(campaign["segment_list_id"]))
    assert campaign["status"] == "segmented" and members == sorted([ids["anna"], ids["carl"]])
