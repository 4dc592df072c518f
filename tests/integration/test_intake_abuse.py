"""Security review of the public intake form: what an anonymous visitor can do to a business's
clients, audience and limits.

1. A form post for an address that is already a client changes nothing until the address's
   owner confirms: the submitted values ride on the confirmation link (signed into it) and
   are applied by the confirming POST, in the same transaction as the consent.
2. A client that exists only because of the form is ``pending``: listed with
   ``pending: true``, but in no audience — standard, automatic or reactivation campaigns,
   lists, searches — until its address is confirmed (or staff accept it).
3. The form's limits are per business and source address, with a ceiling per source address
   across businesses and one per business; the limit per e-mail address throttles the
   confirmation e-mails, never the form, and is per business — an attacker cannot spend
   it to keep a person from signing up elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.mail.outbox import parse_raw_message
from chalicelib.storage.models import ConsentEventModel
from tests.integration.conftest import Http, create_account, sent_messages, verify_sender
from tests.integration.sending_support import drain, parsed, simulated

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def source_ip(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    use("198.51.100.10")
    yield use


def post_form(api: Any, slug: str, fields: dict[str, str]) -> tuple[int, str]:
    response = api.http.post(f"/p/forms/{slug}", headers=FORM, body=urlencode(fields).encode())
    return response.status_code, response.body.decode()


def confirm_path(message: Any) -> str:
    mail = parse_raw_message(message.id, message.raw_data)
    [link] = [link for link in mail.links if link.cta == "confirm"]
    return urlsplit(link.href).path


def find(http: Http, email: str) -> dict[str, Any] | None:
    items = http.get("/v1/clients?limit=500")[1]["items"]
    return next((c for c in items if c["email"].lower() == email.lower()), None)


# --- 1. existing clients change only through their owner's confirmation ----------------------


def test_a_form_post_for_an_existing_client_changes_nothing_until_its_owner_confirms(
    api: Any, http: Http, account: dict, mail_ready: None
) -> None:
    petra = {
        "email": "petra@example.com",
        "first_name": "Petra",
        "phone": "+420 600 000 000",
        "language": "en",
    }
    _status, created = http.post("/v1/clients", petra)
    path = f"/v1/clients/{created['client_id']}"
    before = http.get(path)[1]

    attack = {
        "email": "PETRA@example.com",
        "first_name": "Hacked",
        "phone": "+1 900 555 0000",
        "language": "cs",
    }
    assert post_form(api, account["public_slug"], attack)[0] == 200  # no consent box: no mail
    assert post_form(api, account["public_slug"], {**attack, "consent": "yes"})[0] == 200
    assert http.get(path)[1] == before  # nothing applied, not even the language
    [message] = sent_messages()
    mail = parse_raw_message(message.id, message.raw_data)
    assert "Hacked" not in (mail.html or "") + (mail.text or "")  # typed text is not mailed
    assert "Petra" in (mail.text or "")  # the stored name greets

    link = confirm_path(message)
    status, page = api.http.get(link).status_code, api.http.get(link).body.decode()
    assert status == 200 and "Hacked" in page and "+1 900 555 0000" in page  # what will be saved
    assert http.get(path)[1] == before

    # A forged link with other values is the uniform 404.
    kid, payload, tag = link.rsplit("/", 1)[1].split(".")
    forged = f"/p/confirm/{kid}.{payload[:-4]}AAAA.{tag}"
    assert api.http.post(forged, headers=FORM, body=b"confirm=yes").status_code == 404

    # The owner's confirmation applies what they confirmed, with the consent, at once.
    assert api.http.post(link, headers=FORM, body=b"confirm=yes").status_code == 200
    after = http.get(path)[1]
    assert (after["first_name"], after["phone"], after["language"]) == ("Hacked", "+1 900 555 0000", "cs")
    assert after["consent"]["state"] == "granted" and after["pending"] is False
    events = list(ConsentEventModel.query(f"{account['account_id']}#{created['client_id']}"))
    assert [e.type for e in events] == ["granted"]


def test_each_link_carries_only_its_own_submission(
    api: Any, http: Http, account: dict, mail_ready: None
) -> None:
    _status, created = http.post("/v1/clients", {"email": "eva@example.com", "first_name": "Eva"})
    post_form(
        api, account["public_slug"], {"email": "eva@example.com", "first_name": "Mallory", "consent": "yes"}
    )
    post_form(
        api, account["public_slug"], {"email": "eva@example.com", "last_name": "Nová", "consent": "yes"}
    )
    _attacker_link, owner_link = (confirm_path(m) for m in sent_messages())
    assert api.http.post(owner_link, headers=FORM, body=b"confirm=yes").status_code == 200
    client = http.get(f"/v1/clients/{created['client_id']}")[1]
    assert (client["first_name"], client["last_name"]) == ("Eva", "Nová")
    assert "Mallory" not in api.http.get(owner_link).body.decode()


# --- 2. form-only clients are pending and in no audience ------------------------------------


def test_form_only_clients_are_pending_and_in_no_audience(
    api: Any, http: Http, account: dict, mail_ready: None
) -> None:
    slug = account["public_slug"]
    for i in range(3):  # the review's three injected addresses
        assert post_form(api, slug, {"email": f"trap{i}@spamtrap.example", "first_name": f"T{i}"})[0] == 200
    _status, real = http.post("/v1/clients", {"email": "real@example.com", "first_name": "Real"})

    listed = http.get("/v1/clients")[1]["items"]
    assert sorted((c["email"], c["pending"]) for c in listed) == [
        ("real@example.com", False),
        ("trap0@spamtrap.example", True),
        ("trap1@spamtrap.example", True),
        ("trap2@spamtrap.example", True),
    ]
    trap = find(http, "trap0@spamtrap.example")
    assert trap is not None and http.get(f"/v1/clients/{trap['client_id']}")[1]["pending"] is True

    everyone = {"field": "email", "op": "is_set"}
    found = http.post("/v1/clients/search", {"filter": everyone})[1]
    assert [c["email"] for c in found["items"]] == ["real@example.com"] and found["count"] == 1
    # Staff tagging a pending client does not put it into a tag's audience either.
    assert http.patch(f"/v1/clients/{trap['client_id']}", {"tags": ["vip"]})[0] == 200
    http.patch(f"/v1/clients/{real['client_id']}", {"tags": ["vip"]})
    ids = [trap["client_id"], real["client_id"]]
    for source in ({"filter": everyone}, {"tag": "vip"}, {"client_ids": ids}):
        status, lst = http.post("/v1/lists", {"name": "all", "source": source})
        assert status == 201 and lst["size"] == 1, (source, lst)
    for auto in ({"field": "auto_status", "op": "eq", "value": "new"},):
        assert http.post("/v1/clients/search", {"filter": auto})[1]["count"] == 1

    http.patch(
        "/v1/account/settings",
        {"terms_url": "https://salon.example/t", "legitimate_interest_url": "https://salon.example/li"},
    )
    audiences = [
        ("standard", {"filter": everyone}),
        ("standard", {"tag": "vip"}),
        ("reactivation", {"filter": everyone}),
        ("automatic", {"auto_status": "new"}),
    ]
    with simulated() as (_time, queue):
        for kind, audience in audiences:
            body: dict[str, Any] = {
                "name": kind,
                "kind": kind,
                "subject": "Hi",
                "html": "<p>Hi</p>",
                "audience": audience,
            }
            if kind == "reactivation":
                body = {"name": kind, "kind": kind, "audience": audience}
            status, campaign = http.post("/v1/campaigns", body)
            assert status == 201, campaign
            preview = http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")[1]
            assert preview["recipients"] == 1, (kind, audience, preview)
            status, _ = http.post(
                f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
            )
            assert status == 202
        drain(api, queue)
        event = api.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        api.lambda_.invoke("run_automatic_campaigns", event)
        drain(api, queue)
    mailed = {str(parsed(m)["To"]).lower() for m in sent_messages()}
    assert mailed == {"real@example.com"}, mailed


def test_a_pending_client_joins_audiences_once_confirmed_or_accepted(
    api: Any, http: Http, account: dict, mail_ready: None
) -> None:
    slug = account["public_slug"]
    post_form(api, slug, {"email": "new@example.com", "first_name": "Nina", "consent": "yes"})
    post_form(api, slug, {"email": "desk@example.com", "first_name": "Dana"})
    everyone = {"filter": {"field": "email", "op": "is_set"}}
    assert http.post("/v1/clients/search", everyone)[1]["count"] == 0
    [message] = sent_messages()
    assert "Nina" not in (parse_raw_message(message.id, message.raw_data).text or "")  # not confirmed yet
    assert api.http.post(confirm_path(message), headers=FORM, body=b"confirm=yes").status_code == 200
    nina = find(http, "new@example.com")
    assert nina and nina["pending"] is False and nina["consent"]["state"] == "granted"
    assert nina["first_name"] == "Nina"

    dana = find(http, "desk@example.com")
    assert dana and dana["pending"] is True
    status, body = http.patch(f"/v1/clients/{dana['client_id']}", {"pending": True})
    assert status == 400, body  # a client is never made pending by staff
    status, body = http.patch(f"/v1/clients/{dana['client_id']}", {"pending": False, "tags": ["desk"]})
    assert status == 200 and body["pending"] is False
    assert http.post("/v1/clients/search", everyone)[1]["count"] == 2
    assert http.post("/v1/lists", {"name": "desk", "source": {"tag": "desk"}})[1]["size"] == 1


def test_a_staff_grant_accepts_a_pending_client(api: Any, http: Http, account: dict) -> None:
    post_form(api, account["public_slug"], {"email": "paper@example.com"})
    paper = find(http, "paper@example.com")
    assert paper and paper["pending"] is True
    status, _ = http.put(f"/v1/clients/{paper['client_id']}/consent", {"granted": True, "note": "paper form"})
    assert status == 200
    assert http.get(f"/v1/clients/{paper['client_id']}")[1]["pending"] is False
    assert http.post("/v1/clients/search", {"filter": {"field": "email", "op": "is_set"}})[1]["count"] == 1


# --- 3. limits per business and source address, a ceiling, mails per address ----------------


def test_one_kiosk_does_not_block_another_business(api: Any, account: dict, source_ip: Any) -> None:
    other = create_account(api, "Other Salon", "hi@other.example")
    source_ip("203.0.113.50")  # one carrier NAT
    for i in range(20):
        assert post_form(api, account["public_slug"], {"email": f"k{i}@example.com"})[0] == 200
    status, page = post_form(api, account["public_slug"], {"email": "k99@example.com"})
    assert status == 429 and "Too many attempts" in page
    assert post_form(api, other["public_slug"], {"email": "k99@example.com"})[0] == 200
    source_ip("203.0.113.51")
    assert post_form(api, account["public_slug"], {"email": "k98@example.com"})[0] == 200


def test_a_source_address_has_a_ceiling_across_businesses(
    api: Any, source_ip: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain import intake as rules
    from chalicelib.domain.rate_limit import FixedWindow

    monkeypatch.setattr(rules, "FORM_PER_IP", FixedWindow(rules.FORM_PER_IP.name, limit=5, seconds=3600))
    slugs = [create_account(api, f"Salon {i}", f"s{i}@salon{i}.example")["public_slug"] for i in range(6)]
    statuses = [post_form(api, slug, {"email": "x@example.com"})[0] for slug in slugs]
    assert statuses == [200] * 5 + [429]
    source_ip("198.51.100.99")
    assert post_form(api, slugs[5], {"email": "x@example.com"})[0] == 200


def test_a_business_has_a_ceiling_across_source_addresses(
    api: Any, account: dict, source_ip: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain import intake as rules
    from chalicelib.domain.rate_limit import FixedWindow

    monkeypatch.setattr(
        rules, "FORM_PER_ACCOUNT", FixedWindow(rules.FORM_PER_ACCOUNT.name, limit=4, seconds=3600)
    )
    other = create_account(api, "Other Salon", "hi@other.example")
    for i in range(4):
        source_ip(f"198.51.100.{i + 1}")
        assert post_form(api, account["public_slug"], {"email": f"f{i}@example.com"})[0] == 200
    source_ip("198.51.100.77")
    assert post_form(api, account["public_slug"], {"email": "late@example.com"})[0] == 429
    assert post_form(api, other["public_slug"], {"email": "late@example.com"})[0] == 200


def test_the_limit_per_address_throttles_mail_not_sign_ups_and_is_per_business(
    api: Any, http: Http, account: dict, source_ip: Any
) -> None:
    verify_sender("hello@salon.example")
    other = create_account(api, "Other Salon", "hi@other.example")
    verify_sender("hi@other.example")
    source_ip("203.0.113.66")  # the attacker spends the victim's budget at this business
    for _ in range(3):
        assert (
            post_form(api, account["public_slug"], {"email": "victim@example.com", "consent": "yes"})[0]
            == 200
        )
    assert len(sent_messages()) == 3
    source_ip("198.51.100.20")  # the victim, from home
    status, page = post_form(api, account["public_slug"], {"email": "victim@example.com", "consent": "yes"})
    assert status == 200 and "Too many" not in page  # the form accepts; no fourth mail this hour
    assert len(sent_messages()) == 3
    assert post_form(api, other["public_slug"], {"email": "victim@example.com", "consent": "yes"})[0] == 200
    assert len(sent_messages()) == 4  # another business is unaffected
    # The victim can still confirm with any link already received.
    link = confirm_path(sent_messages()[0])
    assert api.http.post(link, headers=FORM, body=b"confirm=yes").status_code == 200
    victim = find(http, "victim@example.com")
    assert victim and victim["consent"]["state"] == "granted"
