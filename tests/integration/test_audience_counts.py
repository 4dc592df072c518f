"""A campaign's audience beyond what one request counts (``preview_max_clients``): the preview
reads no page past its limit and answers 202 with an ``audience_count`` job, the job counts the
rest (from where the request stopped) to the same figures an unbounded count gives, and the
consent gate of ``send`` decides on a fresh count of the campaign's current audience — or asks
for the acknowledgement, never guessing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Http, drain_jobs
from tests.integration.test_campaigns import add_clients, grant, new_campaign, sim, suppress  # noqa: F401

COUNTS = ("recipients", "consented", "not_consented", "suppressed", "will_send")


def salon(http: Http, account: dict[str, Any]) -> list[str]:
    """12 clients: 5 consented, 1 refused, 1 unsubscribed, 5 never asked."""
    ids = add_clients(http, 12)
    grant(http, ids[:5])
    grant(http, ids[5:6], granted=False)
    suppress(account["account_id"], ids[6])
    return ids


def test_beyond_the_limit_the_preview_reads_one_more_and_a_job_counts_the_rest(
    http: Http, account: dict[str, Any], tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import campaigns as campaign_service

    salon(http, account)
    cid = new_campaign(http)["campaign_id"]
    tune(preview_max_clients=100)
    status, whole = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 200 and whole["recipients"] == 12, whole

    tune(preview_max_clients=5)
    read: list[int] = []
    real_chunk = campaign_service.audience_chunk

    def audience_chunk(*args: Any, **kwargs: Any) -> Any:
        matches, cursor = real_chunk(*args, **kwargs)
        read.append(len(matches))
        return matches, cursor

    monkeypatch.setattr(campaign_service, "audience_chunk", audience_chunk)
    status, job = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 202, job
    assert sum(read) == 6  # the limit and one more: enough to know it is passed
    assert job["kind"] == "audience_count" and job["status"] == "queued"
    assert job["done"] == 6 and job["total"] is None  # counted by the job's first chunk
    assert sum(job["result"][name] for name in ("consented", "not_consented", "suppressed")) == 6

    monkeypatch.setattr(campaign_service, "audience_chunk", real_chunk)
    drain_jobs(http.client)
    status, counted = http.get(f"/v1/jobs/{job['job_id']}")
    assert status == 200 and counted["status"] == "done", counted
    assert (counted["done"], counted["total"]) == (12, 12)
    assert {name: counted["result"][name] for name in COUNTS} == {name: whole[name] for name in COUNTS}
    assert http.get(f"/v1/campaigns/{cid}")[1]["status"] == "draft"  # counting changes nothing


def test_a_list_audience_has_its_total_from_the_start(http: Http, account: dict[str, Any], tune: Any) -> None:
    salon(http, account)
    status, built = http.post("/v1/lists", {"name": "All VIP", "selection": {"tag": "vip"}})
    assert status == 201, built
    drain_jobs(http.client)
    cid = new_campaign(http, {"list_id": built["list_id"]})["campaign_id"]
    tune(preview_max_clients=4)
    status, job = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 202 and job["total"] == 12, job
    drain_jobs(http.client)
    counted = http.get(f"/v1/jobs/{job['job_id']}")[1]
    assert counted["status"] == "done" and counted["result"]["recipients"] == 12, counted


def test_the_consent_gate_decides_on_a_fresh_count_of_the_current_audience(
    http: Http, account: dict[str, Any], tune: Any
) -> None:
    salon(http, account)
    cid = new_campaign(http)["campaign_id"]
    deps = tune(preview_max_clients=5)

    # Not counted: the request cannot know who lacks consent, so it asks for the count.
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["code"] == "audience_too_large", refused
    assert refused["error"]["details"] == {"limit": 5}

    status, job = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 202
    # Counting: still refused, and the answer names the count under way.
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["details"] == {"limit": 5, "job_id": job["job_id"]}

    drain_jobs(http.client)
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["code"] == "non_consented_recipients", refused
    assert refused["error"]["details"]["count"] == 5

    # An hour later the count is stale: counted again, or acknowledged.
    real_clock = deps.clock
    deps.clock = lambda: real_clock() + timedelta(hours=1, minutes=1)
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["code"] == "audience_too_large", refused
    deps.clock = real_clock

    # Another audience than the one counted: the count does not apply.
    status, edited = http.patch(f"/v1/campaigns/{cid}", {"audience": {"tag": "other"}})
    assert status == 200, edited
    add_clients(http, 6, tag="other", prefix="o")
    status, refused = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 409 and refused["error"]["code"] == "audience_too_large", refused
    assert http.get(f"/v1/campaigns/{cid}")[1]["status"] == "draft"


def test_a_fresh_count_with_everybody_consented_lets_the_send_through(
    http: Http,
    account: dict[str, Any],
    tune: Any,
    sim: Any,  # noqa: F811
) -> None:
    from tests.integration.sending_support import drain, recipients_of_sent

    _, queue = sim  # the simulated queues carry the job's messages here
    grant(http, add_clients(http, 8))
    cid = new_campaign(http)["campaign_id"]
    tune(preview_max_clients=3)
    status, job = http.post(f"/v1/campaigns/{cid}/preview")
    assert status == 202
    drain(http.client, queue)
    result = http.get(f"/v1/jobs/{job['job_id']}")[1]["result"]
    assert (result["recipients"], result["not_consented"], result["will_send"]) == (8, 0, 8)
    status, sending = http.post(f"/v1/campaigns/{cid}/send")
    assert status == 202 and sending["status"] == "sending", sending
    drain(http.client, queue)
    assert len(recipients_of_sent()) == 8
