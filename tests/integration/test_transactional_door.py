"""All mail through one door (``services.outbound.send_transactional``): the double opt-in
passes the platform's rate, the account's caps and the sender check, and counts in the
account's reputation, like a campaign e-mail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.bootstrap import get_deps
from chalicelib.mail.mime import OutgoingMail
from chalicelib.services.outbound import CAPPED, SENDER_NOT_VERIFIED, SUSPENDED, send_transactional
from chalicelib.storage.models import ThrottleModel
from tests.integration.conftest import Http, sent_messages
from tests.integration.sending_support import deliver
from tests.integration.test_intake import Browser, client_by_email


def mail(to: str, sender: str = "hello@salon.example") -> OutgoingMail:
    return OutgoingMail(sender, "Salon", to, "Welcome", "Hello", "<p>Hello</p>")


def day_count(account_id: str) -> int:
    return int(ThrottleModel.get(f"account#{account_id}#day#{datetime.now(UTC):%Y%m%d}").count)


def test_a_double_opt_in_passes_the_door(api: Any, http: Http, account: dict[str, Any]) -> None:
    account_id = account["account_id"]
    browser = Browser(api)
    status, _, _ = browser.post(
        f"/p/forms/{account['public_slug']}", {"email": "eva@example.com", "consent": "yes"}
    )
    assert status == 200 and len(sent_messages()) == 1
    assert day_count(account_id) == 1  # the account's daily cap counted it
    assert ThrottleModel.get("platform#ses").tat is not None  # it took a platform slot
    assert ThrottleModel.get(f"account#{account_id}#rate").tat is not None  # and one of the account's
    deps = get_deps()
    assert http.get("/v1/account")[1]["reputation"]["sent_7d"] == 1  # the rates' denominator
    # Its bounce counts in the account's reputation and suppresses the address, once.
    client = client_by_email(http, "eva@example.com")
    assert client is not None
    event = {
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent"},
        "mail": {
            "messageId": "doi-1",
            "tags": {
                "account_id": [account_id],
                "kind": ["double_opt_in"],
                "client_id": [client["client_id"]],
            },
        },
    }
    for _ in range(2):  # SNS delivers at least once
        assert deliver(api, "ses-events", {"Type": "Notification", "Message": json.dumps(event)})
    (day,) = deps.stats.days(account_id, datetime.now(UTC).date(), datetime.now(UTC).date())
    assert (day.sent, day.hard_bounces) == (1, 1)
    assert http.get(f"/v1/clients/{client['client_id']}")[1]["suppressed"] is True


def test_the_door_keeps_the_accounts_daily_cap(api: Any, http: Http, account: dict[str, Any]) -> None:
    assert http.patch("/v1/account/settings", {"daily_send_cap": 2})[0] == 200
    deps = get_deps()
    account_record = deps.accounts.get(account["account_id"])
    outcomes = [
        send_transactional(deps, account_record, mail(f"x{i}@example.com"), kind="test_send")
        for i in range(3)
    ]
    assert [o.sent for o in outcomes] == [True, True, False] and outcomes[2].refused == CAPPED
    assert len(sent_messages()) == 2
    browser = Browser(api)
    browser.post(f"/p/forms/{account['public_slug']}", {"email": "late@example.com", "consent": "yes"})
    assert len(sent_messages()) == 2  # the double opt-in waits for tomorrow's cap like any mail


def test_the_door_sends_only_as_a_verified_sender(api: Any, account: dict[str, Any]) -> None:
    deps = get_deps()
    account_record = deps.accounts.get(account["account_id"])
    outcome = send_transactional(
        deps, account_record, mail("a@example.com", "ceo@victim.example"), kind="test_send"
    )
    assert outcome.refused == SENDER_NOT_VERIFIED and sent_messages() == []
    from dataclasses import replace

    suspended = replace(account_record, status="suspended")
    assert send_transactional(deps, suspended, mail("a@example.com"), kind="test_send").refused == SUSPENDED
    assert sent_messages() == []


def test_an_invitation_passes_the_door(api: Any, http: Http, account: dict[str, Any]) -> None:
    """A console invitation is sent as the business: the account's caps, a platform slot, the
    account's sent count; and none once the daily cap is spent (the owner sends it again)."""
    account_id = account["account_id"]
    status, user = http.post("/v1/users", {"email": "new.staff@salon.example", "role": "staff"})
    assert status == 201 and len(sent_messages()) == 1
    assert day_count(account_id) == 1
    assert ThrottleModel.get("platform#ses").tat is not None
    assert http.get("/v1/account")[1]["reputation"]["sent_7d"] == 1
    assert http.patch("/v1/account/settings", {"daily_send_cap": 1})[0] == 200
    assert http.post(f"/v1/users/{user['user_id']}/invitation")[0] in (200, 202)
    assert len(sent_messages()) == 1  # capped: not sent


def test_a_test_send_passes_the_door(api: Any, http: Http, account: dict[str, Any]) -> None:
    """A campaign's test send (``previews.send_test``) is sent as the business: the account's
    caps, a platform slot, its sent count, tagged with the account and no campaign; refused with
    the door's reason once the daily cap is spent; 400 from a sender not on a verified domain."""
    account_id = account["account_id"]
    status, campaign = http.post(
        "/v1/campaigns", {"name": "Offer", "subject": "Hi", "html": "<p>Hi</p>", "selection": {"tag": "vip"}}
    )
    assert status == 201, campaign
    path = f"/v1/campaigns/{campaign['campaign_id']}/test"
    status, sent = http.post(path, {"email": "anna@example.com"})
    assert status == 202 and sent["message_id"] and len(sent_messages()) == 1
    assert day_count(account_id) == 1
    assert ThrottleModel.get("platform#ses").tat is not None
    assert http.get("/v1/account")[1]["reputation"]["sent_7d"] == 1
    assert http.patch("/v1/account/settings", {"daily_send_cap": 1})[0] == 200
    status, body = http.post(path, {"email": "anna@example.com"})
    assert status == 409 and body["error"]["details"] == {"reason": CAPPED}
    assert len(sent_messages()) == 1
