"""API keys (API.md, "API keys"): the first key is a managed key; named keys are created
(the secret shown once), listed without secrets, revoked (401 from the next request on);
``last_used_at`` is written at most every few minutes; failed authentication is slowed per
source address, and a malformed key is refused without reading DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.storage.models import AccountKeyModel, ApiKeyModel
from tests.integration.conftest import Http, create_account


def test_the_key_made_with_the_account_is_one_of_its_keys(http: Http, account: dict[str, Any]) -> None:
    status, body = http.get("/v1/api-keys")
    assert status == 200, body
    [first] = body["items"]
    assert body["next_cursor"] is None
    assert set(first) >= {"key_id", "name", "prefix", "created_at", "last_used_at"}
    assert first["key_id"].startswith("key_") and first["name"] == "Initial key"
    assert account["api_key"].startswith(first["prefix"]) and len(first["prefix"]) == 8
    assert "api_key" not in first and account["api_key"] not in str(body)
    assert first["last_used_at"] is not None  # this very request used it


def test_create_list_and_revoke_a_named_key(api: Any, http: Http) -> None:
    status, created = http.post("/v1/api-keys", {"name": "Booking system"})
    assert status == 201, created
    assert set(created) >= {"key_id", "name", "api_key", "prefix", "created_at"}
    assert created["name"] == "Booking system" and created["api_key"].startswith(created["prefix"])
    booking = Http(api, created["api_key"])
    assert booking.get("/v1/account")[0] == 200

    listed = http.get("/v1/api-keys")[1]["items"]
    assert [k["name"] for k in listed] == ["Initial key", "Booking system"]
    assert all("api_key" not in k for k in listed) and created["api_key"] not in str(listed)

    assert http.delete(f"/v1/api-keys/{created['key_id']}") == (204, None)
    status, body = booking.get("/v1/account")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert [k["name"] for k in http.get("/v1/api-keys")[1]["items"]] == ["Initial key"]
    revoked = http.get("/v1/api-keys?include_revoked=true")[1]["items"]
    assert [k["revoked_at"] is not None for k in revoked] == [False, True]
    assert http.delete(f"/v1/api-keys/{created['key_id']}")[0] == 404  # already revoked


def test_a_key_can_revoke_itself(api: Any, http: Http) -> None:
    _, created = http.post("/v1/api-keys", {"name": "Short-lived"})
    itself = Http(api, created["api_key"])
    assert itself.delete(f"/v1/api-keys/{created['key_id']}") == (204, None)
    assert itself.get("/v1/account")[0] == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}, {"name": "ok", "extra": 1}],
)
def test_bad_names_are_400(http: Http, body: dict[str, Any]) -> None:
    status, answer = http.post("/v1/api-keys", body)
    assert status == 400, answer
    assert answer["error"]["details"]


def test_keys_are_paginated(http: Http) -> None:
    for n in range(3):
        assert http.post("/v1/api-keys", {"name": f"key {n}"})[0] == 201
    seen, cursor = [], None
    while True:
        path = "/v1/api-keys?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = http.get(path)[1]
        seen += [k["name"] for k in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Initial key", "key 0", "key 1", "key 2"]


def test_another_accounts_key_ids_are_not_found(api: Any, http: Http) -> None:
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    [their_key] = other.get("/v1/api-keys")[1]["items"]
    assert http.delete(f"/v1/api-keys/{their_key['key_id']}")[0] == 404
    assert other.get("/v1/account")[0] == 200
    assert their_key["key_id"] not in str(http.get("/v1/api-keys?include_revoked=true")[1])


def test_last_used_is_written_at_most_every_few_minutes(
    api: Any, http: Http, account: dict[str, Any], tune: Any
) -> None:
    deps = tune()
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    deps.clock = lambda: now
    assert http.get("/v1/account")[0] == 200
    item = next(iter(AccountKeyModel.query(account["account_id"])))
    credential = ApiKeyModel.get(item.key_hash)
    assert credential.last_used_at.startswith("2026-11-22T10:00:00")

    writes = []
    original = ApiKeyModel.update

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        writes.append(self.key_hash)
        return original(self, *args, **kwargs)

    ApiKeyModel.update = counting  # type: ignore[method-assign]
    try:
        for _ in range(20):
            assert http.get("/v1/account")[0] == 200
        assert writes == []
        now = now + timedelta(minutes=5)
        for _ in range(5):
            assert http.get("/v1/account")[0] == 200
        assert len(writes) == 1
    finally:
        ApiKeyModel.update = original  # type: ignore[method-assign]
    assert ApiKeyModel.get(item.key_hash).last_used_at.startswith("2026-11-22T10:05:00")
    shown = http.get("/v1/api-keys")[1]["items"][0]["last_used_at"]
    assert shown == "2026-11-22T10:05:00Z"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer pm_short",
        "Bearer " + "x" * 5000,
        "Bearer pm_" + "A" * 42 + "!",
        "Bearer not-a-key",
    ],
)
def test_a_malformed_key_is_refused_without_reading_dynamodb(
    api: Any, header: str | None, monkeypatch: Any
) -> None:
    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("DynamoDB was read for a malformed key")

    monkeypatch.setattr(ApiKeyModel, "get", no_read)
    monkeypatch.setattr(ApiKeyModel, "update", no_read)
    from chalicelib.storage.models import ThrottleModel

    monkeypatch.setattr(ThrottleModel, "update", no_read)
    monkeypatch.setattr(ThrottleModel, "get", no_read)
    headers = {"Authorization": header} if header is not None else {}
    status, body = Http(api, None).get("/v1/account", headers=headers)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_failed_authentication_is_slowed_per_source_address(
    api: Any, http: Http, monkeypatch: pytest.MonkeyPatch, tune: Any
) -> None:
    from chalicelib.services import api_keys

    moment = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)  # one fixed window, however slow the run
    tune().clock = lambda: moment
    monkeypatch.setattr(api_keys, "_BLOCKED", {})
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.77")
    guesser = Http(api, "pm_" + "A" * 43)
    statuses = [guesser.get("/v1/account")[0] for _ in range(api_keys.API_AUTH_PER_IP.limit + 2)]
    assert statuses[: api_keys.API_AUTH_PER_IP.limit] == [401] * api_keys.API_AUTH_PER_IP.limit
    assert statuses[-2:] == [429, 429]
    response = api.http.get("/v1/account", headers={"Authorization": "Bearer pm_" + "B" * 43})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # A valid key from the same address still works; further failures cost no write.
    assert http.get("/v1/account")[0] == 200
    from chalicelib.storage.models import ThrottleModel

    monkeypatch.setattr(
        ThrottleModel, "update", lambda *a, **k: (_ for _ in ()).throw(AssertionError("write"))
    )
    assert guesser.get("/v1/account")[0] == 429
    monkeypatch.undo()
    # Another source address is not affected, nor is a valid key from elsewhere.
    monkeypatch.setattr(api_keys, "_BLOCKED", {})
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.78")
    assert guesser.get("/v1/account")[0] == 401
    assert http.get("/v1/account")[0] == 200


def test_the_api_key_routes_need_a_key(api: Any) -> None:
    anonymous = Http(api, None)
    for method, path in (("GET", "/v1/api-keys"), ("POST", "/v1/api-keys"), ("DELETE", "/v1/api-keys/key_x")):
        assert anonymous.call(method, path, raw=b"{}")[0] == 401


def test_the_migration_makes_an_old_key_manageable(api: Any, account: dict[str, Any]) -> None:
    """A key created before keys were manageable (a credential item alone) gets its record."""
    from tools.migrate_api_keys import migrate

    for record in AccountKeyModel.query(account["account_id"]):
        record.delete()  # what a key created by an older version looks like
    http = Http(api, account["api_key"])
    assert http.get("/v1/api-keys")[1]["items"] == []
    assert migrate() == 1
    assert migrate() == 0  # idempotent
    [key] = http.get("/v1/api-keys")[1]["items"]
    assert account["api_key"].startswith(key["prefix"])
    assert http.delete(f"/v1/api-keys/{key['key_id']}") == (204, None)
    assert http.get("/v1/account")[0] == 401
