"""Every change records who made it (API.md): ``actor`` is the ``key_id`` of the API key
used — never a placeholder — on consent ledger events (staff change, import, erasure) and
on job records; a second key is told apart from the first, and the export names them."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.models import ConsentEventModel
from tests.integration.conftest import Http


def key_id(http: Http, name: str) -> str:
    [found] = [k["key_id"] for k in http.get("/v1/api-keys")[1]["items"] if k["name"] == name]
    return found


def test_each_key_is_the_actor_of_its_changes(
    api: Any, http: Http, account: dict[str, Any], tune: Any
) -> None:
    first = key_id(http, "Initial key")
    _, created = http.post("/v1/api-keys", {"name": "Front desk tablet"})
    tablet = Http(api, created["api_key"])

    _, anna = http.post("/v1/clients", {"email": "anna@example.com", "tags": ["vip"]})
    _, bea = http.post("/v1/clients", {"email": "bea@example.com", "tags": ["vip"]})
    assert http.put(f"/v1/clients/{anna['client_id']}/consent", {"granted": True, "note": "form"})[0] == 200
    assert tablet.put(f"/v1/clients/{anna['client_id']}/consent", {"granted": False})[0] == 200
    csv = "email,consent,consent_date,consent_source\nbea@example.com,no,2020-02-02,phone call\n"
    status, _ = tablet.post(
        "/v1/clients/import?update_existing=true&accept_consent=true",
        raw=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert status == 200
    events = http.get(f"/v1/clients/{anna['client_id']}/consent")[1]["events"]
    assert [(e["type"], e["actor"]) for e in events] == [("granted", first), ("denied", created["key_id"])]
    [imported] = http.get(f"/v1/clients/{bea['client_id']}/consent")[1]["events"]
    assert (imported["source"], imported["actor"]) == ("import", created["key_id"])

    # A job started through the API carries its key.
    tune(bulk_sync_limit=1)
    status, job = tablet.post(
        "/v1/clients/bulk-tags",
        {"selection": {"filter": {"field": "tags", "op": "contains", "value": "vip"}}, "add": ["winback"]},
    )
    assert status == 202, job
    assert http.get(f"/v1/jobs/{job['job_id']}")[1]["actor"] == created["key_id"]

    # The export says who each actor is; erasure records its actor too.
    export = http.get(f"/v1/clients/{anna['client_id']}/export")[1]
    assert export["actors"] == {
        first: {"type": "api_key", "name": "Initial key", "revoked": False},
        created["key_id"]: {"type": "api_key", "name": "Front desk tablet", "revoked": False},
    }
    assert tablet.delete(f"/v1/clients/{anna['client_id']}")[0] == 204
    ledger = list(ConsentEventModel.query(f"{account['account_id']}#{anna['client_id']}"))
    assert ledger[-1].type == "erased" and ledger[-1].actor == created["key_id"]
    assert all(event.actor not in (None, "default") for event in ledger)
