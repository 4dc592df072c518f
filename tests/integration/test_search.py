"""Client search through the HTTP API, and the indexed plans against DynamoDB (moto)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from chalicelib.bootstrap import get_deps
from chalicelib.domain.account_settings import AccountSettings
from chalicelib.domain.filters import evaluate, parse_filter
from chalicelib.domain.records import Account, Client
from chalicelib.services.search import search_clients
from chalicelib.storage.models import ClientModel
from tests.integration.conftest import Http, create_account
from tests.strategies import client_lists, filters


def add(http: Http, email: str, **extra: Any) -> dict[str, Any]:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return body


def confirm(account_id: str, client_id: str, at: str = "2026-02-01T10:00:00.000000Z") -> None:
    """Set a confirmation date directly (the consent ledger that does this is another feature)."""
    item = ClientModel.get(account_id, client_id)
    item.update(actions=[ClientModel.consent_confirmed_at.set(at), ClientModel.consent_state.set("granted")])


def search(http: Http, body: dict[str, Any]) -> tuple[int, Any]:
    return http.post("/v1/clients/search", body)


def search_all(http: Http, flt: Any, limit: int = 2) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        status, body = search(http, {"filter": flt, "limit": limit, "cursor": cursor})
        assert status == 200, body
        assert body["count"] == len(body["items"]) <= limit
        ids += [c["client_id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("search did not end")


def test_seed_segment_and_api_example(http: Http, account: dict) -> None:
    anna = add(http, "anna@example.com", tags=["vip"], status="regular")
    bob = add(http, "bob@example.com", tags=["vip"], last_visit_at="2020-01-01")
    add(http, "eva@example.com", tags=["hair"], status="regular")
    confirm(account["account_id"], anna["client_id"])
    confirm(account["account_id"], bob["client_id"])

    status, body = search(http, {"filter": {"field": "consent.confirmed_at", "op": "is_set"}})
    assert status == 200 and body["count"] == 2 and body["next_cursor"] is None
    assert {c["client_id"] for c in body["items"]} == {anna["client_id"], bob["client_id"]}
    assert body["items"][0]["consent"]["confirmed_at"] == "2026-02-01T10:00:00Z"

    example = {
        "all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {
                "any": [
                    {"field": "status", "op": "eq", "value": "regular"},
                    {"field": "auto_status", "op": "in", "value": ["lapsing", "lost"]},
                ]
            },
            {"field": "consent.confirmed_at", "op": "is_set"},
        ]
    }
    assert sorted(search_all(http, example)) == sorted([anna["client_id"], bob["client_id"]])


def test_no_filter_lists_everything_and_pages(http: Http) -> None:
    made = [add(http, f"c{i}@example.com")["client_id"] for i in range(7)]
    for limit in (1, 3, 7, 50):
        assert sorted(search_all(http, None, limit=limit)) == sorted(made)
    status, body = search(http, {})
    assert status == 200 and body["count"] == 7


def test_tag_search_pages_without_gaps_or_repeats(http: Http) -> None:
    tagged = [
        add(http, f"t{i}@example.com", tags=["vip"] if i % 2 else ["vip", "spa"])["client_id"]
        for i in range(9)
    ]
    add(http, "plain@example.com")
    flt = {"field": "tags", "op": "contains", "value": "vip"}
    for limit in (1, 2, 4, 9, 10):
        assert search_all(http, flt, limit=limit) == sorted(tagged)
    multi = {"field": "tags", "op": "in", "value": ["spa", "vip"]}
    assert sorted(search_all(http, multi, limit=2)) == sorted(tagged)


def test_email_equality_is_case_insensitive(http: Http) -> None:
    anna = add(http, "Anna.Novak@Example.com")
    add(http, "other@example.com")
    status, body = search(http, {"filter": {"field": "email", "op": "eq", "value": "ANNA.NOVAK@example.COM"}})
    assert status == 200 and [c["client_id"] for c in body["items"]] == [anna["client_id"]]
    status, body = search(http, {"filter": {"field": "email", "op": "in", "value": ["x@y.example"]}})
    assert status == 200 and body["items"] == []


def test_auto_status_and_custom_fields(http: Http) -> None:
    lost = add(http, "lost@example.com", last_visit_at="2020-01-01", fields={"visits": 3})
    add(http, "new@example.com", fields={"visits": 30})
    assert search_all(http, {"field": "auto_status", "op": "eq", "value": "lost"}) == [lost["client_id"]]
    assert search_all(http, {"field": "fields.visits", "op": "lt", "value": 10}) == [lost["client_id"]]


@pytest.mark.parametrize(
    ("flt", "path"),
    [
        ({"field": "colour", "op": "eq", "value": "x"}, "filter.field"),
        (
            {
                "all": [
                    {"field": "tags", "op": "contains", "value": "x"},
                    {"any": [{"field": "status", "op": "like", "value": "x"}]},
                ]
            },
            "filter.all[1].any[0].op",
        ),
        ({"field": "suppressed", "op": "eq", "value": "no"}, "filter.value"),
        ({"field": "created_at", "op": "after", "value": "last week"}, "filter.value"),
        ([1, 2], "filter"),
    ],
)
def test_invalid_filters_are_400_naming_the_node(http: Http, flt: Any, path: str) -> None:
    status, body = search(http, {"filter": flt})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_filter"
    assert path in [d["field"] for d in body["error"]["details"]]


def test_bad_paging_input_is_400(api: Any, http: Http) -> None:
    for _ in range(3):
        add(http, f"{_}@example.com", tags=["vip"])
    flt = {"field": "tags", "op": "contains", "value": "vip"}
    _, first = search(http, {"filter": flt, "limit": 1})
    # a cursor resumes only the search that made it: same account, same filter
    status, body = search(http, {"filter": None, "limit": 1, "cursor": first["next_cursor"]})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.post("/v1/clients/search", {"filter": flt, "cursor": first["next_cursor"]})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    assert search(http, {"limit": 0})[0] == 400
    assert search(http, {"limit": 501})[0] == 400
    assert search(http, {"limit": "5"})[0] == 400
    assert search(http, {"unknown": 1})[0] == 400
    assert http.post("/v1/clients/search", raw=b"{nope")[0] == 400


def test_search_sees_only_own_account(api: Any, http: Http) -> None:
    add(http, "mine@example.com", tags=["vip"])
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.post(
        "/v1/clients/search", {"filter": {"field": "tags", "op": "contains", "value": "vip"}}
    )
    assert status == 200 and body["items"] == [] and body["next_cursor"] is None
    status, body = other.post(
        "/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": "mine@example.com"}}
    )
    assert status == 200 and body["items"] == []
    assert Http(api, None).post("/v1/clients/search", {})[0] == 401


_accounts = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=client_lists(max_size=10), raw=filters(max_leaves=6))
def test_indexed_search_equals_plain_evaluation(aws: None, population: list[Client], raw: dict) -> None:
    """The property of the issue, end to end: for generated clients stored in DynamoDB and a
    generated filter, paging through the indexed search returns exactly the clients that plain
    in-memory evaluation over all of them selects, each once."""
    deps = get_deps()
    account_id = f"acc_prop{next(_accounts):05d}"
    now = datetime(2026, 6, 1, tzinfo=UTC)
    account = Account(account_id, "Prop", "prop", AccountSettings(sender_email="p@example.com"), now, now)
    stored = [deps.clients.create(replace(c, account_id=account_id)) for c in population]
    node = parse_filter(raw)
    expected = sorted(c.client_id for c in stored if evaluate(node, c))
    found: list[str] = []
    cursor = None
    for _ in range(50):
        items, cursor = search_clients(deps, account, raw, 3, cursor)
        found += [c.client_id for c in items]
        if cursor is None:
            break
    assert sorted(found) == expected
    assert len(found) == len(set(found))
