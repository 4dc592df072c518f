"""Account limits owned by the operator (API.md "Added in the second round")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import OPERATOR, Http, create_account

LIMITS = {"send_rate_per_second": 20.0, "hourly_send_cap": 5000, "daily_send_cap": 30000}


def test_a_new_account_starts_with_conservative_limits_and_a_warmup(http: Http) -> None:
    status, body = http.get("/v1/account")
    assert status == 200
    limits = body["limits"]
    assert (limits["send_rate_per_second"], limits["hourly_send_cap"], limits["daily_send_cap"]) == (
        5.0,
        2000,
        10000,
    )
    assert limits["warmup_daily_cap"] == 1000  # the warm-up's first day (tests: PERMESSO_WARMUP_DAILY_CAP)
    assert limits["in_force"] == {
        "send_rate_per_second": 5.0,
        "hourly_send_cap": 2000,
        "daily_send_cap": 1000,
        "warmup_daily_cap": 1000,
    }
    settings = body["settings"]
    assert (settings["send_rate_per_second"], settings["hourly_send_cap"], settings["daily_send_cap"]) == (
        5.0,
        2000,
        10000,
    )


def test_tenants_cannot_raise_their_own_limits(http: Http) -> None:
    """The measured hole: any account could raise its rate to 1,000 and its cap to 10 million."""
    for field, value in (
        ("send_rate_per_second", 1000),
        ("daily_send_cap", 10_000_000),
        ("hourly_send_cap", 2001),
    ):
        status, body = http.patch("/v1/account/settings", {field: value})
        assert status == 400 and body["error"]["code"] == "above_account_limit", body
        assert body["error"]["details"][0]["field"] == field
    status, body = http.patch("/v1/account/settings", {"send_rate_per_second": 2, "daily_send_cap": 800})
    assert status == 200 and body["settings"]["send_rate_per_second"] == 2
    assert body["limits"]["in_force"]["send_rate_per_second"] == 2
    assert body["limits"]["in_force"]["daily_send_cap"] == 800  # below the warm-up cap: its own


def test_the_operator_sets_limits(api: Any, http: Http, account: dict[str, Any]) -> None:
    assert http.patch("/v1/account/settings", {"hourly_send_cap": 1000})[0] == 200  # lowered by the business
    status, body = Http(api, None).put(
        f"/v1/accounts/{account['account_id']}/limits", LIMITS, headers=OPERATOR
    )
    assert status == 200, body
    assert {k: body["limits"][k] for k in LIMITS} == LIMITS
    # Settings at the old ceiling follow it; the one the business lowered stays.
    assert body["settings"]["send_rate_per_second"] == 20.0 and body["settings"]["daily_send_cap"] == 30000
    assert body["settings"]["hourly_send_cap"] == 1000
    assert http.get("/v1/account")[1]["limits"]["send_rate_per_second"] == 20.0
    assert http.patch("/v1/account/settings", {"send_rate_per_second": 15})[0] == 200
    lowered = {"send_rate_per_second": 10.0, "hourly_send_cap": 500, "daily_send_cap": 30000}
    body = Http(api, None).put(f"/v1/accounts/{account['account_id']}/limits", lowered, headers=OPERATOR)[1]
    assert body["settings"]["send_rate_per_second"] == 10.0 and body["settings"]["hourly_send_cap"] == 500


def test_limits_are_the_operators(api: Any, http: Http, account: dict[str, Any]) -> None:
    path = f"/v1/accounts/{account['account_id']}/limits"
    assert http.put(path, LIMITS)[0] == 403  # the account's own key is not the operator's
    assert Http(api, None).put(path, LIMITS)[0] == 401
    status, body = Http(api, None).put("/v1/accounts/acc_nope/limits", LIMITS, headers=OPERATOR)
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"send_rate_per_second": 0, "hourly_send_cap": 1, "daily_send_cap": 1},
        {"send_rate_per_second": 5, "hourly_send_cap": 1},
        {"send_rate_per_second": 5, "hourly_send_cap": 1, "daily_send_cap": 1, "monthly": 3},
        {"send_rate_per_second": "5", "hourly_send_cap": 1, "daily_send_cap": 1},
        # found by the API fuzzing: a magnitude DynamoDB cannot store was a 500
        {"send_rate_per_second": 1e-200, "hourly_send_cap": 1, "daily_send_cap": 1},
    ],
)
def test_bad_limits_are_refused(api: Any, account: dict[str, Any], body: dict[str, Any]) -> None:
    status, answer = Http(api, None).put(
        f"/v1/accounts/{account['account_id']}/limits", body, headers=OPERATOR
    )
    assert status == 400 and answer["error"]["code"] == "invalid_input"


def test_limits_are_per_account(api: Any, account: dict[str, Any]) -> None:
    other = create_account(api, "Other", "o@other.example")
    Http(api, None).put(f"/v1/accounts/{account['account_id']}/limits", LIMITS, headers=OPERATOR)
    assert Http(api, other["api_key"]).get("/v1/account")[1]["limits"]["send_rate_per_second"] == 5.0


def test_a_settings_rate_too_small_to_store_is_refused(http: Http) -> None:
    status, answer = http.patch("/v1/account/settings", {"send_rate_per_second": 1e-200})
    assert status == 400 and answer["error"]["code"] == "invalid_input"
