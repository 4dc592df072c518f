"""Automatic client status over time: the scheduled recomputation.

Only clients whose status changes by the passing of time are visited: each
client carries the moment of its next change (``next_status_at``) in a sparse,
sharded index, and the job reads ``next_status_at <= now`` per shard. A
visited client gets its new status and next change moment in one conditional
write, which also moves it out of the due range — so the job is resumable by
construction: an interrupted run leaves the unvisited clients due, and the
next run picks them up. A client changed meanwhile (a PATCH of
``last_visit_at`` recomputes the status itself) fails the version condition
and is simply skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.auto_status import StatusAt, Thresholds, compute_auto_status
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job, SweepStep
from chalicelib.domain.records import Account, Client
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import continuations, jobs
from chalicelib.services.targets import counted_first, job_start, walk
from chalicelib.services.writers import concurrently
from chalicelib.storage.status_index import DueClient

_BATCH = 100


@dataclass
class RecomputeReport:
    visited: int = 0
    changed: int = 0
    skipped: int = 0
    complete: bool = True


def recompute_due_statuses(
    deps: Deps, *, context: Any = None, cursor: Any = None, time_budget_seconds: float | None = None
) -> RecomputeReport:
    """One stretch of the recomputation with the time the Lambda ``context`` has left (the
    configured timeout without one; ``time_budget_seconds`` when given): ``complete`` False
    when its time ran out first."""
    if time_budget_seconds is not None:
        budget = Budget.start(continuations.SCHEDULE_ITEMS, time_budget_seconds)
    else:
        budget = Budget.for_lambda(
            continuations.SCHEDULE_ITEMS, context, deps.settings.lambda_timeout_seconds
        )
    step = recompute_step(deps, cursor, budget)
    return RecomputeReport(
        visited=step.done,
        changed=step.counters.get("changed", 0),
        skipped=step.counters.get("skipped", 0),
        complete=step.complete,
    )


def recompute_step(deps: Deps, cursor: Any, budget: Budget) -> SweepStep:
    """Recompute every client whose automatic status is due to change now (the hourly sweep).

    Reads only the sparse index (which carries what the computation needs), shard by shard
    from ``cursor`` (``{"shard": i, "after": position}``), and writes one conditional update
    per due client, ``write_concurrency`` at a time. When ``budget`` is spent it answers the
    position after the last client written: the continuation starts there, so no client is
    visited twice by one run (a visited one has left the due range anyway) nor skipped (one
    whose account is gone stays due, behind the cursor).
    """
    now = deps.clock()
    report = RecomputeReport()
    accounts: dict[str, Account | None] = {}

    def thresholds(account_id: str) -> Thresholds | None:
        if account_id not in accounts:
            try:
                accounts[account_id] = deps.accounts.get(account_id)
            except NotFound:
                accounts[account_id] = None
        account = accounts[account_id]
        return None if account is None else account.settings.auto_status.as_domain()

    def apply(due: DueClient) -> bool:
        limits = thresholds(due.account_id)
        if limits is None:
            return False
        return _write_status(
            deps, due, compute_auto_status(due.created_at, due.last_visit_at, now, limits), now
        )

    def flush(batch: list[DueClient]) -> None:
        for due in batch:  # look accounts up (and cache them) before the threads start
            thresholds(due.account_id)
        _run_batch(deps, batch, apply, report)

    start = cursor or {"shard": 0, "after": None}
    shards = deps.status_index.shards
    next_cursor = None
    for index in range(int(start["shard"]), len(shards)):
        after = start["after"] if index == int(start["shard"]) else None
        batch: list[DueClient] = []
        for due in deps.status_index.due(shards[index], now, after=after):
            if budget.spent(report.visited + len(batch)):
                report.complete = False
                break
            batch.append(due)
            if len(batch) == _BATCH:
                flush(batch)
                after, batch = batch[-1].position, []
        if batch:
            flush(batch)
            after = batch[-1].position
        if not report.complete:
            next_cursor = {"shard": index, "after": after}
            break
    metrics.add_metric(name="AutoStatusChanged", unit="Count", value=report.changed)
    logger.info(
        "automatic statuses recomputed",
        extra={"visited": report.visited, "changed": report.changed, "complete": report.complete},
    )
    return SweepStep(
        cursor=next_cursor,
        done=report.visited,
        counters={"visited": report.visited, "changed": report.changed, "skipped": report.skipped},
    )


def _run_batch(
    deps: Deps, batch: list[DueClient], apply: Callable[[DueClient], bool], report: RecomputeReport
) -> None:
    if not batch:
        return
    outcomes = concurrently(deps, apply, batch)
    report.visited += len(batch)
    report.changed += sum(outcomes)
    report.skipped += len(batch) - sum(outcomes)


def _write_status(deps: Deps, due: DueClient, result: StatusAt, now: datetime) -> bool:
    """One conditional update with the computed status; True when the status changed."""
    written = deps.status_index.set_status(due, result.status.value, result.next_change_at, now)
    return written and result.status.value != due.auto_status


def _recompute_one(deps: Deps, account: Account, client: Client | None, now: datetime) -> bool:
    """Give ``client`` its status at ``now`` (the same write as the status job); True when
    the status changed. A client whose status and next change stay as they are is not written."""
    if client is None:
        return False
    result = compute_auto_status(
        client.created_at, client.last_visit_at, now, account.settings.auto_status.as_domain()
    )
    if result.status.value == client.auto_status and result.next_change_at == client.next_status_at:
        return False
    due = DueClient(
        account_id=client.account_id,
        client_id=client.client_id,
        created_at=client.created_at,
        last_visit_at=client.last_visit_at,
        auto_status=client.auto_status,
        version=client.version or 0,
    )
    return _write_status(deps, due, result, now)


RECOMPUTE_ACCOUNT = "auto_status_recompute"


_EVERY_CLIENT: dict[str, Any] = {"filter": None}


@jobs.register(RECOMPUTE_ACCOUNT)
@counted_first
def recompute_account_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Job kind: after an account's thresholds change, recompute every client of it.

    Walks the account's clients from the job's cursor; each client's write is
    conditional on its version (a concurrent change wins and is left alone), so
    re-running part of a chunk after a crash changes nothing."""
    account = deps.accounts.get(job.account_id)
    now = deps.clock()
    cursor, handled, changed = job.cursor, 0, 0
    while True:
        page = budget.page(min(500, budget.items - handled))
        found = walk(deps, job.account_id, {"filter": None}, cursor, page, need_clients=True)
        changed += sum(_recompute_one(deps, account, client, now) for _, client in found.matches)
        handled += found.examined
        cursor = found.cursor
        if cursor is None or budget.spent(handled):
            break
    return ChunkOutcome(cursor=cursor, done=handled, finished=cursor is None, counters={"changed": changed})


def start_account_recompute(deps: Deps, account: Account, actor: str | None = None) -> str:
    """Start re-evaluating all of ``account``'s clients (their thresholds changed)."""
    total, cursor = job_start(deps, account.account_id, _EVERY_CLIENT)
    job = jobs.start_job(deps, account.account_id, RECOMPUTE_ACCOUNT, {}, total, cursor=cursor, actor=actor)
    return job.job_id
