"""Fault injection for the resumable jobs: bulk tagging and reactivation segmentation.

Each scenario is built twice, in two fresh moto worlds: once run without faults (the
reference), once with faults injected into the worker and into DynamoDB. The final state
— every client's tags, version and consent fields, the tag-membership items, the segment
list, the campaign and the job record — must be the same, compared as plain data so a
mismatch prints a readable diff.

Faults:
- the worker is killed (a ``BaseException``, like a Lambda timeout: no handler code runs
  after it) right after its k-th DynamoDB write of a chunk reached the table, or just
  before a given write (the progress commit, the continuation mark); SQS redelivers the
  message after its visibility timeout;
- DynamoDB throttles: ``ProvisionedThroughputExceededException`` and
  ``ThrottlingException`` answers, and ``TransactionCanceledException`` with
  ``ThrottlingError`` reasons, injected per HTTP attempt below botocore's retries;
- SQS duplicates: a copy of the message delivered while the first copy's chunk runs,
  and a copy delivered again after it;
- a lost continuation message (the job must still finish).
"""

from __future__ import annotations

import difflib
import fcntl
import functools
import json
import os
import pickle
import pprint
import random
import types
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.resources import QUEUES
from chalicelib.storage.models import (
    CampaignModel,
    ClientModel,
    ConsentEventModel,
    JobModel,
    ListMemberModel,
    ListModel,
    TagMemberModel,
)
from tests.integration.conftest import Http, create_account, create_queues, create_tables, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, deliver, simulated

VISIBILITY = next(q.visibility_timeout_seconds for q in QUEUES if q.name == "jobs")
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
# One of the longest files (seconds on a busy machine; tests/conftest.py hands it out first).
# The jobs under throttling and with lost messages are in test_job_fault_injection_throttling.py,
# so that under pytest-xdist two workers share the scenarios.
RUN_FIRST = 145


class Killed(BaseException):
    """The worker is killed (Lambda timeout, out of memory): nothing after it runs."""


# --- the fault injector ------------------------------------------------------------------


def _role(operation: str, kwargs: dict[str, Any]) -> str:
    """What a write is for: the job runner's own writes, or an item write of the job kind."""
    if operation == "UpdateItem" and str(kwargs.get("TableName", "")).endswith("jobs"):
        names = set(kwargs.get("ExpressionAttributeNames", {}).values())
        if "enqueued_seq" in names:
            return "enqueued"
        if "cursor" in names:
            return "commit"
        if "failures" in names:
            return "fail"
        return "acquire"
    return "item"


@dataclass
class Kill:
    """Kill the worker at the ``nth`` write of ``role`` of one invocation ("any": every write
    counts; "item:TransactWriteItems": the job kind's transactions only): after the write
    reached DynamoDB (``applied``) or just before it."""

    nth: int
    role: str = "any"
    applied: bool = True


@dataclass
class Faults:
    """Sits in PynamoDB's connection (kills, counted per worker invocation) and in moto's
    request path (transient errors per HTTP attempt, below botocore's retries)."""

    kills: dict[tuple[int, int], Kill] = field(default_factory=dict)  # (seq, attempt) -> kill
    transient: float = 0.0  # of TransactWriteItems attempts
    transient_other: float = 0.0  # of every other DynamoDB call's attempts (reads, the job item)
    duplicate_during: bool = False
    seed: int = 5
    invocation: tuple[int, int] | None = None
    counts: Counter[str] = field(default_factory=Counter)
    log: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # roles of each invocation's writes
    injected: Counter[str] = field(default_factory=Counter)
    killed: list[tuple[tuple[int, int], int, str]] = field(default_factory=list)
    nested: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def begin(self, seq: int, attempt: int, nested: Callable[[], None] | None = None) -> None:
        self.invocation = (seq, attempt)
        self.counts = Counter()
        self.log[self.invocation] = []
        self.nested = nested if self.duplicate_during else None

    def end(self) -> None:
        self.invocation = None
        self.nested = None

    def api_call(
        self, real: Callable[..., Any], connection: Any, operation: str, kwargs: dict[str, Any]
    ) -> Any:
        if self.invocation is None or operation not in WRITES:
            return real(connection, operation, kwargs)
        role = _role(operation, kwargs)
        self.counts["any"] += 1
        self.counts[role] += 1
        self.counts[f"{role}:{operation}"] += 1
        self.log[self.invocation].append(f"{role}:{operation}" if role == "item" else role)
        kill = self.kills.get(self.invocation)
        due = kill is not None and self.counts[kill.role] == kill.nth
        if due and kill is not None and not kill.applied:
            self._fire(role)
        result = real(connection, operation, kwargs)
        if due and kill is not None and kill.applied:
            self._fire(role)
        if role == "item" and self.nested is not None:
            # A second copy of this message arrives while this chunk runs (first item write).
            duplicate, self.nested = self.nested, None
            invocation, self.invocation = self.invocation, None
            try:
                duplicate()
            finally:
                self.invocation = invocation
        return result

    def _fire(self, role: str) -> None:
        assert self.invocation is not None
        self.killed.append((self.invocation, self.counts["any"], role))
        del self.kills[self.invocation]
        raise Killed

    def stub(self, real: Callable[..., Any], stubber: Any, event_name: str, request: Any, **kw: Any) -> Any:
        if "dynamodb" in str(request.url) and (self.transient or self.transient_other):
            transaction = b"TransactWriteItems" in str(dict(request.headers).get("X-Amz-Target", "")).encode()
            if self.random.random() < (self.transient if transaction else self.transient_other):
                return self._error(request)
        return real(stubber, event_name, request, **kw)

    def _error(self, request: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        target = dict(request.headers).get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
        body: dict[str, Any]
        if operation == "TransactWriteItems":
            items = json.loads(request.body)["TransactItems"]
            reasons = [{"Code": "None"}] * len(items)
            reasons[0] = {"Code": "ThrottlingError", "Message": "Throttling on the table or index."}
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "CancellationReasons": reasons,
            }
            code = "TransactionCanceledException"
        else:
            code = self.random.choice(["ProvisionedThroughputExceededException", "ThrottlingException"])
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "Rate exceeded"}
        self.injected[code] += 1
        headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, MockRawResponse(json.dumps(body)))


@contextmanager
def injected(faults: Faults, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    from moto.core.botocore_stubber import BotocoreStubber
    from pynamodb.connection.base import Connection

    from chalicelib.storage import transactions

    real_call, real_stub = Connection._make_api_call, BotocoreStubber.__call__
    sleeps: list[float] = []
    with monkeypatch.context() as patch:
        patch.setattr(
            Connection, "_make_api_call", lambda conn, op, kw: faults.api_call(real_call, conn, op, kw)
        )
        patch.setattr(
            BotocoreStubber,
            "__call__",
            lambda stubber, event_name, request, **kw: faults.stub(
                real_stub, stubber, event_name, request, **kw
            ),
        )
        import botocore.endpoint

        # botocore's and the storage layer's back-off sleep in real time: record them instead.
        patch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=sleeps.append))
        patch.setattr(transactions, "_sleep", sleeps.append)
        yield faults


# --- worlds, the worker loop, snapshots ----------------------------------------------------


@dataclass
class World:
    api: Client
    http: Http
    account_id: str
    time: SimTime
    queue: SimQueue


@contextmanager
def fresh_world() -> Iterator[World]:
    """A new, empty AWS (moto) with every table and queue, an account, simulated time."""
    from app import app

    with mock_aws():
        create_tables()
        create_queues()
        with Client(app) as api, simulated() as (time, queue):
            account = create_account(api)
            yield World(api, Http(api, account["api_key"]), account["account_id"], time, queue)


def _duplicate(world: World, body: dict[str, Any], outcome: Counter[str]) -> None:
    """Another copy of a message, delivered to a second worker now."""
    outcome["duplicate_" + str(deliver(world.api, "jobs", dict(body)))] += 1


def run_worker(world: World, faults: Faults | None = None, *, lose: set[int] = frozenset()) -> Counter[str]:
    """Deliver queued messages to the real Lambda entry points until none is left, as SQS
    would: a failed message comes back after a while, a killed worker's message after the
    visibility timeout. ``lose``: continuation messages (by seq) that SQS never delivers."""
    attempts: Counter[tuple[str, int]] = Counter()
    outcome: Counter[str] = Counter()
    lost: set[int] = set()
    for _ in range(5_000):
        entry = world.queue.pop()
        if entry is None:
            return outcome
        body = entry.body
        if entry.queue == "jobs" and faults is not None:
            seq = int(body["seq"])
            if seq in lose and seq not in lost:
                lost.add(seq)
                outcome["lost"] += 1
                continue
            attempts[(body["job_id"], seq)] += 1

            faults.begin(
                seq, attempts[(body["job_id"], seq)], functools.partial(_duplicate, world, body, outcome)
            )
        try:
            ok = deliver(world.api, entry.queue, body)
        except Killed:
            outcome["killed"] += 1
            world.time.advance(seconds=VISIBILITY + 1)
            world.queue.send(entry.queue, body)
            continue
        finally:
            if faults is not None:
                faults.end()
        outcome["ok" if ok else "failed"] += 1
        if ok and faults is not None and faults.duplicate_during and entry.queue == "jobs":
            if attempts[(body["job_id"], int(body["seq"]))] == 1:
                world.queue.send("jobs", dict(body))  # SQS delivers this message once more, later
        if not ok:
            world.time.advance(seconds=30)
            world.queue.send(entry.queue, body)
    raise AssertionError("the queues did not drain")


def _client_state(item: ClientModel, named: Callable[[str], str]) -> dict[str, Any]:
    return {
        "tags": [named(tag) for tag in item.tags],
        "version": item.version,
        "consent": (item.consent_state, item.consent_confirmed_at, item.consent_source),
        "suppressed": item.suppressed,
    }


def _job_state(item: JobModel) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "status": item.status,
        "done": int(item.done or 0),
        "total": None if item.total is None else int(item.total),
        "result": json.loads(item.result or "{}"),
        "seq": int(item.seq or 0),
        "error": item.error,
        "lease": item.lease_owner,
    }


def snapshot(account_id: str) -> dict[str, Any]:
    """The account's final state as plain data, keyed by e-mail (ids differ between worlds)."""
    campaigns = {c.campaign_id: f"campaign{n}" for n, c in enumerate(CampaignModel.query(account_id))}

    def named(tag: str) -> str:  # ids are random in each world; tags may hold a campaign id
        for campaign_id, name in campaigns.items():
            # membership partitions hold the tag's case-insensitive key: the id in lower case
            tag = tag.replace(campaign_id, name).replace(campaign_id.casefold(), name)
        return tag

    clients = {item.client_id: item for item in ClientModel.query(account_id)}
    email = {cid: item.email for cid, item in clients.items()}
    members = sorted(
        (named(m.account_tag.split("#", 1)[1]), email.get(m.client_id, m.client_id))
        for m in TagMemberModel.scan()
        if m.account_tag.startswith(account_id + "#")
    )
    lists = {}
    for lst in ListModel.query(account_id):
        names = sorted(email.get(m.client_id, m.client_id) for m in ListMemberModel.query(lst.list_id))
        lists[lst.name] = {"size": int(lst.size or 0), "status": lst.status, "members": names}
    evidence: dict[str, list[str]] = {}
    for event in ConsentEventModel.scan():
        owner, _, cid = event.account_client.partition("#")
        if owner == account_id:
            evidence.setdefault(email.get(cid, cid), []).append(event.type)
    evidence = {who: sorted(types) for who, types in sorted(evidence.items())}
    return {
        "clients": {item.email: _client_state(item, named) for item in clients.values()},
        "tag_members": members,
        "lists": lists,
        "consent_events": evidence,
        "campaigns": sorted(c.status for c in CampaignModel.query(account_id)),
        "jobs": sorted(
            (_job_state(j) for j in JobModel.query(account_id)), key=lambda j: (j["kind"], j["done"])
        ),
    }


def assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    for part in expected:
        if part == "clients":
            diff = {
                who: (expected["clients"].get(who), actual["clients"].get(who))
                for who in sorted(set(expected["clients"]) | set(actual["clients"]))
                if expected["clients"].get(who) != actual["clients"].get(who)
            }
            assert not diff, f"{len(diff)} clients differ (expected, actual): {dict(list(diff.items())[:10])}"
        elif actual[part] != expected[part]:
            lines = difflib.unified_diff(
                pprint.pformat(expected[part]).splitlines(),
                pprint.pformat(actual[part]).splitlines(),
                "uninterrupted",
                "with faults",
                lineterm="",
            )
            raise AssertionError(f"{part} differ:\n" + "\n".join(lines))


Reference = tuple[dict[str, Any], dict[tuple[int, int], list[str]]]
_REFERENCE: dict[str, Reference] = {}
# Under pytest-xdist: the folder all workers of this run share (the parent of each worker's
# base temporary folder), where a reference run by one worker is left for the others.
_SHARED: list[Path] = []


def share_references(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let the workers of one pytest-xdist run share the reference runs (the file's bulk and
    segmentation scenarios, and test_job_fault_injection_throttling.py's, are the same code and
    settings): a reference is pure data, and the bulk one alone is a fifth of each file's time."""
    if not _SHARED and os.environ.get("PYTEST_XDIST_WORKER"):
        _SHARED.append(tmp_path_factory.getbasetemp().parent / "fault-injection-references")


def _run_reference(build: Callable[[World], None], monkeypatch: pytest.MonkeyPatch) -> Reference:
    with fresh_world() as world:
        build(world)
        with injected(Faults(), monkeypatch) as observer:
            outcome = run_worker(world, observer)
        assert set(outcome) == {"ok"}, outcome
        return snapshot(world.account_id), dict(observer.log)


def reference(name: str, build: Callable[[World], None], monkeypatch: pytest.MonkeyPatch) -> Reference:
    """The scenario run once without faults, in its own world: its final state, and the
    writes each chunk made (to aim kills at the first, middle and last of them). Once per
    test run: a worker that finds another's result (see ``share_references``) reads it; one
    that finds it under way waits for it (a lock on the file)."""
    if name in _REFERENCE:
        return _REFERENCE[name]
    if not _SHARED:
        _REFERENCE[name] = _run_reference(build, monkeypatch)
        return _REFERENCE[name]
    folder = _SHARED[0]
    folder.mkdir(exist_ok=True)
    stored = folder / f"{name}.pickle"
    with (folder / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on a failure
        if stored.exists():
            # Written by a worker of this same run, below (plain data: dicts, lists, tuples).
            _REFERENCE[name] = pickle.loads(stored.read_bytes())
        else:
            _REFERENCE[name] = _run_reference(build, monkeypatch)
            partial = stored.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(_REFERENCE[name]))
            partial.rename(stored)
    return _REFERENCE[name]


def faulted(
    build: Callable[[World], None],
    faults: Faults,
    monkeypatch: pytest.MonkeyPatch,
    *,
    lose: set[int] = frozenset(),
    recover: Callable[[World], None] | None = None,
) -> tuple[dict[str, Any], Counter[str]]:
    with fresh_world() as world:
        build(world)
        with injected(faults, monkeypatch):
            outcome = run_worker(world, faults, lose=lose)
            if recover is not None:
                recover(world)
                outcome.update(run_worker(world, faults))
        return snapshot(world.account_id), outcome


# --- bulk tagging: 2,600 clients, one request and six job chunks ----------------------------

N_BULK = 2600


def _bulk_tags(i: int) -> list[str]:
    if i % 250 == 7:
        return [f"t{n}" for n in range(40)]  # full: adding one more is refused
    return [["spring"], ["winter", "vip"], ["winter"], ["vip"], []][i % 5]


def build_bulk(world: World) -> None:
    """Clients loaded directly (the API would take minutes for 2,600), then the request."""
    aid = world.account_id
    with ClientModel.batch_write() as batch, TagMemberModel.batch_write() as members:
        for i in range(N_BULK):
            cid, tags = f"cl_fault{i:05d}", _bulk_tags(i)
            granted = i % 3 == 0
            batch.save(
                ClientModel(
                    aid,
                    cid,
                    email=f"b{i:05d}@example.com",
                    email_key=f"b{i:05d}@example.com",
                    tags=tags,
                    auto_status="new",
                    account_auto_status=f"{aid}#new",
                    consent_state="granted" if granted else "unknown",
                    consent_confirmed_at="2026-01-02T00:00:00.000000Z" if granted else None,
                    consent_source="import" if granted else None,
                    created_at="2026-01-01T00:00:00.000000Z",
                    updated_at="2026-01-01T00:00:00.000000Z",
                    version=1,
                )
            )
            for tag in tags:
                members.save(TagMemberModel(f"{aid}#{tag}", cid))
    status, body = world.http.post(
        "/v1/clients/bulk-tags", {"selection": {"filter": None}, "add": ["spring"], "remove": ["winter"]}
    )
    assert status == 202, body


@pytest.fixture
def bulk(
    tune: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[World], None]]:
    """Small enough sync part and chunks that the job has several; no time budget (neither the
    chunk's nor the Lambda's), so chunk boundaries depend only on the data (the same in every
    world)."""
    tune(bulk_sync_limit=300, job_chunk_items=400, job_chunk_seconds=3600.0, lambda_timeout_seconds=3600.0)
    # Nor the request's 10 s guard on counting the selection: on a loaded machine the count
    # of 2,600 clients outlasted it, the job's first chunk counted instead, and every chunk
    # boundary moved (the reference then differed from the faulted runs in seq alone).
    from chalicelib.services import targets

    monkeypatch.setattr(targets, "COUNT_SECONDS", 3600.0)
    # And the whole selection counted in the request (its 2,600 clients exceed the count
    # budget), so that every chunk of the job applies clients: the kill points are set on them.
    monkeypatch.setattr(targets, "COUNT_BUDGET", 5000)
    share_references(tmp_path_factory)
    yield build_bulk


def test_bulk_reference_is_a_real_multi_chunk_job(bulk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    state, log = reference("bulk", bulk, monkeypatch)
    (job,) = state["jobs"]
    assert job["status"] == "done" and job["seq"] >= 5 and len(log) == job["seq"], (job, list(log))
    result = job["result"]
    assert result["updated"] > 1000 and result["unchanged"] > 400 and result["too_many_tags"] == 11, result
    # Clients are written up to 16 to a transaction: a chunk's 400 clients are dozens of them.
    assert all(log[(seq, 1)].count("item:TransactWriteItems") > 10 for seq in range(job["seq"] - 1)), (
        log.keys()
    )


def _bulk_kills(log: dict[tuple[int, int], list[str]]) -> dict[tuple[int, int], Kill]:
    items = {seq: sum(1 for w in roles if w.startswith("item")) for (seq, _), roles in log.items()}
    last = max(items)
    assert last >= 5 and min(items.values()) > 5, items
    return {
        (0, 1): Kill(1),  # right after taking the lease
        (0, 2): Kill(1, "item"),  # the redelivery dies after the chunk's first client write
        (1, 1): Kill(items[1] // 2, "item"),  # mid-chunk
        (1, 2): Kill(1, "commit", applied=False),  # after the chunk's last write, before saving progress
        (2, 1): Kill(items[2], "item"),  # right after the chunk's last client write
        (3, 1): Kill(1, "commit"),  # progress saved, the next chunk's message never sent
        (4, 1): Kill(1, "enqueued", applied=False),  # the next message sent, but not marked as sent
        (last, 1): Kill(1, "commit"),  # the final commit: the job is done, its message not acknowledged
    }


def test_bulk_job_killed_at_many_points_and_duplicated_ends_as_an_uninterrupted_run(
    bulk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, log = reference("bulk", bulk, monkeypatch)
    faults = Faults(kills=_bulk_kills(log), duplicate_during=True)
    planned = len(faults.kills)
    actual, outcome = faulted(bulk, faults, monkeypatch)
    assert len(faults.killed) == planned and outcome["killed"] == planned, (faults.killed, outcome)
    assert outcome["duplicate_True"] >= 6 and outcome["duplicate_False"] == 0, outcome
    assert_same(expected, actual)


# --- segmentation: a reactivation campaign's 32 recipients, four a chunk --------------------

SEG_NAMES = [f"s{i:02d}" for i in range(32)]
# confirmed, declined, confirm-then-decline, decline-then-confirm, hard bounce,
# confirmed-then-unsubscribed, and two silent ones (tagged no-response)
_CHOICES = {
    0: ["confirm"],
    1: ["decline"],
    2: ["confirm", "decline"],
    3: ["decline", "confirm"],
    5: ["confirm"],
}


def build_segmentation(world: World) -> None:
    from tests.integration.test_reactivation import (
        FORM,
        SENDER,
        add_clients,
        links_by_recipient,
        new_reactivation,
        post_page,
        run_schedule,
        send_and_drain,
    )

    verify_sender(SENDER)
    http = world.http
    assert http.patch("/v1/account/settings", {"non_responder_action": "tag"})[0] == 200
    ids = add_clients(http, SEG_NAMES)
    _, campaign = new_reactivation(http, wait_days=1)
    campaign_id = campaign["campaign_id"]
    send_and_drain(http, world.queue, campaign_id)
    links = links_by_recipient()
    for i, name in enumerate(SEG_NAMES):
        address = f"{name}@example.com"
        for choice in _CHOICES.get(i % 8, []):
            assert post_page(http, links[address][choice])[0] == 200
        if i % 8 == 4:
            bounce = {
                "notificationType": "Bounce",
                "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": address}]},
                "mail": {
                    "messageId": f"ses-{name}",
                    "destination": [address],
                    "tags": {
                        "account_id": [world.account_id],
                        "campaign_id": [campaign_id],
                        "client_id": [ids[name]],
                    },
                },
            }
            assert deliver(world.api, "ses-events", {"Type": "Notification", "Message": json.dumps(bounce)})
        if i % 8 == 5:
            response = http.client.http.post(
                links[address]["unsubscribe"], headers=FORM, body=b"List-Unsubscribe=One-Click"
            )
            assert response.status_code == 200
    world.time.advance(seconds=86400 + 60)
    assert run_schedule(http).payload == {"due": 1}


@pytest.fixture
def segmentation(
    tune: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[World], None]:
    from chalicelib.services import segmentation as service

    monkeypatch.setattr(service, "_PAGE", 4)
    tune(job_chunk_items=4, job_chunk_seconds=3600.0, lambda_timeout_seconds=3600.0)
    share_references(tmp_path_factory)
    return build_segmentation


def test_segmentation_reference_is_a_real_multi_chunk_job(
    segmentation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, log = reference("segmentation", segmentation, monkeypatch)
    (job,) = [j for j in state["jobs"] if j["kind"] == "campaign_segment"]
    assert job["status"] == "done" and job["seq"] == 8 and job["done"] == 32, job
    assert job["result"] == {"members": 8, "tagged": 8}, job  # confirmed (4+4), silent (2 of 8)
    (segment,) = state["lists"].values()
    assert segment["size"] == 8 and segment["status"] == "ready"
    assert state["campaigns"] == ["segmented"]
    tagged = [
        who for who, c in state["clients"].items() if any(t.startswith("no-response-") for t in c["tags"])
    ]
    assert len(tagged) == 8 and all(int(who[1:3]) % 8 in (6, 7) for who in tagged), tagged
    # The two silent clients of an odd chunk are tagged in one transaction.
    assert [log[(seq, 1)].count("item:TransactWriteItems") for seq in range(8)] == [0, 1] * 4, log


def _segmentation_kills(log: dict[tuple[int, int], list[str]]) -> dict[tuple[int, int], Kill]:
    # Chunks of four deliveries in client order: each odd chunk tags its two silent clients.
    last = max(seq for seq, _ in log)
    assert log[(1, 1)].count("item:TransactWriteItems") == 1 and last == 7, log
    return {
        (0, 1): Kill(1),  # right after taking the lease
        (0, 2): Kill(1, "item:BatchWriteItem"),  # the list members written, then died
        # tagged the silent clients, then died before recording progress: counted once
        (1, 1): Kill(1, "item:TransactWriteItems"),
        (1, 2): Kill(1, "commit", applied=False),  # after the chunk's last write
        (2, 1): Kill(1, "item:UpdateItem"),  # the list's size saved, then died
        (3, 1): Kill(1, "commit"),  # progress saved, the next message never sent
        (4, 1): Kill(1, "enqueued", applied=False),  # the next message sent, not marked as sent
        (5, 1): Kill(1, "item:TransactWriteItems", applied=False),  # dies as it sends the chunk's tags
        (last, 1): Kill(2, "item:UpdateItem"),  # the campaign marked segmented, then died
        (last, 2): Kill(1, "commit"),  # the job done, its message not acknowledged
    }


def test_segmentation_killed_at_many_points_and_duplicated_ends_as_an_uninterrupted_run(
    segmentation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, log = reference("segmentation", segmentation, monkeypatch)
    faults = Faults(kills=_segmentation_kills(log), duplicate_during=True)
    planned = len(faults.kills)
    actual, outcome = faulted(segmentation, faults, monkeypatch)
    assert len(faults.killed) == planned and outcome["killed"] == planned, (faults.killed, outcome)
    assert outcome["duplicate_True"] >= 8 and outcome["duplicate_False"] == 0, outcome
    assert_same(expected, actual)
