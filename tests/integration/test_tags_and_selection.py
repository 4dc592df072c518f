"""Tags and status compared case-insensitively everywhere, GET /v1/tags with counts, the tag
migration job, the filter's "every client" and list membership, one selection shape."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import ClientModel, TagMemberModel, TagModel
from tests.integration.conftest import Http, create_account, drain_jobs


def add(http: Http, email: str, **extra: Any) -> str:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return str(body["client_id"])


def tags_of(http: Http, client_id: str) -> list[str]:
    return list(http.get(f"/v1/clients/{client_id}")[1]["tags"])


def search(http: Http, flt: Any) -> set[str]:
    status, body = http.post("/v1/clients/search", {"filter": flt, "limit": 500})
    assert status == 200, body
    return {c["client_id"] for c in body["items"]}


def memberships(account_id: str) -> set[tuple[str, str]]:
    """(tag key, client id) of every membership item (tests may scan)."""
    return {
        (m.account_tag.split("#", 1)[1], m.client_id)
        for m in TagMemberModel.scan()
        if m.account_tag.startswith(account_id + "#")
    }


def test_one_tag_whatever_its_spelling(http: Http, account: dict[str, Any]) -> None:
    a = add(http, "a@example.com", tags=["VIP", "vip", " Vip "])
    assert tags_of(http, a) == ["VIP"]  # a client never holds two spellings
    b = add(http, "b@example.com", tags=["vip"])
    assert tags_of(http, b) == ["VIP"]  # stored as first written for the account
    c = add(http, "c@example.com", tags=["hair"])
    for spelling in ("vip", "VIP", "Vip"):
        assert search(http, {"field": "tags", "op": "contains", "value": spelling}) == {a, b}
    assert search(http, {"field": "tags", "op": "not_contains", "value": "vIp"}) == {c}
    assert search(http, {"field": "tags", "op": "in", "value": ["HAIR", "nails"]}) == {c}
    assert memberships(account["account_id"]) == {("vip", a), ("vip", b), ("hair", c)}
    # a PATCH with another spelling changes nothing
    status, patched = http.patch(f"/v1/clients/{a}", {"tags": ["vIP", "Hair"]})
    assert status == 200 and patched["tags"] == ["VIP", "hair"]


def test_bulk_tags_and_lists_ignore_case(http: Http, account: dict[str, Any]) -> None:
    a = add(http, "a@example.com", tags=["vip"])
    b = add(http, "b@example.com")
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": [a, b]}, "add": ["VIP"]})
    assert status == 200 and body["updated"] == 1 and body["matched"] == 2, body
    assert tags_of(http, a) == ["vip"] and tags_of(http, b) == ["vip"]
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"tag": "Vip"}, "remove": ["VIP"], "add": ["Gold"]}
    )
    assert status == 200 and body["updated"] == 2, body
    assert tags_of(http, a) == ["Gold"] and tags_of(http, b) == ["Gold"]
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"tag": "x"}, "add": ["a"], "remove": ["A"]}
    )
    assert status == 400
    status, lst = http.post("/v1/lists", {"name": "Gold", "selection": {"tag": "GOLD"}})
    assert status == 201 and lst["size"] == 2 and lst["selection"] == lst["source"] == {"tag": "GOLD"}
    assert memberships(account["account_id"]) == {("gold", a), ("gold", b)}


def test_status_is_compared_case_insensitively(http: Http) -> None:
    a = add(http, "a@example.com", status="abituale")
    add(http, "b@example.com", status="nuovo")
    assert search(http, {"field": "status", "op": "eq", "value": "Abituale"}) == {a}
    assert search(http, {"field": "status", "op": "in", "value": ["ABITUALE"]}) == {a}
    assert http.get(f"/v1/clients/{a}")[1]["status"] == "abituale"  # stored as written


def test_tags_are_listed_with_counts(api: Any, http: Http) -> None:
    add(http, "a@example.com", tags=["VIP", "hair"])
    add(http, "b@example.com", tags=["vip"])
    c = add(http, "c@example.com", tags=["nails"])
    http.patch(f"/v1/clients/{c}", {"tags": []})  # nails: nobody holds it any more
    status, body = http.get("/v1/tags")
    assert status == 200, body
    assert body == {"items": [{"tag": "hair", "count": 1}, {"tag": "VIP", "count": 2}], "next_cursor": None}
    status, page = http.get("/v1/tags?limit=1")
    assert status == 200 and page["items"] == [{"tag": "hair", "count": 1}] and page["next_cursor"]
    seen, cursor = [], page["next_cursor"]
    while cursor:  # a page may be short: tags nobody holds are left out
        status, rest = http.get(f"/v1/tags?limit=1&cursor={cursor}")
        seen += rest["items"]
        cursor = rest["next_cursor"]
    assert seen == [{"tag": "VIP", "count": 2}]
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert other.get("/v1/tags")[1]["items"] == []
    assert other.get(f"/v1/tags?cursor={page['next_cursor']}")[0] == 400


def test_the_migration_gives_legacy_clients_one_spelling_and_keyed_memberships(
    api: Any, http: Http, account: dict[str, Any]
) -> None:
    """Data written before tags were compared case-insensitively: raw partitions, two spellings."""
    account_id = account["account_id"]
    a = add(http, "a@example.com")
    b = add(http, "b@example.com")
    for client_id, tags in ((a, ["VIP", "vip", "Hair"]), (b, ["Vip"])):
        item = ClientModel.get(account_id, client_id)
        item.update(actions=[ClientModel.tags.set(tags)])
        for tag in tags:
            TagMemberModel(f"{account_id}#{tag}", client_id).save()
    # before the migration only the spelling that was already a key is found
    assert search(http, {"field": "tags", "op": "contains", "value": "vip"}) == {a}
    from chalicelib.services.tags import start_migration

    job = start_migration(get_deps(), account_id)
    drain_jobs(api)
    assert http.get(f"/v1/jobs/{job.job_id}")[1]["status"] == "done"
    assert tags_of(http, a) == ["VIP", "Hair"] and tags_of(http, b) == ["VIP"]
    assert memberships(account_id) == {("vip", a), ("hair", a), ("vip", b)}
    assert search(http, {"field": "tags", "op": "contains", "value": "vip"}) == {a, b}
    assert {t.tag for t in TagModel.query(account_id)} == {"VIP", "Hair"}
    # run again: nothing to change
    job = start_migration(get_deps(), account_id)
    drain_jobs(api)
    assert http.get(f"/v1/jobs/{job.job_id}")[1]["result"] == {"clients": 2, "rewritten": 0}


# --- filter: every client, list membership --------------------------------------------------------


@pytest.mark.parametrize("everyone", [{}, {"all": []}, None])
def test_the_empty_filter_selects_every_client(http: Http, everyone: Any) -> None:
    ids = {add(http, f"c{i}@example.com") for i in range(3)}
    assert search(http, everyone) == ids
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": everyone}, "add": ["all"]})
    assert status == 200 and body["matched"] == 3
    status, lst = http.post("/v1/lists", {"name": "All", "selection": {"filter": everyone}})
    assert status == 201 and lst["size"] == 3
    status, campaign = http.post(
        "/v1/campaigns",
        {"name": "All", "subject": "Hi", "text": "Hi", "selection": {"filter": everyone}},
    )
    assert status == 201
    assert http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")[1]["recipients"] == 3


def test_list_membership_in_the_filter(api: Any, http: Http, account: dict[str, Any]) -> None:
    """Seed 003: filter the list used for the campaign by "confirmation date is filled"."""
    a, b, c = (add(http, f"{n}@example.com", tags=["old"]) for n in "abc")
    add(http, "d@example.com")
    status, lst = http.post("/v1/lists", {"name": "Old", "selection": {"tag": "old"}})
    list_id = lst["list_id"]
    for client_id in (a, c):
        http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
    in_list = {"field": "lists", "op": "contains", "value": list_id}
    assert search(http, in_list) == {a, b, c}
    seed = {"all": [in_list, {"field": "consent.confirmed_at", "op": "is_set"}]}
    assert search(http, seed) == {a, c}
    assert len(search(http, {"not": in_list})) == 1
    assert search(http, {"any": [{"field": "lists", "op": "in", "value": [list_id]}]}) == {a, b, c}
    status, confirmed = http.post("/v1/lists", {"name": "Confirmed", "selection": {"filter": seed}})
    assert status == 201 and confirmed["size"] == 2
    status, copy = http.post("/v1/lists", {"name": "Copy", "selection": {"list_id": list_id}})
    assert status == 201 and copy["size"] == 3
    # A list of another account (or none) is refused like an unknown one: nothing is read.
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.post("/v1/clients/search", {"filter": in_list})
    assert status == 400 and body["error"]["code"] == "invalid_filter"
    assert "no list" in body["error"]["details"][0]["message"]
    assert other.post("/v1/lists", {"name": "x", "selection": {"list_id": list_id}})[0] == 404
    status, body = http.post(
        "/v1/clients/search", {"filter": {"field": "lists", "op": "contains", "value": "vip"}}
    )
    assert status == 400 and body["error"]["details"][0]["field"] == "filter.value"


def test_one_selection_shape_for_lists_bulk_tags_and_campaigns(http: Http) -> None:
    a = add(http, "a@example.com", tags=["vip"], last_visit_at="2020-01-01T00:00:00Z")
    for selection in ({"tag": "vip"}, {"filter": {"field": "tags", "op": "contains", "value": "VIP"}},
                      {"auto_status": "lost"}, {"client_ids": [a]}):  # fmt: skip
        status, lst = http.post("/v1/lists", {"name": "x", "selection": selection})
        assert status == 201 and lst["size"] == 1, (selection, lst)
        status, body = http.post("/v1/clients/bulk-tags", {"selection": selection, "add": ["seen"]})
        assert status == 200 and body["matched"] == 1, (selection, body)
    status, body = http.post(
        "/v1/lists", {"name": "x", "selection": {"tag": "vip"}, "source": {"tag": "vip"}}
    )
    assert status == 400
    status, body = http.post("/v1/lists", {"name": "x"})
    assert status == 400
    status, body = http.post(
        "/v1/campaigns",
        {"name": "x", "subject": "s", "text": "t", "selection": {"tag": "vip"}, "audience": {"tag": "vip"}},
    )
    assert status == 400


def test_the_migration_tool_starts_one_job_per_account(
    api: Any, http: Http, account: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.normalise_tags import main

    other = create_account(api, "Other", "o@other.example")
    assert main([]) == 0
    started = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert set(started) == {account["account_id"], other["account_id"]}
    drain_jobs(api)
    assert http.get(f"/v1/jobs/{started[account['account_id']]}")[1]["status"] == "done"
    with pytest.raises(Exception):  # noqa: B017 — a mistyped id is refused before any job starts
        main(["acc_nope"])
