"""Accounts: operator creation, API-key auth, settings validation, reinstatement."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.storage.models import ApiKeyModel
from tests.integration.conftest import OPERATOR, Http, create_account


def test_operator_creates_account_and_key_is_stored_hashed(api: Any) -> None:
    body = create_account(api, name="Studio Nové Město", email="Info@Studio.Example")
    assert body["account_id"].startswith("acc_")
    assert body["api_key"].startswith("pm_")
    assert body["public_slug"].startswith("studio-nove-mesto-")
    stored = list(ApiKeyModel.scan())
    assert len(stored) == 1
    assert stored[0].key_hash != body["api_key"]
    assert body["api_key"] not in str(stored[0].attribute_values)
    assert body["account"]["settings"]["sender_email"].lower() == "info@studio.example"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ({"Authorization": "Basic test-operator-key"}, 401, "unauthorized"),
    ],
)
def test_account_creation_needs_the_operator_key(api: Any, headers: dict, status: int, code: str) -> None:
    got, body = Http(api, None).post(
        "/v1/accounts", {"name": "X", "sender_email": "x@example.com"}, headers=headers
    )
    assert (got, body["error"]["code"]) == (status, code)


def test_an_account_key_is_not_the_operator_key(api: Any, account: dict) -> None:
    got, body = Http(api, account["api_key"]).post(
        "/v1/accounts", {"name": "X", "sender_email": "x@example.com"}
    )
    assert got == 403 and body["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sender_email": "x@example.com"}, "name"),
        ({"name": "X"}, "sender_email"),
        ({"name": "X", "sender_email": "not-an-address"}, "sender_email"),
        ({"name": "X", "sender_email": "x@example.com", "language": "de"}, "language"),
        ({"name": "X", "sender_email": "x@example.com", "plan": "gold"}, "plan"),
        ({"name": 5, "sender_email": "x@example.com"}, "name"),
    ],
)
def test_account_creation_validates(api: Any, payload: dict, field: str) -> None:
    got, body = Http(api, None).post("/v1/accounts", payload, headers=OPERATOR)
    assert got == 400
    assert body["error"]["code"] == "invalid_input"
    assert field in [d["field"] for d in body["error"]["details"]]


def test_get_account_shows_settings_and_reputation(http: Http, account: dict) -> None:
    status, body = http.get("/v1/account")
    assert status == 200
    assert body["account_id"] == account["account_id"]
    assert body["status"] == "active" and body["suspension"] is None
    assert body["settings"]["consent_only_campaigns"] is False
    assert body["settings"]["reactivation_wait_days"] == 7
    assert body["settings"]["auto_status"] == {"new_days": 30, "active_days": 90, "lapsing_days": 180}
    assert body["reputation"] == {"sent_7d": 0, "bounce_rate_7d": 0.0, "complaint_rate_7d": 0.0}


@pytest.mark.parametrize("header", [None, "Bearer pm_nope", "Token abc", "Bearer "])
def test_account_routes_need_a_valid_key(api: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    status, body = Http(api, None).get("/v1/account", headers=headers)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_patch_settings_updates_only_given_fields(http: Http) -> None:
    status, body = http.patch(
        "/v1/account/settings",
        {
            "consent_only_campaigns": True,
            "terms_url": "https://salon.example/terms",
            "legitimate_interest_url": "https://salon.example/li",
            "reactivation_wait_days": 5,
            "non_responder_action": "tag",
            "send_rate_per_second": 2.5,
            "daily_send_cap": 500,
            "auto_status": {"new_days": 14, "active_days": 60, "lapsing_days": 120},
            "language": "cs",
        },
    )
    assert status == 200, body
    settings = body["settings"]
    assert settings["consent_only_campaigns"] is True
    assert settings["terms_url"] == "https://salon.example/terms"
    assert settings["auto_status"]["lapsing_days"] == 120
    assert settings["language"] == "cs"
    status, body = http.patch("/v1/account/settings", {"terms_url": None})
    assert status == 200
    assert body["settings"]["terms_url"] is None
    assert body["settings"]["consent_only_campaigns"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"terms_url": "http://salon.example/terms"}, "terms_url"),
        ({"legitimate_interest_url": "javascript:alert(1)"}, "legitimate_interest_url"),
        ({"reactivation_wait_days": 31}, "reactivation_wait_days"),
        ({"reactivation_wait_days": -1}, "reactivation_wait_days"),
        ({"reactivation_wait_days": "7"}, "reactivation_wait_days"),
        ({"non_responder_action": "delete"}, "non_responder_action"),
        ({"consent_only_campaigns": "yes"}, "consent_only_campaigns"),
        ({"send_rate_per_second": 0}, "send_rate_per_second"),
        ({"daily_send_cap": 0}, "daily_send_cap"),
        ({"auto_status": {"new_days": 30, "active_days": 200, "lapsing_days": 100}}, "auto_status"),
        ({"auto_status": {"weeks": 3}}, "auto_status.weeks"),
        ({"sender_email": None}, "sender_email"),
        ({"language": "xx"}, "language"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_patch_settings_validates_every_setting(http: Http, payload: dict, field: str) -> None:
    status, body = http.patch("/v1/account/settings", payload)
    assert status == 400, body
    fields = [d["field"] for d in body["error"]["details"]]
    assert any(f == field or f.startswith(field) for f in fields), fields


def test_reinstate_is_operator_only_and_idempotent(api: Any, account: dict) -> None:
    path = f"/v1/accounts/{account['account_id']}/reinstate"
    status, _ = Http(api, account["api_key"]).post(path)
    assert status == 403
    status, body = Http(api, None).post(path, headers=OPERATOR)
    assert status == 200 and body["status"] == "active"
    status, body = Http(api, None).post("/v1/accounts/acc_missing/reinstate", headers=OPERATOR)
    assert status == 404


def test_reinstate_lifts_a_suspension(api: Any, account: dict) -> None:
    from chalicelib.storage.models import AccountModel

    item = AccountModel.get(account["account_id"])
    item.update(
        actions=[
            AccountModel.status.set("suspended"),
            AccountModel.suspension_reason.set("bounce_rate"),
            AccountModel.suspended_at.set("2026-11-20T10:00:00.000000Z"),
        ]
    )
    status, body = Http(api, account["api_key"]).get("/v1/account")
    assert body["status"] == "suspended"
    assert body["suspension"] == {"reason": "bounce_rate", "at": "2026-11-20T10:00:00Z"}
    status, body = Http(api, None).post(f"/v1/accounts/{account['account_id']}/reinstate", headers=OPERATOR)
    assert status == 200 and body["status"] == "active" and body["suspension"] is None
    assert body["reinstated_at"] is not None
