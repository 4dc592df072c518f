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

import time
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.bootstrap import Deps
from chalicelib.domain.auto_status import compute_auto_status
from chalicelib.domain.records import Account
from chalicelib.errors import ConcurrentModification, NotFound
from chalicelib.observability import logger, metrics


@dataclass
class RecomputeReport:
    visited: int = 0
    changed: int = 0
    skipped: int = 0
    complete: bool = True


def recompute_due_statuses(deps: Deps, *, time_budget_seconds: float = 240.0) -> RecomputeReport:
    """Recompute every client whose automatic status is due to change now.

    Stops early when the time budget runs out (``complete`` False); the next
    scheduled run continues, since the unvisited clients are still due.
    """
    now = deps.clock()
    deadline = time.monotonic() + time_budget_seconds
    report = RecomputeReport()
    accounts: dict[str, Account | None] = {}
    for shard in deps.status_index.shards:
        for (account_id, client_id), _ in deps.status_index.due(shard, now):
            if time.monotonic() > deadline:
                report.complete = False
                break
            report.visited += 1
            if account_id not in accounts:
                try:
                    accounts[account_id] = deps.accounts.get(account_id)
                except NotFound:
                    accounts[account_id] = None
            account = accounts[account_id]
            if account is None:
                report.skipped += 1
                continue
            if _recompute_one(deps, account, client_id, now):
                report.changed += 1
            else:
                report.skipped += 1
        if not report.complete:
            break
    metrics.add_metric(name="AutoStatusChanged", unit="Count", value=report.changed)
    logger.info(
        "automatic statuses recomputed",
        extra={"visited": report.visited, "changed": report.changed, "complete": report.complete},
    )
    return report


def _recompute_one(deps: Deps, account: Account, client_id: str, now: datetime) -> bool:
    try:
        client = deps.clients.get(account.account_id, client_id, consistent=True)
    except NotFound:
        return False
    result = compute_auto_status(
        client.created_at, client.last_visit_at, now, account.settings.auto_status.as_domain()
    )
    updated = replace(
        client, auto_status=result.status.value, next_status_at=result.next_change_at, updated_at=now
    )
    if updated.auto_status == client.auto_status and updated.next_status_at == client.next_status_at:
        return False
    try:
        deps.clients.update(client, updated)
    except ConcurrentModification:
        return False
    return updated.auto_status != client.auto_status
