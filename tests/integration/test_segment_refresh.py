"""Segmenting early no longer freezes the list: ``segment`` with ``refresh`` adds those who
confirmed since, and the report says how many confirmed after the list was made."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.models import ListMemberModel
from tests.integration.conftest import Http
from tests.integration.test_reactivation import (  # noqa: F401 — the fixture
    FORM,
    add_clients,
    links_by_recipient,
    new_reactivation,
    post_page,
    send_and_drain,
    sim,
)


def members(list_id: str) -> set[str]:
    return {m.client_id for m in ListMemberModel.query(list_id)}


def test_refresh_adds_who_confirmed_after_an_early_segment(
    http: Http,
    account: dict[str, Any],
    sim: Any,  # noqa: F811
) -> None:
    time, queue = sim
    ids = add_clients(http, ["anna", "bea", "carl", "dora"])
    status, campaign = new_reactivation(http, wait_days=7)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, queue, campaign_id)
    links = links_by_recipient()
    assert post_page(http, links["anna@example.com"]["confirm"])[0] == 200

    status, first = http.post(f"/v1/campaigns/{campaign_id}/segment", {"force": True})
    assert status == 200 and first["size"] == 1, first
    list_id = first["list_id"]
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert (report["confirmed_after_segment"], report["refresh_would_add"]) == (0, 0)

    time.advance(hours=3)  # answers after the list was made
    assert post_page(http, links["bea@example.com"]["confirm"])[0] == 200
    assert post_page(http, links["carl@example.com"]["confirm"])[0] == 200
    assert post_page(http, links["carl@example.com"]["decline"])[0] == 200  # changed their mind: out
    assert post_page(http, links["dora@example.com"]["decline"])[0] == 200
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["confirmed"] == 2 and report["segment_list_id"] == list_id
    assert (report["confirmed_after_segment"], report["refresh_would_add"]) == (1, 1)

    # segmenting again without refresh answers the same list, unchanged
    status, again = http.post(f"/v1/campaigns/{campaign_id}/segment", {})
    assert status == 200 and (again["list_id"], again["size"]) == (list_id, 1)
    status, refreshed = http.post(f"/v1/campaigns/{campaign_id}/segment", {"refresh": True})
    assert status == 200, refreshed
    assert refreshed["list_id"] == list_id and refreshed["added"] == 1 and refreshed["size"] == 2
    assert refreshed["status"] == "ready"
    assert members(list_id) == {ids["anna"], ids["bea"]}
    assert http.get(f"/v1/lists/{list_id}")[1]["size"] == 2
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert (report["confirmed_after_segment"], report["refresh_would_add"]) == (1, 0)
    # refreshing again adds nobody
    status, twice = http.post(f"/v1/campaigns/{campaign_id}/segment", {"refresh": True})
    assert status == 200 and twice["added"] == 0 and twice["size"] == 2
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "segmented"


def test_refresh_of_a_campaign_not_yet_segmented_is_a_normal_segment(
    http: Http,
    account: dict[str, Any],
    sim: Any,  # noqa: F811
) -> None:
    _time, queue = sim
    add_clients(http, ["anna"])
    status, campaign = new_reactivation(http, wait_days=7)
    send_and_drain(http, queue, campaign["campaign_id"])
    path = f"/v1/campaigns/{campaign['campaign_id']}/segment"
    status, body = http.post(path, {"refresh": True})
    assert status == 409 and body["error"]["code"] == "wait_not_elapsed"
    status, body = http.post(path, {"refresh": True, "force": True})
    assert status == 200 and body["size"] == 0
