"""Recipient lists through the HTTP API: snapshots from a tag, a filter or ids."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import ClientModel, ListMemberModel
from tests.integration.conftest import Http, create_account, drain_jobs


def add(http: Http, email: str, **extra: Any) -> str:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return str(body["client_id"])


def members(http: Http, list_id: str, limit: int = 2) -> list[str]:
    ids: list[str] = []
    cursor = ""
    for _ in range(100):
        status, body = http.get(
            f"/v1/lists/{list_id}/members?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200, body
        ids += [c["client_id"] for c in body["items"]]
        if body["next_cursor"] is None:
            return ids
        cursor = body["next_cursor"]
    raise AssertionError("members did not end")


def test_list_from_a_tag_is_a_snapshot(http: Http) -> None:
    vips = sorted(add(http, f"v{i}@example.com", tags=["vip"]) for i in range(3))
    add(http, "other@example.com")
    status, body = http.post("/v1/lists", {"name": "VIPs", "source": {"tag": "vip"}})
    assert status == 201, body
    assert body["list_id"].startswith("lst_") and body["size"] == 3 and body["status"] == "ready"
    assert body["source"] == {"tag": "vip"} and body["name"] == "VIPs" and body["created_at"]
    list_id = body["list_id"]
    assert members(http, list_id) == vips
    # clients changing later do not change the list
    add(http, "late@example.com", tags=["vip"])
    http.patch(f"/v1/clients/{vips[0]}", {"tags": []})
    assert members(http, list_id) == vips
    assert http.get(f"/v1/lists/{list_id}")[1]["size"] == 3


def test_list_from_the_seed_segment_filter(http: Http, account: dict) -> None:
    confirmed = sorted(add(http, f"c{i}@example.com") for i in range(2))
    add(http, "unconfirmed@example.com")
    for client_id in confirmed:
        item = ClientModel.get(account["account_id"], client_id)
        item.update(actions=[ClientModel.consent_confirmed_at.set("2026-02-01T10:00:00.000000Z")])
    source = {"filter": {"field": "consent.confirmed_at", "op": "is_set"}}
    status, body = http.post("/v1/lists", {"name": "Confirmed", "source": source})
    assert status == 201 and body["size"] == 2 and body["source"] == source
    assert members(http, body["list_id"]) == confirmed


def test_list_from_ids_skips_unknown_and_foreign_ids(api: Any, http: Http) -> None:
    mine = sorted(add(http, f"m{i}@example.com") for i in range(2))
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    foreign = add(other, "f@example.com")
    status, body = http.post(
        "/v1/lists", {"name": "Picked", "source": {"client_ids": [*mine, mine[0], foreign, "cl_nope"]}}
    )
    assert status == 201 and body["size"] == 2
    assert members(http, body["list_id"]) == mine


def test_get_list_delete_and_isolation(api: Any, http: Http) -> None:
    add(http, "a@example.com", tags=["x"])
    _, created = http.post("/v1/lists", {"name": "X", "source": {"tag": "x"}})
    list_id = created["list_id"]
    status, body = http.get(f"/v1/lists/{list_id}")
    assert status == 200 and body == created
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert other.get(f"/v1/lists/{list_id}")[0] == 404
    assert other.get(f"/v1/lists/{list_id}/members")[0] == 404
    assert other.call("DELETE", f"/v1/lists/{list_id}")[0] == 404
    assert other.get("/v1/lists")[1]["items"] == []
    status, _ = http.call("DELETE", f"/v1/lists/{list_id}")
    assert status == 204
    assert http.get(f"/v1/lists/{list_id}")[0] == 404
    assert http.call("DELETE", f"/v1/lists/{list_id}")[0] == 404
    assert list(ListMemberModel.query(list_id)) == []


def test_lists_paginate(http: Http) -> None:
    made = [
        http.post("/v1/lists", {"name": f"L{i}", "source": {"client_ids": ["cl_x"]}})[1]["list_id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = ""
    while True:
        _, body = http.get("/v1/lists?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [lst["list_id"] for lst in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"source": {"tag": "x"}}, "name"),
        ({"name": " ", "source": {"tag": "x"}}, "name"),
        ({"name": "L"}, "body"),  # "give exactly one of selection or source"
        ({"name": "L", "selection": {"tag": "x"}, "source": {"tag": "x"}}, "body"),
        ({"name": "L", "source": {"tag": "x", "client_ids": ["cl_1"]}}, "source"),
        ({"name": "L", "source": {"tag": ""}}, "source.tag"),
        (
            {"name": "L", "source": {"filter": {"field": "tags", "op": "starts_with", "value": "x"}}},
            "source.filter.op",
        ),
        ({"name": "L", "source": {"client_ids": "cl_1"}}, "source.client_ids"),
        ({"name": "L", "source": {"segment": 1}}, "source"),
        ({"name": "L", "source": {"client_ids": None}}, "source.client_ids"),  # found by fuzzing: was a 500
        ({"name": "L", "source": {"tag": None}}, "source.tag"),
    ],
)
def test_invalid_lists_are_400(http: Http, payload: dict, field: str) -> None:
    status, body = http.post("/v1/lists", payload)
    assert status == 400, body
    assert any(d["field"].startswith(field) for d in body["error"]["details"]), body


def test_large_source_builds_through_a_job(api: Any, http: Http, tune: Any) -> None:
    tune(bulk_sync_limit=2, job_chunk_items=2)
    vips = sorted(add(http, f"v{i}@example.com", tags=["vip"]) for i in range(5))
    status, body = http.post("/v1/lists", {"name": "Big", "source": {"tag": "vip"}})
    assert status == 201 and body["status"] == "building" and body["job_id"], body
    list_id, job_id = body["list_id"], body["job_id"]
    drain_jobs(api)
    status, body = http.get(f"/v1/lists/{list_id}")
    assert body["status"] == "ready" and body["size"] == 5
    assert members(http, list_id) == vips
    _, job = http.get(f"/v1/jobs/{job_id}")
    assert job["kind"] == "build_list" and job["status"] == "done" and job["done"] == 5
    # a filter that needs the client records, and explicit ids, also build through jobs
    flt = {
        "all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "email", "op": "starts_with", "value": "v"},
        ]
    }
    _, by_filter = http.post("/v1/lists", {"name": "F", "source": {"filter": flt}})
    _, by_ids = http.post("/v1/lists", {"name": "I", "source": {"client_ids": vips}})
    assert by_filter["status"] == by_ids["status"] == "building"
    drain_jobs(api)
    for created in (by_filter, by_ids):
        assert http.get(f"/v1/lists/{created['list_id']}")[1]["size"] == 5
        assert members(http, created["list_id"]) == vips
    # deleting a large list removes its members through a job
    assert http.call("DELETE", f"/v1/lists/{list_id}")[0] == 204
    drain_jobs(api)
    assert list(ListMemberModel.query(list_id)) == []


def test_lists_of_a_client_and_erasure_removal(http: Http, account: dict) -> None:
    """The repository calls GDPR export and erasure use."""
    anna = add(http, "anna@example.com", tags=["vip"])
    bob = add(http, "bob@example.com", tags=["vip"])
    _, first = http.post("/v1/lists", {"name": "One", "source": {"tag": "vip"}})
    _, second = http.post("/v1/lists", {"name": "Two", "source": {"client_ids": [anna]}})
    _, gone = http.post("/v1/lists", {"name": "Gone", "source": {"client_ids": [anna]}})
    deps = get_deps()
    aid = account["account_id"]
    # a list deleted while its members are still being removed is not reported
    deps.lists.delete(aid, gone["list_id"])
    assert [lst.list_id for lst in deps.lists.lists_of_client(aid, anna)] == sorted(
        [first["list_id"], second["list_id"]]
    )
    assert deps.lists.lists_of_client("acc_other", anna) == []
    assert deps.lists.remove_client_from_all_lists(aid, anna) == 3
    assert deps.lists.lists_of_client(aid, anna) == []
    assert list(ListMemberModel.by_client.query(anna)) == []
    assert http.get(f"/v1/lists/{first['list_id']}")[1]["size"] == 1
    assert http.get(f"/v1/lists/{second['list_id']}")[1]["size"] == 0
    assert members(http, first["list_id"]) == [bob]
    assert deps.lists.remove_client_from_all_lists(aid, anna) == 0
