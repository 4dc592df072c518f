"""Bulk tagging through the HTTP API: synchronous and as a resumable background job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.time import system_clock
from chalicelib.services import jobs as job_service
from chalicelib.storage.models import ClientModel, TagMemberModel
from tests.integration.conftest import Http, create_account, drain_jobs, jobs_queue_messages, run_job_message


def add(http: Http, email: str, **extra: Any) -> str:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return str(body["client_id"])


def tags_of(http: Http, client_id: str) -> list[str]:
    return list(http.get(f"/v1/clients/{client_id}")[1]["tags"])


def assert_membership_consistent(account_id: str) -> None:
    """Tag membership items and the clients' tags agree exactly (tests may scan)."""
    from_clients = {(tag, c.client_id) for c in ClientModel.query(account_id) for tag in c.tags}
    from_members = {
        (m.account_tag.split("#", 1)[1], m.client_id)
        for m in TagMemberModel.scan()
        if m.account_tag.startswith(account_id + "#")
    }
    assert from_clients == from_members


def test_add_and_remove_by_ids(http: Http, account: dict) -> None:
    a = add(http, "a@example.com", tags=["vip"])
    b = add(http, "b@example.com")
    c = add(http, "c@example.com", tags=["old"])
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": [a, b, c]}, "add": ["vip"]}
    )
    assert status == 200, body
    assert body["matched"] == 3 and body["updated"] == 2 and body["unchanged"] == 1
    assert tags_of(http, b) == ["vip"] and tags_of(http, c) == ["old", "vip"]
    # idempotent: the same call again writes nothing
    _, again = http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": [a, b, c]}, "add": ["vip"]})
    assert again["matched"] == 3 and again["updated"] == 0
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": [a, c]}, "remove": ["old", "vip"], "add": ["x"]}
    )
    assert status == 200 and body["updated"] == 2
    assert tags_of(http, a) == ["x"] and tags_of(http, c) == ["x"]
    assert_membership_consistent(account["account_id"])


def test_select_all_matching_a_filter(http: Http, account: dict) -> None:
    lost = [add(http, f"lost{i}@example.com", last_visit_at="2020-01-01") for i in range(3)]
    fresh = add(http, "fresh@example.com")
    flt = {"field": "auto_status", "op": "eq", "value": "lost"}
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": flt}, "add": ["winback"]})
    assert status == 200 and body["matched"] == 3 and body["updated"] == 3
    assert all(tags_of(http, cid) == ["winback"] for cid in lost) and tags_of(http, fresh) == []
    # "all clients": a null filter
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": None}, "add": ["all"]})
    assert status == 200 and body["matched"] == 4
    assert_membership_consistent(account["account_id"])


def test_other_accounts_ids_are_not_touched(api: Any, http: Http) -> None:
    mine = add(http, "mine@example.com")
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    status, body = other.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": [mine, "cl_x"]}, "add": ["p"]}
    )
    assert status == 200 and body["matched"] == 0 and body["updated"] == 0
    assert tags_of(http, mine) == []


def test_tag_limit_is_respected(http: Http) -> None:
    full = add(http, "full@example.com", tags=[f"t{i}" for i in range(40)])
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": [full]}, "add": ["one-more"]}
    )
    assert status == 200 and body["too_many_tags"] == 1 and body["updated"] == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"selection": {"client_ids": ["cl_1"]}}, "body"),
        ({"selection": {"client_ids": ["cl_1"]}, "add": ["a"], "remove": ["a"]}, "body"),
        ({"selection": {}, "add": ["a"]}, "selection"),
        ({"selection": {"client_ids": ["cl_1"], "filter": None}, "add": ["a"]}, "selection"),
        ({"selection": {"list_id": "vip"}, "add": ["a"]}, "selection.list_id"),
        ({"selection": {"auto_status": "gone"}, "add": ["a"]}, "selection.auto_status"),
        ({"selection": {"client_ids": []}, "add": ["a"]}, "selection.client_ids"),
        ({"selection": {"client_ids": ["bad id!"]}, "add": ["a"]}, "selection.client_ids"),
        ({"selection": {"client_ids": ["cl_1"]}, "add": [""]}, "add"),
        (
            {"selection": {"filter": {"field": "colour", "op": "eq", "value": 1}}, "add": ["a"]},
            "selection.filter.field",
        ),
        ({"add": ["a"]}, "selection"),
    ],
)
def test_invalid_requests_are_400(http: Http, payload: dict, field: str) -> None:
    status, body = http.post("/v1/clients/bulk-tags", payload)
    assert status == 400, body
    assert any(d["field"].startswith(field) for d in body["error"]["details"]), body


def test_large_selection_runs_as_a_job(api: Any, http: Http, account: dict, tune: Any) -> None:
    tune(bulk_sync_limit=3, job_chunk_items=2)
    ids = [add(http, f"c{i}@example.com", tags=["vip"] if i % 3 else []) for i in range(8)]
    flt = {"field": "tags", "op": "contains", "value": "vip"}
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": flt}, "add": ["spring"]})
    assert status == 202, body
    job_id = body["job_id"]
    status, job = http.get(f"/v1/jobs/{job_id}")
    # the request only counted the selection (its total is known from the start) and wrote
    # no client: the job does all the writing
    assert status == 200 and job["status"] == "queued" and job["kind"] == "bulk_tags"
    assert (job["done"], job["total"], job["result"]) == (0, 5, {})
    assert not any("spring" in tags_of(http, cid) for cid in ids)
    assert drain_jobs(api) >= 1
    status, job = http.get(f"/v1/jobs/{job_id}")
    assert job["status"] == "done" and job["done"] == job["total"] == 5
    assert job["result"]["updated"] == 5
    assert [cid for cid in ids if "spring" in tags_of(http, cid)] == [
        cid for i, cid in enumerate(ids) if i % 3
    ]
    assert_membership_consistent(account["account_id"])

    # explicit ids over the limit: total is known from the start
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": ids}, "remove": ["spring"]}
    )
    assert status == 202
    assert http.get(f"/v1/jobs/{body['job_id']}")[1]["total"] == 8
    drain_jobs(api)
    _, job = http.get(f"/v1/jobs/{body['job_id']}")
    assert job["status"] == "done" and job["done"] == 8 and job["result"]["updated"] == 5
    assert all("spring" not in tags_of(http, cid) for cid in ids)


def test_a_large_selection_is_read_once_in_the_request(
    api: Any, http: Http, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's count for the job's total goes on after the first stretch it read, and
    that stretch counts against the count's budget: no candidate is read twice, and the
    request reads at most ``COUNT_BUDGET`` of the selection whatever the account's size."""
    from chalicelib.services import targets

    tune(bulk_sync_limit=3)
    monkeypatch.setattr(targets, "COUNT_BUDGET", 8)
    for i in range(7):
        add(http, f"c{i}@example.com")
    examined: list[int] = []
    real_walk = targets.walk

    def walk(*args: Any, **kwargs: Any) -> Any:
        found = real_walk(*args, **kwargs)
        examined.append(found.examined)
        return found

    monkeypatch.setattr(targets, "walk", walk)
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": {}}, "add": ["spring"]})
    assert status == 202, body
    assert sum(examined) == 7  # the first stretch (4: one past the limit), then the other 3
    assert http.get(f"/v1/jobs/{body['job_id']}")[1]["total"] == 7
    drain_jobs(api)
    assert http.get(f"/v1/jobs/{body['job_id']}")[1]["done"] == 7

    # More clients than the budget: the request stops at 8 candidates read and the job's
    # first chunk finishes the count before any work.
    add(http, "c7@example.com")
    add(http, "c8@example.com")
    examined.clear()
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": {}}, "add": ["summer"]})
    assert status == 202, body
    assert sum(examined) == 8
    assert http.get(f"/v1/jobs/{body['job_id']}")[1]["total"] is None
    drain_jobs(api)
    _, job = http.get(f"/v1/jobs/{body['job_id']}")
    assert job["status"] == "done" and job["done"] == job["total"] == 9


def test_jobs_are_private_to_their_account(api: Any, http: Http, tune: Any) -> None:
    tune(bulk_sync_limit=1)
    ids = [add(http, f"c{i}@example.com") for i in range(2)]
    _, body = http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": ids}, "add": ["x"]})
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert other.get(f"/v1/jobs/{body['job_id']}")[0] == 404
    assert http.get("/v1/jobs/job_unknown")[0] == 404


def _start_job(http: Http, tune: Any, n: int = 6) -> tuple[str, list[str], dict]:
    tune(bulk_sync_limit=1, job_chunk_items=2)
    ids = [add(http, f"k{i}@example.com") for i in range(n)]
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": ids}, "add": ["once"]})
    assert status == 202
    (message,) = jobs_queue_messages()
    return body["job_id"], ids, message


def test_redelivered_and_duplicate_messages_do_not_apply_twice(
    api: Any, http: Http, account: dict, tune: Any
) -> None:
    job_id, _ids, first = _start_job(http, tune)
    deps = get_deps()
    assert run_job_message(api, first) == {"batchItemFailures": []}
    after_one = deps.jobs.get(account["account_id"], job_id, consistent=True)
    assert after_one.seq == 1 and after_one.done == 2
    # the first message delivered again (SQS at-least-once): nothing happens
    assert job_service.handle_message(deps, first) == "stale"
    assert deps.jobs.get(account["account_id"], job_id, consistent=True).done == 2
    # two copies of the next message arriving together: one runs, the other finds the lease
    (second,) = jobs_queue_messages()
    job = deps.jobs.get(account["account_id"], job_id, consistent=True)
    assert deps.jobs.acquire(job, "another-worker", deps.clock(), deps.clock() + timedelta(seconds=60))
    assert job_service.handle_message(deps, second) == "busy"
    assert deps.jobs.get(account["account_id"], job_id, consistent=True).done == 2


def test_a_killed_run_resumes_from_the_saved_cursor(
    api: Any, http: Http, account: dict, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, ids, first = _start_job(http, tune)
    deps = get_deps()
    assert run_job_message(api, first) == {"batchItemFailures": []}  # chunk 1 committed: 2 clients
    (second,) = jobs_queue_messages()

    class Killed(BaseException):
        """The Lambda is killed (timeout, OOM): no handler code runs after it."""

    real_update_many = deps.clients.update_many

    def dying_update_many(changes: Any) -> Any:
        real_update_many(changes)
        raise Killed

    monkeypatch.setattr(deps.clients, "update_many", dying_update_many)
    with pytest.raises(Killed):
        job_service.handle_message(deps, second)  # tags chunk 2's clients, then dies
    monkeypatch.setattr(deps.clients, "update_many", real_update_many)
    job = deps.jobs.get(account["account_id"], job_id, consistent=True)
    assert job.seq == 1 and job.done == 2 and job.status == "running"
    # redelivered while the dead worker's lease still looks alive: skipped
    assert job_service.handle_message(deps, second) == "busy"
    # redelivered after the visibility timeout (longer than the lease): resumes at the saved cursor
    deps.clock = lambda: system_clock() + timedelta(minutes=3)
    assert job_service.handle_message(deps, second) == "chunk"
    drain_jobs(api)
    job = deps.jobs.get(account["account_id"], job_id, consistent=True)
    assert job.status == "done" and job.done == 6
    assert job.result["matched"] == 6 and job.result["updated"] + job.result["unchanged"] == 6
    assert all(tags_of(http, cid) == ["once"] for cid in ids)
    assert_membership_consistent(account["account_id"])


def test_a_lost_continuation_message_is_sent_again(
    api: Any, http: Http, account: dict, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, _ids, first = _start_job(http, tune)
    deps = get_deps()
    # the worker commits chunk 1, then dies before the next message is sent
    monkeypatch.setattr(job_service, "_send_next", lambda *a: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        job_service.handle_message(deps, first)
    monkeypatch.undo()
    assert jobs_queue_messages() == []
    # SQS redelivers the first message: it sends the missing one instead of re-running chunk 1
    assert job_service.handle_message(deps, first) == "resent"
    drain_jobs(api)
    job = deps.jobs.get(account["account_id"], job_id, consistent=True)
    assert job.status == "done" and job.result["updated"] == 6


def test_a_chunk_that_keeps_failing_fails_the_job(
    api: Any, http: Http, account: dict, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, _, first = _start_job(http, tune)
    deps = get_deps()
    for write in ("update", "update_many"):
        monkeypatch.setattr(deps.clients, write, lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    for _ in range(job_service.MAX_ATTEMPTS - 1):
        # the invocation fails, so SQS delivers the message again (batches of one message)
        with pytest.raises(BatchProcessingError):
            run_job_message(api, first)
        assert http.get(f"/v1/jobs/{job_id}")[1]["status"] == "running"
    assert run_job_message(api, first) == {"batchItemFailures": []}  # given up: the message is done
    _, job = http.get(f"/v1/jobs/{job_id}")
    assert job["status"] == "failed" and job["error"] == "RuntimeError"


def test_more_than_a_thousand_clients_go_to_a_job(api: Any, http: Http, account: dict) -> None:
    """The real threshold (1,000), with clients loaded directly as a fixture."""
    from chalicelib.storage.models import ClientModel as CM

    aid = account["account_id"]
    with CM.batch_write() as batch, TagMemberModel.batch_write() as members:
        for i in range(1001):
            cid = f"cl_bulk{i:05d}"
            batch.save(
                CM(
                    aid,
                    cid,
                    email=f"b{i}@example.com",
                    email_key=f"b{i}@example.com",
                    tags=["vip"],
                    auto_status="new",
                    account_auto_status=f"{aid}#new",
                    created_at="2026-01-01T00:00:00.000000Z",
                    updated_at="2026-01-01T00:00:00.000000Z",
                    version=1,
                )
            )
            members.save(TagMemberModel(f"{aid}#vip", cid))
    flt = {"field": "tags", "op": "contains", "value": "vip"}
    status, body = http.post("/v1/clients/bulk-tags", {"selection": {"filter": flt}, "add": ["big"]})
    assert status == 202, body
    drain_jobs(api)
    _, job = http.get(f"/v1/jobs/{body['job_id']}")
    assert job["status"] == "done" and job["done"] == 1001 and job["result"]["updated"] == 1001
    assert sum(1 for _ in TagMemberModel.query(f"{aid}#big")) == 1001
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"client_ids": ["cl_bulk00000"]}, "remove": ["big"]}
    )
    assert status == 200 and body == {
        "matched": 1,
        "updated": 1,
        "unchanged": 0,
        "too_many_tags": 0,
        "gone": 0,
    }
