"""Sender domains (API.md "Added in the second round"): each tenant sends only as itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.mail.ses import IdentityState
from chalicelib.storage.models import DeliveryModel, SenderDomainClaimModel
from tests.integration.conftest import OPERATOR, Http, create_account
from tests.integration.sending_support import SimQueue, SimTime, drain, recipients_of_sent, simulated
from tests.integration.test_campaigns import add_clients, new_campaign


def test_account_creation_registers_the_senders_domain(http: Http, account: dict[str, Any]) -> None:
    status, body = http.get("/v1/sender-domains")
    assert status == 200 and body["next_cursor"] is None
    (domain,) = body["items"]
    assert domain["domain"] == "salon.example" and domain["status"] == "verified"  # local: at once
    kinds = [(r["purpose"], r["type"]) for r in domain["dns_records"]]
    assert kinds == [("dkim", "CNAME")] * 3 + [("spf", "MX"), ("spf", "TXT"), ("dmarc", "TXT")]
    assert all(r["name"].endswith("salon.example") for r in domain["dns_records"])
    assert domain["mail_from_domain"] == "bounce.salon.example"
    claim = SenderDomainClaimModel.get("salon.example")
    assert claim.account_id == account["account_id"]


def test_register_list_get_and_remove(http: Http) -> None:
    status, body = http.post("/v1/sender-domains", {"domain": "News.Salon-Bella.CZ."})
    assert status == 201, body
    assert body["domain"] == "news.salon-bella.cz" and body["status"] == "verified"
    assert len([r for r in body["dns_records"] if r["purpose"] == "dkim"]) == 3
    again = http.post("/v1/sender-domains", {"domain": "news.salon-bella.cz"})
    assert again[0] == 200 and again[1]["domain"] == "news.salon-bella.cz"  # already the account's
    status, page = http.get("/v1/sender-domains?limit=1")
    assert status == 200 and len(page["items"]) == 1 and page["next_cursor"]
    rest = http.get(f"/v1/sender-domains?limit=5&cursor={page['next_cursor']}")[1]
    assert {d["domain"] for d in page["items"] + rest["items"]} == {"salon.example", "news.salon-bella.cz"}
    assert http.get("/v1/sender-domains/news.salon-bella.cz")[1]["status"] == "verified"
    assert http.delete("/v1/sender-domains/news.salon-bella.cz")[0] == 204
    assert http.get("/v1/sender-domains/news.salon-bella.cz")[0] == 404
    assert http.delete("/v1/sender-domains/news.salon-bella.cz")[0] == 404
    assert get_deps().mailer.get_identity("news.salon-bella.cz") is None  # gone from SES too
    assert SenderDomainClaimModel.count("news.salon-bella.cz") == 0  # and free for another account


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"domain": "not a domain"}, "invalid_input"),
        ({"domain": "localhost"}, "invalid_input"),
        ({"domain": "10.0.0.1"}, "invalid_input"),
        ({}, "invalid_input"),
        ({"domain": "x.example", "extra": 1}, "invalid_input"),
        ({"domain": "gmail.com"}, "public_mail_domain"),
    ],
)
def test_bad_domains_are_refused(http: Http, body: dict[str, Any], code: str) -> None:
    status, answer = http.post("/v1/sender-domains", body)
    assert status == 400 and answer["error"]["code"] == code, answer


def test_the_senders_domain_cannot_be_removed_while_in_use(http: Http) -> None:
    status, body = http.delete("/v1/sender-domains/salon.example")
    assert status == 409 and body["error"]["code"] == "domain_in_use"


def test_one_account_per_domain(api: Any, http: Http, account: dict[str, Any]) -> None:
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.post("/v1/sender-domains", {"domain": "salon.example"})
    assert status == 409 and body["error"]["code"] == "domain_taken"
    # A new account whose sender is on a taken domain is not created at all.
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": "Copycat", "sender_email": "news@SALON.example"}, headers=OPERATOR
    )
    assert status == 409 and body["error"]["code"] == "domain_taken"
    assert SenderDomainClaimModel.get("salon.example").account_id == account["account_id"]
    from chalicelib.storage.models import AccountModel

    assert [a.name for a in AccountModel.scan()].count("Copycat") == 0  # nothing half-created
    # Each account sees only its own domains.
    assert [d["domain"] for d in other.get("/v1/sender-domains")[1]["items"]] == ["other.example"]
    assert other.get("/v1/sender-domains/salon.example")[0] == 404
    assert other.delete("/v1/sender-domains/salon.example")[0] == 404
    assert http.get("/v1/sender-domains/salon.example")[0] == 200


def test_a_public_mailbox_sender_is_refused_at_account_creation(api: Any) -> None:
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": "Freemail", "sender_email": "salon.bella@gmail.com"}, headers=OPERATOR
    )
    assert status == 400 and body["error"]["code"] == "public_mail_domain"


def test_sender_takeover_is_refused(api: Any, http: Http) -> None:
    """The measured hole: another tenant set its sender to this tenant's domain (200)."""
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.patch("/v1/account/settings", {"sender_email": "news@salon.example"})
    assert status == 400 and body["error"]["code"] == "sender_not_verified"
    assert body["error"]["details"][0]["field"] == "sender_email"
    # Its own verified domain is fine, another address on it too.
    assert other.patch("/v1/account/settings", {"sender_email": "hello@other.example"})[0] == 200
    # A subdomain is a domain of its own: not covered by the parent.
    status, body = http.patch("/v1/account/settings", {"sender_email": "x@mail.salon.example"})
    assert status == 400 and body["error"]["code"] == "sender_not_verified"


def test_a_pending_domain_becomes_verified_when_ses_says_so(http: Http, monkeypatch: Any) -> None:
    mailer = get_deps().mailer
    pending = IdentityState("PENDING", False, "PENDING", ("a", "b", "c"), "bounce.late.example", "PENDING")
    real_create, real_get = mailer.create_domain_identity, mailer.get_identity
    monkeypatch.setattr(mailer, "create_domain_identity", lambda domain: (real_create(domain), pending)[1])
    monkeypatch.setattr(mailer, "get_identity", lambda domain: pending)
    status, body = http.post("/v1/sender-domains", {"domain": "late.example"})
    assert status == 201 and body["status"] == "pending"
    assert [r["value"] for r in body["dns_records"][:3]] == [f"{t}.dkim.amazonses.com" for t in "abc"]
    status, body = http.patch("/v1/account/settings", {"sender_email": "hi@late.example"})
    assert status == 400 and body["error"]["code"] == "sender_not_verified"
    monkeypatch.setattr(mailer, "get_identity", real_get)  # the DNS records are published
    (item,) = [d for d in http.get("/v1/sender-domains")[1]["items"] if d["domain"] == "late.example"]
    assert item["status"] == "verified" and item["verified_at"]
    assert http.patch("/v1/account/settings", {"sender_email": "hi@late.example"})[0] == 200


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    with simulated() as pair:
        yield pair


def test_the_worker_never_sends_as_an_unverified_sender(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    """Defence in depth: a sender that got into the settings some other way (here: written to
    the table directly) pauses the campaign; nothing goes out, nobody fails."""
    _, queue = sim
    add_clients(http, 5)
    campaign = new_campaign(http)
    assert (
        http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})[0]
        == 202
    )
    from chalicelib.storage.models import AccountModel

    item = AccountModel.get(account["account_id"])
    item.settings["sender_email"] = "ceo@victim.example"
    item.save()
    drain(http.client, queue)
    got = http.get(f"/v1/campaigns/{campaign['campaign_id']}")[1]
    assert got["status"] == "paused" and got["paused_reason"] == "sender_not_verified"
    assert recipients_of_sent() == {}
    assert {d.status for d in DeliveryModel.query(campaign["campaign_id"])} == {"queued"}
    status, body = http.post(f"/v1/campaigns/{campaign['campaign_id']}/resume")
    assert status == 400 and body["error"]["code"] == "sender_not_verified"
