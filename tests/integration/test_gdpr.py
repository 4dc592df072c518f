"""GDPR export and erasure through the HTTP API, with a scan proving nothing personal is left."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from chalice.local import LambdaEventConverter

from chalicelib.bootstrap import get_deps
from chalicelib.domain.contact import email_hash
from chalicelib.mail.outbox import parse_raw_message
from chalicelib.storage.models import ALL_MODELS, ConsentEventModel, ListMemberModel, SuppressionModel
from tests.integration.conftest import Http, create_account, sent_messages

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
IP = "203.0.113.77"
AGENT = "Mozilla/5.0 (Erasure-Test-Agent)"
PERSON = {
    "email": "Zdenka.Unique@Example.com",
    "first_name": "Zdeňka",
    "last_name": "Quasimodová",
    "phone": "+420 731 555 999",
    "language": "cs",
    "tags": ["vip", "hair"],
    "status": "regular",
    "fields": {"birthday": "1988-02-29", "allergy": "Quasimodo-lotion"},
}
PERSONAL_STRINGS = [
    "zdenka.unique",
    "Zdeňka",
    "Quasimodo",
    "731 555 999",
    IP,
    "Erasure-Test-Agent",
    "1988-02-29",
    "private note",
]


@pytest.fixture
def source_ip(monkeypatch: pytest.MonkeyPatch) -> str:
    """A distinctive connection address, so the scan below can look for it."""
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", IP)
    return IP


def confirmed_person(api: Any, http: Http, account: dict) -> str:
    """A client who signed up through the form and confirmed by e-mail, with staff notes."""
    status, created = http.post("/v1/clients", PERSON)
    assert status == 201, created
    response = api.http.post(
        f"/p/forms/{account['public_slug']}",
        headers=FORM,
        body=urlencode({"email": PERSON["email"], "consent": "yes"}).encode(),
    )
    assert response.status_code == 200
    [message] = sent_messages()
    [link] = [x for x in parse_raw_message(message.id, message.raw_data).links if x.cta == "confirm"]
    response = api.http.post(
        urlsplit(link.href).path, headers={**FORM, "User-Agent": AGENT}, body=b"confirm=yes"
    )
    assert response.status_code == 200
    http.put(
        f"/v1/clients/{created['client_id']}/consent", {"granted": True, "note": "private note: met at fair"}
    )
    return str(created["client_id"])


def test_export_holds_everything(
    api: Any, http: Http, account: dict, mail_ready: None, source_ip: str
) -> None:
    client_id = confirmed_person(api, http, account)
    status, doc = http.get(f"/v1/clients/{client_id}/export")
    assert status == 200, doc
    assert doc["client"] == http.get(f"/v1/clients/{client_id}")[1]
    assert doc["client"]["fields"] == PERSON["fields"] and doc["tags"] == ["vip", "hair"]
    assert [e["source"] for e in doc["consent_events"]] == ["intake_form", "staff"]
    assert doc["consent_events"][0]["ip"] == IP and doc["consent_events"][0]["user_agent"] == AGENT
    assert doc["consent_events"] == http.get(f"/v1/clients/{client_id}/consent")[1]["events"]
    assert doc["suppression"] is None
    assert doc["client_id"] == client_id and doc["exported_at"].endswith("Z")


def test_export_of_another_accounts_client_is_404(api: Any, http: Http) -> None:
    _, created = http.post("/v1/clients", {"email": "x@example.com"})
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert other.get(f"/v1/clients/{created['client_id']}/export")[0] == 404
    assert other.delete(f"/v1/clients/{created['client_id']}")[0] == 404
    assert http.get(f"/v1/clients/{created['client_id']}")[0] == 200


def scan_everything() -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
    items: list[dict[str, Any]] = []
    for model in ALL_MODELS:
        pages = dynamodb.get_paginator("scan").paginate(TableName=model.Meta.table_name)
        items.extend(item for page in pages for item in page["Items"])
    return items


def test_erasure_is_complete(api: Any, http: Http, account: dict, mail_ready: None, source_ip: str) -> None:
    client_id = confirmed_person(api, http, account)
    before = [str(item) for item in scan_everything()]
    assert any("Quasimodo" in item for item in before) and any(IP in item for item in before)

    status, body = http.delete(f"/v1/clients/{client_id}")
    assert status == 204 and body is None

    assert http.get(f"/v1/clients/{client_id}")[0] == 404
    assert http.get(f"/v1/clients/{client_id}/consent")[0] == 404
    assert http.get(f"/v1/clients/{client_id}/export")[0] == 404
    assert http.delete(f"/v1/clients/{client_id}")[0] == 404
    assert http.get("/v1/clients")[1]["items"] == []

    # No attribute of any item in any table still holds the e-mail, a name, the phone,
    # a custom field's value, the IP, the user agent or the staff note.
    everything = [str(item).casefold() for item in scan_everything()]
    for text in PERSONAL_STRINGS:
        assert not any(text.casefold() in item for item in everything), text

    # The evidence is kept, pseudonymised, and closed by an "erased" event.
    key = get_deps().email_hash_key
    address_hash = email_hash(key, PERSON["email"])
    events = list(ConsentEventModel.query(f"{account['account_id']}#{client_id}"))
    assert [e.type for e in events] == ["granted", "granted", "erased"]
    assert [e.source for e in events] == ["intake_form", "staff", "staff"]
    assert all(e.ip is None and e.user_agent is None and e.note is None for e in events)
    assert all(e.email_hash == address_hash for e in events)
    assert events[0].terms_url is None or events[0].terms_url.startswith("https://")
    assert events[2].actor == events[1].actor and events[2].actor.startswith("key_")

    # The address stays suppressed, by its keyed hash only.
    entry = SuppressionModel.get(account["account_id"], address_hash)
    assert entry.reason == "erased"


def test_erased_address_comes_back_suppressed_and_gets_no_mail(
    api: Any, http: Http, account: dict, mail_ready: None
) -> None:
    _, created = http.post("/v1/clients", {"email": "again@example.com", "first_name": "Ann"})
    assert http.delete(f"/v1/clients/{created['client_id']}")[0] == 204
    status, recreated = http.post("/v1/clients", {"email": "AGAIN@example.com"})
    assert (
        status == 201 and recreated["suppressed"] is True and recreated["client_id"] != created["client_id"]
    )
    response = api.http.post(
        f"/p/forms/{account['public_slug']}",
        headers=FORM,
        body=urlencode({"email": "again@example.com", "consent": "yes"}).encode(),
    )
    assert response.status_code == 200
    assert sent_messages() == []
    # Even a staff grant cannot make it sendable: consent is logged, the address stays suppressed.
    status, consent = http.put(f"/v1/clients/{recreated['client_id']}/consent", {"granted": True})
    assert consent["state"] == "granted" and consent["suppressed"] is True


def test_erasure_of_a_client_without_events_or_tags(http: Http, account: dict) -> None:
    _, created = http.post("/v1/clients", {"email": "plain@example.com"})
    assert http.delete(f"/v1/clients/{created['client_id']}")[0] == 204
    events = list(ConsentEventModel.query(f"{account['account_id']}#{created['client_id']}"))
    assert [e.type for e in events] == ["erased"]
    assert "plain@example.com" not in str(scan_everything())


def test_erasure_restarts_when_consent_changes_meanwhile(
    http: Http, account: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event recorded between pseudonymisation and the final transaction is not left behind."""
    from chalicelib.services import gdpr

    _, created = http.post("/v1/clients", {"email": "race@example.com"})
    client_id = created["client_id"]
    original = gdpr._pseudonymise_ledger
    raced: list[bool] = []

    def pseudonymise_then_race(deps: Any, client: Any) -> None:
        original(deps, client)
        if not raced:
            raced.append(True)
            from chalicelib.domain.consent import EventType, Source
            from chalicelib.services.consent import ConsentChange, record_consent

            record_consent(
                deps,
                deps.accounts.get(account["account_id"]),
                client_id,
                ConsentChange(
                    EventType.GRANTED,
                    Source.REACTIVATION_CAMPAIGN,
                    ip="192.0.2.55",
                    user_agent="Racing-Agent",
                ),
            )

    monkeypatch.setattr(
        gdpr,
        "SECTIONS",
        tuple(
            gdpr.Section(s.key, s.export, pseudonymise_then_race if s.erase is original else s.erase)
            for s in gdpr.SECTIONS
        ),
    )
    assert http.delete(f"/v1/clients/{client_id}")[0] == 204
    events = list(ConsentEventModel.query(f"{account['account_id']}#{client_id}"))
    assert [e.type for e in events] == ["granted", "erased"]
    assert "192.0.2.55" not in str(scan_everything()) and "Racing-Agent" not in str(scan_everything())


def test_list_memberships_are_exported_and_erased(api: Any, http: Http, account: dict) -> None:
    _, kept = http.post("/v1/clients", {"email": "kept@example.com", "tags": ["vip"]})
    _, gone = http.post("/v1/clients", {"email": "gone@example.com", "tags": ["vip"]})
    status, lst = http.post("/v1/lists", {"name": "VIPs", "source": {"tag": "vip"}})
    assert status == 201 and lst["size"] == 2, lst
    status, doc = http.get(f"/v1/clients/{gone['client_id']}/export")
    assert status == 200
    assert [m["list_id"] for m in doc["list_memberships"]] == [lst["list_id"]]
    assert doc["list_memberships"][0]["name"] == "VIPs"

    assert http.delete(f"/v1/clients/{gone['client_id']}")[0] == 204
    members = http.get(f"/v1/lists/{lst['list_id']}/members")[1]["items"]
    assert [m["client_id"] for m in members] == [kept["client_id"]]
    assert http.get(f"/v1/lists/{lst['list_id']}")[1]["size"] == 1
    assert not [m for m in ListMemberModel.by_client.query(gone["client_id"])]


def test_erasure_redacts_the_address_in_stored_filters(http: Http, account: dict) -> None:
    """Security review: after erasure the address stayed in clear text in saved list sources
    and campaign audiences. Every stored filter value equal to the address (any field, any
    letter case, inside ``in`` lists too) becomes ``erased:<keyed hash>``; the rest of each
    filter, and filters naming other people, are left as they were."""
    _, anna = http.post("/v1/clients", {"email": "anna.secret@example.com", "tags": ["vip"]})
    http.post("/v1/clients", {"email": "ben@example.com", "tags": ["vip"]})
    by_email = {"field": "email", "op": "eq", "value": "Anna.Secret@Example.com"}
    several = {
        "any": [
            {"field": "email", "op": "in", "value": ["ben@example.com", "anna.secret@example.com"]},
            {"field": "fields.backup", "op": "eq", "value": "ANNA.SECRET@example.com"},
            {"not": {"field": "email", "op": "starts_with", "value": "zz"}},
        ]
    }
    sources = {
        "one": {"filter": by_email},
        "several": {"filter": several},
        "tag": {"tag": "vip"},
        "others": {"filter": {"field": "email", "op": "eq", "value": "ben@example.com"}},
    }
    lists = {}
    for name, source in sources.items():
        status, created = http.post("/v1/lists", {"name": name, "source": source})
        assert status == 201, created
        lists[name] = created["list_id"]
    status, campaign = http.post(
        "/v1/campaigns",
        {"name": "Just Anna", "subject": "Hi", "html": "<p>Hi</p>", "audience": {"filter": several}},
    )
    assert status == 201, campaign
    assert "anna.secret" in str(scan_everything()).casefold()

    assert http.delete(f"/v1/clients/{anna['client_id']}")[0] == 204

    marker = "erased:" + email_hash(get_deps().email_hash_key, "anna.secret@example.com")
    assert "anna.secret" not in str(scan_everything()).casefold()
    stored = {name: http.get(f"/v1/lists/{list_id}")[1]["source"] for name, list_id in lists.items()}
    assert stored["one"] == {"filter": {"field": "email", "op": "eq", "value": marker}}
    redacted = {
        "any": [
            {"field": "email", "op": "in", "value": ["ben@example.com", marker]},
            {"field": "fields.backup", "op": "eq", "value": marker},
            {"not": {"field": "email", "op": "starts_with", "value": "zz"}},
        ]
    }
    assert stored["several"] == {"filter": redacted}
    assert stored["tag"] == sources["tag"] and stored["others"] == sources["others"]
    assert http.get(f"/v1/campaigns/{campaign['campaign_id']}")[1]["audience"] == {"filter": redacted}
    # The redacted audience still works: it now names only Ben.
    status, preview = http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")
    assert status == 200 and preview["recipients"] == 1, preview
    # Erasing again (or another client) changes nothing more.
    _, ben = http.post(
        "/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": "ben@example.com"}}
    )
    assert http.delete(f"/v1/clients/{ben['items'][0]['client_id']}")[0] == 204
    assert "ben@example.com" not in str(scan_everything()).casefold()


def test_erasure_redacts_an_address_a_draft_was_edited_or_duplicated_to_name(
    http: Http, account: dict
) -> None:
    """A draft's audience can change after it is created (PATCH) and be copied (duplicate):
    the erasure index follows, so the address is redacted in both, and a draft edited back to a
    tag leaves the index."""
    from chalicelib.storage.models import CampaignModel

    _, anna = http.post("/v1/clients", {"email": "anna.secret@example.com", "tags": ["vip"]})
    _, draft = http.post(
        "/v1/campaigns", {"name": "Draft", "subject": "Hi", "html": "<p>Hi</p>", "selection": {"tag": "vip"}}
    )
    names_anna = {"filter": {"field": "email", "op": "eq", "value": "anna.secret@example.com"}}
    status, edited = http.patch(f"/v1/campaigns/{draft['campaign_id']}", {"selection": names_anna})
    assert status == 200, edited
    status, copy = http.post(f"/v1/campaigns/{draft['campaign_id']}/duplicate")
    assert status == 201, copy
    _, other = http.post(
        "/v1/campaigns", {"name": "Other", "subject": "Hi", "html": "<p>Hi</p>", "selection": names_anna}
    )
    assert http.patch(f"/v1/campaigns/{other['campaign_id']}", {"selection": {"tag": "vip"}})[0] == 200
    indexed = {item.campaign_id for item in CampaignModel.by_address_filter.query(account["account_id"])}
    assert indexed == {draft["campaign_id"], copy["campaign_id"]}

    assert http.delete(f"/v1/clients/{anna['client_id']}")[0] == 204

    assert "anna.secret" not in str(scan_everything()).casefold()
    for campaign in (draft, copy):
        audience = http.get(f"/v1/campaigns/{campaign['campaign_id']}")[1]["selection"]
        assert audience["filter"]["value"].startswith("erased:"), audience
