"""Large CSV imports run as a job: the request validates the whole file and answers 202 with the
job; the job applies the rows chunk by chunk and ends exactly where the same import applied in
one request ends — the same clients, the same consent evidence, the same counts and errors —
even when its Lambda's time runs out mid-chunk, its worker is killed mid-row, or a chunk that
already ran is delivered again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.bootstrap import get_deps
from chalicelib.services import consent as consent_service
from chalicelib.services import jobs as job_service
from chalicelib.services.jobs import LEASE
from chalicelib.storage.models import ClientModel, ConsentEventModel, JobPartModel
from tests.integration.conftest import Http, create_account, drain_jobs, jobs_queue_messages
from tests.integration.test_import import suppress, upload
from tests.integration.test_lambda_time_budget import FakeContext

QUERY = "?update_existing=true&accept_consent=true&custom_fields=true"


def _setup(http: Http, account_id: str) -> None:
    """What the account holds before the import: clients to update, a suppressed address."""
    assert http.post("/v1/clients", {"email": "old1@example.com", "first_name": "Old"})[0] == 201
    assert http.post("/v1/clients", {"email": "old2@example.com", "first_name": "Same"})[0] == 201
    suppress(account_id, "gone@example.com")


def _csv(rows: int = 40) -> str:
    lines = ["email,first_name,tags,consent,consent_date,consent_source,points"]
    for n in range(rows):
        if n % 10 == 3:
            lines.append(f"new{n}@example.com,N{n},vip,denied,2020-01-0{1 + n % 9},phone call,{n}")
        elif n % 10 == 7:
            lines.append(f"not-an-address-{n},Bad,,,,,")
        else:
            lines.append(f"new{n}@example.com,N{n},regular|vip,granted,2019-05-01,paper form,{n}")
    lines += [
        "old1@example.com,Changed,,denied,2021-02-02,letter,1",
        "old2@example.com,Same,,,,,",
        "gone@example.com,Gone,,,,,",
        "NEW0@example.com,Twice,,,,,",
        "new1@example.com,,,granted,2019-05-01,,",
    ]
    return "\n".join(lines) + "\n"


def _state(account_id: str) -> list[tuple[Any, ...]]:
    """The account's clients and their consent ledgers, without ids or times."""
    state = []
    for item in ClientModel.query(account_id):
        events = [
            (event.type, event.source, event.note, event.actor is not None)
            for event in ConsentEventModel.query(f"{account_id}#{item.client_id}")
        ]
        state.append(
            (
                item.email,
                item.first_name,
                sorted(item.tags or []),
                sorted(item.fields.as_dict().items()) if item.fields else [],
                item.consent_state,
                item.consent_source,
                events,
            )
        )
    return sorted(state)


def _inline(api: Client, tune: Any) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """The reference: the same file imported in one request."""
    account = create_account(api, "Inline", "hello@inline.example")
    http = Http(api, account["api_key"])
    _setup(http, account["account_id"])
    tune(import_inline_rows=10_000)
    status, report = upload(http, _csv(), QUERY)
    assert status == 200, report
    return report, _state(account["account_id"])


def _started(api: Client, tune: Any, name: str) -> tuple[Http, str, dict[str, Any]]:
    account = create_account(api, name, f"hello@{name.lower()}.example")
    http = Http(api, account["api_key"])
    _setup(http, account["account_id"])
    tune(import_inline_rows=5, job_chunk_items=1000, job_chunk_seconds=3600.0)
    status, body = upload(http, _csv(), QUERY)
    assert status == 202, body
    return http, account["account_id"], body


def _assert_as_inline(
    http: Http, account_id: str, job_id: str, report: dict[str, Any], state: list[tuple[Any, ...]]
) -> dict[str, Any]:
    status, job = http.get(f"/v1/jobs/{job_id}")
    assert status == 200 and job["status"] == "done", job
    assert job["kind"] == "import_clients" and job["done"] == job["total"] == report["rows"]
    result = job["result"]
    for name in ("rows", "created", "updated", "skipped"):
        assert result[name] == report[name], (name, result, report)
    assert result["errors"] == report["errors"] and result["errors_not_shown"] == 0
    assert _state(account_id) == state
    return job


def test_a_small_import_stays_in_the_request(http: Http, tune: Any) -> None:
    tune(import_inline_rows=3)
    status, body = upload(http, "email\na@example.com\nb@example.com\nc@example.com\nnot-one\n")
    assert status == 200 and body["created"] == 3 and len(body["errors"]) == 1, body
    assert "job_id" not in body and jobs_queue_messages() == []


def test_a_large_import_is_a_job_that_ends_as_the_inline_import(api: Client, tune: Any) -> None:
    report, state = _inline(api, tune)
    assert report["created"] > 20 and report["updated"] == 1 and report["skipped"] == 2, report
    assert {e["code"] for e in report["errors"]} >= {
        "invalid_row",
        "duplicate_in_file",
        "consent_without_proof",
    }
    http, account_id, body = _started(api, tune, "Job")
    assert set(body) == {"job_id", "status", "done", "total"}
    assert body["status"] == "queued" and body["total"] == report["rows"]
    invalid = sum(1 for e in report["errors"] if e["code"] != "not_found")
    assert body["done"] == invalid  # the rows found invalid in the request are done already
    assert ClientModel.count(account_id) == 2  # the request itself imported nothing
    parts = list(JobPartModel.query(account_id, JobPartModel.job_id.startswith(f"{body['job_id']}#part#")))
    assert parts and all(part.expires_at is not None for part in parts)
    _, queued = http.get(f"/v1/jobs/{body['job_id']}")
    assert queued["total"] == report["rows"] and queued["result"]["errors"] == [
        e for e in report["errors"] if e["row"] in {x["row"] for x in queued["result"]["errors"]}
    ]
    assert drain_jobs(api) >= 1
    _assert_as_inline(http, account_id, body["job_id"], report, state)
    left = list(JobPartModel.query(account_id, JobPartModel.job_id.startswith(f"{body['job_id']}#")))
    assert left and all("#row#" in item.job_id for item in left)  # the rows' input is deleted when done
    assert all("@" not in (item.outcome or "") for item in left)  # receipts hold no address


def test_a_chunk_out_of_time_continues_and_ends_as_the_uninterrupted_run(
    api: Client, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, state = _inline(api, tune)
    http, account_id, body = _started(api, tune, "Hurried")
    monkeypatch.setattr("chalicelib.services.imports.PAGE_ROWS", 4)
    deps = get_deps()
    outcomes = []
    while messages := jobs_queue_messages():
        for message in messages:  # each chunk's time runs out after two looks at its budget
            outcomes.append(job_service.handle_message(deps, message, FakeContext(checks=2)))
    assert outcomes.count("chunk") >= 3 and outcomes[-1] == "done", outcomes
    _assert_as_inline(http, account_id, body["job_id"], report, state)


class Killed(BaseException):
    """The worker dies (a Lambda timeout): no handler code runs after it."""


def _chunk_dies_before_its_commit(
    deps: Any, message: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the chunk ``message`` names until the job's commit, where its worker dies."""

    def dies_before_commit(*args: Any, **kwargs: Any) -> bool:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(deps.jobs, "commit", dies_before_commit)
        with pytest.raises(Killed):
            job_service.handle_message(deps, message, None)


def test_a_worker_killed_mid_row_and_a_redelivered_chunk_apply_nothing_twice(
    api: Client, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, state = _inline(api, tune)
    http, account_id, body = _started(api, tune, "Killed")
    deps = get_deps()
    [message] = jobs_queue_messages()
    # 1. The worker dies on its 7th consent record: 6 claims recorded, the 7th row's client
    #    created with its receipt waiting for the claim.
    real = consent_service.record_consent
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 7:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(consent_service, "record_consent", dying)
    with pytest.raises(Killed):
        job_service.handle_message(deps, message, None)
    monkeypatch.setattr(consent_service, "record_consent", real)
    assert job_service.handle_message(deps, message, None) == "busy"  # its lease still holds
    # 2. Redelivered after the lease: the chunk runs again, then dies before its commit.
    start = deps.clock()
    deps.clock = lambda: start + LEASE + timedelta(seconds=1)
    _chunk_dies_before_its_commit(deps, message, monkeypatch)
    assert _state(account_id) == state  # every row applied once, whatever ran twice
    # 3. Delivered once more after that lease: every row has its receipt, nothing is written again.
    deps.clock = lambda: start + 2 * (LEASE + timedelta(seconds=1))
    assert job_service.handle_message(deps, message, None) == "done"
    assert job_service.handle_message(deps, message, None) == "finished"
    _assert_as_inline(http, account_id, body["job_id"], report, state)


def test_the_job_shows_its_row_errors_and_counts_those_not_kept(
    api: Client, http: Http, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tune(import_inline_rows=2)
    monkeypatch.setattr("chalicelib.services.jobs.kept_errors", _keep_three)
    text = (
        "email\n" + "".join(f"bad{n}\n" for n in range(5)) + "a@example.com\nb@example.com\nc@example.com\n"
    )
    status, body = upload(http, text)
    assert status == 202 and body["done"] == 5 and body["total"] == 8, body
    drain_jobs(api)
    _, job = http.get(f"/v1/jobs/{body['job_id']}")
    assert job["result"]["created"] == 3 and job["result"]["errors_not_shown"] == 2, job
    assert [e["row"] for e in job["result"]["errors"]] == [1, 2, 3]


def _keep_three(current: Any, more: list[Any], limit: int = 3) -> Any:
    from chalicelib.domain.jobs import kept_errors

    return kept_errors(current, more, 3)


def test_rows_an_uncommitted_attempt_ran_past_a_later_commit_are_not_applied_again(
    api: Client, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt applies every row and dies before its commit; the next, short of time,
    commits after a page; the chunks after it start where no commit ever was, yet below the
    part's mark: they find the rows' receipts and apply nothing twice."""
    report, state = _inline(api, tune)
    http, account_id, body = _started(api, tune, "Overrun")
    monkeypatch.setattr("chalicelib.services.imports.PAGE_ROWS", 4)
    deps = get_deps()
    [message] = jobs_queue_messages()
    _chunk_dies_before_its_commit(deps, message, monkeypatch)
    start = deps.clock()
    deps.clock = lambda: start + LEASE + timedelta(seconds=1)
    outcomes = [job_service.handle_message(deps, message, FakeContext(checks=1))]
    while messages := jobs_queue_messages():
        outcomes += [job_service.handle_message(deps, m, FakeContext(checks=1)) for m in messages]
    assert outcomes[0] == "chunk" and outcomes.count("chunk") >= 3 and outcomes[-1] == "done", outcomes
    _assert_as_inline(http, account_id, body["job_id"], report, state)


def test_rows_a_concurrent_attempt_applied_keep_that_attempts_outcome(
    api: Client, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two attempts of one chunk run at once: the first, still working when its lease ran out,
    applies the rows after the second has read their receipts (none yet). The second finds the
    clients created and updated already; each row still counts as the attempt that applied it
    did (a 10,000-row import under load once reported 9,999 created and 1 skipped)."""
    report, state = _inline(api, tune)
    http, account_id, body = _started(api, tune, "Concurrent")
    deps = get_deps()
    [message] = jobs_queue_messages()
    _chunk_dies_before_its_commit(deps, message, monkeypatch)  # stands for the first attempt's writes
    start = deps.clock()
    deps.clock = lambda: start + LEASE + timedelta(seconds=1)
    real_receipts = deps.job_parts.receipts
    page_reads = {"n": 0}

    def read_before_the_other_wrote(account: str, job: str, rows: Any) -> dict[int, dict[str, Any]]:
        rows = list(rows)
        if len(rows) > 1:  # the page's read, made before the other attempt wrote its receipts
            page_reads["n"] += 1
            return {}
        return real_receipts(account, job, rows)

    monkeypatch.setattr(deps.job_parts, "receipts", read_before_the_other_wrote)
    assert job_service.handle_message(deps, message, None) == "done"
    assert page_reads["n"] >= 1
    _assert_as_inline(http, account_id, body["job_id"], report, state)
