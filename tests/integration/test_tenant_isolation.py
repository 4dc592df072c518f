"""Security: every /v1 route needs a key, and another account's key on this account's ids
gets 404 (or 403 for operator routes) — never data, never a change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app
from chalicelib.bootstrap import get_deps
from chalicelib.domain.jobs import Job
from tests.integration.conftest import Http, create_account

BODIES: dict[tuple[str, str], Any] = {
    ("/v1/clients/{client_id}", "PATCH"): {"first_name": "Mallory"},
    ("/v1/clients/{client_id}/consent", "PUT"): {"granted": True},
    ("/v1/campaigns/{campaign_id}/send", "POST"): {"acknowledge_non_consented": True},
    ("/v1/campaigns/{campaign_id}/segment", "POST"): {"force": True},
    ("/v1/users/{user_id}", "PATCH"): {"role": "staff"},
}


def v1_routes() -> list[tuple[str, str]]:
    return sorted(
        (path, method)
        for path, methods in app.routes.items()
        if path.startswith("/v1/")
        for method in methods
    )


@pytest.mark.parametrize(("path", "method"), v1_routes())
def test_every_v1_route_needs_a_key(api: Any, path: str, method: str) -> None:
    concrete = path.replace("{", "x").replace("}", "")
    status, body = Http(api, None).call(method, concrete, raw=b"{}")
    assert status == 401, (path, method, body)
    assert body["error"]["code"] == "unauthorized"


@pytest.fixture
def victim(api: Any, http: Http, account: dict[str, Any]) -> dict[str, str]:
    """An account with a client, a list, a campaign and a job: the ids to try from outside."""
    _, client = http.post(
        "/v1/clients", {"email": "secret@victim.example", "first_name": "Vera", "tags": ["vip"]}
    )
    _, lst = http.post("/v1/lists", {"name": "VIP", "source": {"tag": "vip"}})
    _, campaign = http.post(
        "/v1/campaigns",
        {"name": "Sale", "subject": "Hi", "html": "<p>x</p>", "audience": {"tag": "vip"}},
    )
    _, user = http.post("/v1/users", {"email": "staff@victim.example", "role": "owner"})
    [key] = http.get("/v1/api-keys")[1]["items"]
    deps = get_deps()
    now = deps.clock()
    job = deps.jobs.create(
        Job(
            account_id=account["account_id"],
            job_id="job_victim",
            kind="bulk_tags",
            params={},
            created_at=now,
            updated_at=now,
        )
    )
    return {
        "account_id": account["account_id"],
        "client_id": client["client_id"],
        "list_id": lst["list_id"],
        "campaign_id": campaign["campaign_id"],
        "job_id": job.job_id,
        "domain": "salon.example",  # the account's sender domain
        "user_id": user["user_id"],
        "key_id": key["key_id"],
    }


def test_another_accounts_key_never_reaches_this_accounts_data(
    api: Any, http: Http, victim: dict[str, str]
) -> None:
    intruder = Http(api, create_account(api, "Intruder", "i@intruder.example")["api_key"])
    before = http.get(f"/v1/clients/{victim['client_id']}")[1]
    tried = 0
    for path, method in v1_routes():
        if "{" not in path:
            continue
        concrete = path
        for name, value in victim.items():
            concrete = concrete.replace("{" + name + "}", value)
        body = BODIES.get((path, method), {} if method in ("POST", "PUT", "PATCH") else None)
        status, answer = intruder.call(method, concrete, body)
        expected = 403 if path.startswith("/v1/accounts/") else 404
        assert status == expected, (method, path, status, answer)
        text = json.dumps(answer)
        assert "secret@victim.example" not in text and "Vera" not in text and "staff@victim" not in text
        tried += 1
    assert tried >= 15
    assert http.get(f"/v1/clients/{victim['client_id']}")[1] == before
    assert http.get(f"/v1/campaigns/{victim['campaign_id']}")[1]["status"] == "draft"
    assert http.get(f"/v1/lists/{victim['list_id']}")[0] == 200
    assert http.get(f"/v1/sender-domains/{victim['domain']}")[1]["status"] == "verified"
    assert http.get("/v1/account")[1]["limits"]["send_rate_per_second"] == 5.0
    assert http.get(f"/v1/users/{victim['user_id']}")[1]["role"] == "owner"
    assert http.get("/v1/account")[0] == 200  # the victim's key was not revoked
