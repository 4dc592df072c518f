"""Clients through the HTTP API: create, read, update, list, isolation, validation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.storage.models import ClientEmailModel, TagMemberModel
from tests.integration.conftest import Http, create_account

ANNA = {
    "email": "Anna.Novak@Example.com",
    "first_name": "Anna",
    "last_name": "Nováková",
    "phone": "+420 777 123 456",
    "language": "cs",
    "tags": ["vip", "hair"],
    "status": "regular",
    "last_visit_at": "2026-11-01T09:30:00Z",
    "fields": {"birthday": "1990-05-01", "visits": 12, "newsletter": True},
}


def members(account_id: str, tag: str) -> set[str]:
    return {m.client_id for m in TagMemberModel.query(f"{account_id}#{tag}")}


def test_create_and_get_client(http: Http, account: dict) -> None:
    status, created = http.post("/v1/clients", ANNA)
    assert status == 201, created
    assert created["client_id"].startswith("cl_")
    assert created["email"].lower() == "anna.novak@example.com"
    assert created["tags"] == ["vip", "hair"]
    assert created["consent"] == {"state": "unknown", "confirmed_at": None, "source": None}
    assert created["suppressed"] is False
    assert created["auto_status"] in ("active", "lapsing", "lost")
    assert created["last_visit_at"] == "2026-11-01T09:30:00Z"
    assert created["fields"] == {"birthday": "1990-05-01", "visits": 12, "newsletter": True}
    status, fetched = http.get(f"/v1/clients/{created['client_id']}")
    assert status == 200 and fetched == created
    assert members(account["account_id"], "vip") == {created["client_id"]}


def test_new_client_without_visit_is_new(http: Http) -> None:
    status, created = http.post("/v1/clients", {"email": "new@example.com"})
    assert status == 201 and created["auto_status"] == "new" and created["tags"] == []


@pytest.mark.parametrize(
    "email", ["anna.novak@example.com", "ANNA.NOVAK@EXAMPLE.COM", " Anna.Novak@example.com "]
)
def test_email_is_unique_per_account_case_insensitive(http: Http, email: str) -> None:
    assert http.post("/v1/clients", ANNA)[0] == 201
    status, body = http.post("/v1/clients", {"email": email})
    assert status == 409 and body["error"]["code"] == "duplicate_email"


def test_same_email_in_two_accounts_is_fine(api: Any, http: Http) -> None:
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert http.post("/v1/clients", ANNA)[0] == 201
    assert other.post("/v1/clients", ANNA)[0] == 201


def test_concurrent_creates_of_one_address_make_one_client(http: Http, account: dict) -> None:
    results: list[int] = []

    def create() -> None:
        results.append(http.post("/v1/clients", {"email": "race@example.com"})[0])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7
    assert len(list(ClientEmailModel.query(account["account_id"]))) == 1


def test_other_accounts_client_is_not_found(api: Any, http: Http) -> None:
    _, created = http.post("/v1/clients", ANNA)
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    path = f"/v1/clients/{created['client_id']}"
    assert other.get(path)[0] == 404
    status, body = other.patch(path, {"first_name": "Mallory"})
    assert status == 404 and body["error"]["code"] == "not_found"
    assert http.get(path)[1]["first_name"] == "Anna"


def test_patch_updates_fields_tags_and_membership(http: Http, account: dict) -> None:
    _, created = http.post("/v1/clients", ANNA)
    cid = created["client_id"]
    status, body = http.patch(
        f"/v1/clients/{cid}",
        {
            "tags": ["hair", "color"],
            "phone": None,
            "fields": {"visits": 13, "newsletter": None, "vip_since": 2020},
        },
    )
    assert status == 200, body
    assert body["tags"] == ["hair", "color"]
    assert body["phone"] is None
    assert body["first_name"] == "Anna"
    assert body["fields"] == {"birthday": "1990-05-01", "visits": 13, "vip_since": 2020}
    aid = account["account_id"]
    assert members(aid, "vip") == set()
    assert members(aid, "hair") == {cid}
    assert members(aid, "color") == {cid}


def test_patch_email_moves_the_uniqueness_claim(http: Http) -> None:
    _, anna = http.post("/v1/clients", ANNA)
    _, bob = http.post("/v1/clients", {"email": "bob@example.com"})
    status, body = http.patch(f"/v1/clients/{bob['client_id']}", {"email": "ANNA.novak@example.com"})
    assert status == 409 and body["error"]["code"] == "duplicate_email"
    status, body = http.patch(f"/v1/clients/{anna['client_id']}", {"email": "anna@new.example"})
    assert status == 200 and body["email"] == "anna@new.example"
    # the old address is free again, the new one is taken
    assert http.post("/v1/clients", {"email": "anna.novak@example.com"})[0] == 201
    assert http.post("/v1/clients", {"email": "Anna@New.example"})[0] == 409


def test_patch_last_visit_updates_auto_status_at_once(http: Http) -> None:
    _, created = http.post("/v1/clients", {"email": "old@example.com", "last_visit_at": "2020-01-01"})
    assert created["auto_status"] == "lost"
    status, body = http.patch(
        f"/v1/clients/{created['client_id']}", {"last_visit_at": "2099-01-01T00:00:00Z"}
    )
    assert status == 200 and body["auto_status"] == "active"


def test_list_clients_paginates_with_signed_cursor(api: Any, http: Http) -> None:
    for i in range(7):
        assert http.post("/v1/clients", {"email": f"c{i}@example.com"})[0] == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        path = "/v1/clients?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, body = http.get(path)
        assert status == 200, body
        seen += [c["client_id"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7 and pages >= 3
    # a cursor is bound to its account and cannot be forged
    _, first = http.get("/v1/clients?limit=3")
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.get(f"/v1/clients?cursor={first['next_cursor']}")
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    tampered = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
    assert http.get(f"/v1/clients?cursor={tampered}")[0] == 400
    assert http.get("/v1/clients?limit=0")[0] == 400
    assert http.get("/v1/clients?limit=501")[0] == 400
    assert http.get("/v1/clients?limit=abc")[0] == 400


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "nope"}, "email"),
        ({"email": "a@b.example", "tags": "vip"}, "tags"),
        ({"email": "a@b.example", "tags": [""]}, "tags"),
        ({"email": "a@b.example", "tags": ["x" * 65]}, "tags"),
        ({"email": "a@b.example", "tags": [f"t{i}" for i in range(41)]}, "tags"),
        ({"email": "a@b.example", "first_name": 12}, "first_name"),
        ({"email": "a@b.example", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@b.example", "phone": "call me"}, "phone"),
        ({"email": "a@b.example", "language": "english"}, "language"),
        ({"email": "a@b.example", "last_visit_at": "yesterday"}, "last_visit_at"),
        ({"email": "a@b.example", "last_visit_at": 1700000000}, "last_visit_at"),
        ({"email": "a@b.example", "fields": {"bad name": 1}}, "fields"),
        ({"email": "a@b.example", "fields": {"x": {"nested": 1}}}, "fields.x"),
        ({"email": "a@b.example", "fields": {"x": "y" * 1001}}, "fields"),
        ({"email": "a@b.example", "consent": {"state": "granted"}}, "consent"),
        ({"email": "a@b.example", "client_id": "cl_x"}, "client_id"),
    ],
)
def test_create_client_validation(http: Http, payload: dict, field: str) -> None:
    status, body = http.post("/v1/clients", payload)
    assert status == 400, body
    fields = [d["field"] for d in body["error"]["details"]]
    assert any(f == field or f.startswith(field) for f in fields), fields


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_input"),
        (b'"text"', "invalid_input"),
        (b"\xff\xfe", "invalid_json"),
    ],
)
def test_malformed_bodies_are_400(http: Http, raw: bytes, code: str) -> None:
    status, body = http.post("/v1/clients", raw=raw)
    assert status == 400 and body["error"]["code"] == code


def test_oversized_body_is_413(http: Http) -> None:
    raw = b'{"email": "a@b.example", "first_name": "' + b"x" * 300_000 + b'"}'
    status, body = http.post("/v1/clients", raw=raw)
    assert status == 413 and body["error"]["code"] == "payload_too_large"


def test_patch_rejects_null_email_and_unknown_client(http: Http) -> None:
    _, created = http.post("/v1/clients", ANNA)
    status, body = http.patch(f"/v1/clients/{created['client_id']}", {"email": None})
    assert status == 400 and body["error"]["details"][0]["field"] == "email"
    assert http.patch("/v1/clients/cl_unknown", {"first_name": "X"})[0] == 404
    assert http.get("/v1/clients/cl_unknown")[0] == 404


def test_fifty_parallel_patches_of_one_client_all_apply(http: Http, account: dict) -> None:
    """Security review: 39 to 42 of 50 parallel PATCHes answered 409. A blind partial update is
    retried inside the server (jittered back-off, as consent changes are), so every one
    applies and none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    _, created = http.post("/v1/clients", {"email": "t@example.com", "tags": ["base"]})
    cid = created["client_id"]

    def patch(i: int) -> tuple[int, Any]:
        return http.patch(f"/v1/clients/{cid}", {"fields": {f"f{i}": i}})

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(patch, range(50)))
    assert [status for status, _ in results] == [200] * 50, [b for s, b in results if s != 200][:3]
    client = http.get(f"/v1/clients/{cid}")[1]
    assert client["fields"] == {f"f{i}": i for i in range(50)}  # no update lost
    assert client["tags"] == ["base"] and members(account["account_id"], "base") == {cid}


@pytest.mark.parametrize(
    ("method", "content_type", "status", "code"),
    [
        ("post", "text/plain", 415, "unsupported_media_type"),
        ("post", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        # A method the route lacks never reaches the Lambda on API Gateway: its Gateway Response
        # (chalicelib/api/edge.py) answers, locally too (local/gateway.py).
        ("delete", "application/json", 404, "not_found"),
    ],
)
def test_framework_refusals_have_the_error_shape(
    http: Http, method: str, content_type: str, status: int, code: str
) -> None:
    got, body = http.call(method.upper(), "/v1/clients", raw=b"x", headers={"Content-Type": content_type})
    assert got == status
    assert body["error"]["code"] == code and body["error"]["message"]


def test_a_new_client_follows_the_suppression_list_checked_in_its_own_transaction(
    http: Http, account: dict
) -> None:
    """No separate read of the suppression list: the creating transaction checks it, so a
    client is flagged exactly when its address is on the list at the moment it is written."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_deps
    from chalicelib.domain.contact import email_hash
    from chalicelib.domain.records import Client
    from chalicelib.storage.clients import SuppressionMismatch
    from chalicelib.storage.models import ClientModel, SuppressionModel

    deps = get_deps()
    account_id = account["account_id"]
    address = "listed@example.com"
    hashed = email_hash(deps.email_hash_key, address)
    SuppressionModel(account_id, hashed, reason="unsubscribed", created_at="2026-11-01T00:00:00Z").save()
    now = datetime(2026, 11, 2, tzinfo=UTC)
    unflagged = Client(
        account_id=account_id,
        client_id="cl_raced",
        email=address,
        created_at=now,
        updated_at=now,
        auto_status="new",
    )
    with pytest.raises(SuppressionMismatch):
        deps.clients.create(unflagged, email_hash=hashed)
    assert ClientModel.count(account_id) == 0 and ClientEmailModel.count(account_id) == 0  # nothing written
    other = replace(unflagged, client_id="cl_other", email="free@example.com", suppressed=True)
    with pytest.raises(SuppressionMismatch):  # flagged, but not on the list
        deps.clients.create(other, email_hash=email_hash(deps.email_hash_key, "free@example.com"))

    status, created = http.post("/v1/clients", {"email": address})
    assert status == 201 and created["suppressed"] is True, created
    status, created = http.post("/v1/clients", {"email": "free@example.com"})
    assert status == 201 and created["suppressed"] is False, created
