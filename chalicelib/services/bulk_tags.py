"""Add or remove tags on many clients at once (the seed's *Select > All*).

Each client's change is written in one transaction — the client item
(conditional on its version) plus the tag-member items added or removed — so
tag membership never disagrees with the client; several clients share a
transaction (up to 16: one call instead of one each), and a client that
changed since it was read is taken out of it and changed alone.  Applying is idempotent per client: a client
that already has every added tag and none of the removed ones is not written.
Small selections are applied in the request (200 ``{matched, updated}``);
larger ones by a ``bulk_tags`` job (202 ``{job_id}``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from chalicelib.bootstrap import Deps
from chalicelib.domain.client_profile import MAX_TAGS, Tags
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job, add_counters
from chalicelib.domain.records import Account, Client
from chalicelib.domain.tags import label_key, retagged
from chalicelib.errors import ConcurrentModification, NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import jobs
from chalicelib.services.targets import (
    ClientSelection,
    counted_first,
    job_start,
    resolve,
    validate_target,
    walk,
)
from chalicelib.services.writers import concurrently, in_batches

KIND = "bulk_tags"
_ATTEMPTS = 3


class BulkTagsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    selection: ClientSelection
    add: Tags = []
    remove: Tags = []

    @model_validator(mode="after")
    def _something_to_do(self) -> BulkTagsRequest:
        if not self.add and not self.remove:
            raise ValueError("give tags to add and/or remove")
        removed = {label_key(tag) for tag in self.remove}
        both = [tag for tag in self.add if label_key(tag) in removed]
        if both:
            raise ValueError(f"a tag cannot be both added and removed: {', '.join(sorted(both))}")
        return self


def _change(
    client: Client, add: list[str], remove: list[str], job_id: str | None, now: datetime
) -> Client | str:
    """The client as the change leaves it, or the outcome when nothing is to be written:
    ``unchanged`` (``updated`` when the job's earlier attempt changed it) or ``too_many_tags``."""
    tags = retagged(client.tags, add, remove)
    if tags == client.tags:
        return "updated" if job_id is not None and client.tagged_by_job == job_id else "unchanged"
    if len(tags) > MAX_TAGS:
        return "too_many_tags"
    return replace(client, tags=tags, updated_at=now, tagged_by_job=job_id)


def apply_to_client(
    deps: Deps,
    account_id: str,
    client: Client,
    add: list[str],
    remove: list[str],
    job_id: str | None = None,
) -> str:
    """``updated``, ``unchanged``, ``too_many_tags`` or ``gone`` (erased meanwhile).

    A job's change records the job's id on the client, so when a chunk runs again after
    its worker died, a client that an earlier attempt changed still counts as updated."""
    current = client
    for _ in range(_ATTEMPTS):
        change = _change(current, add, remove, job_id, deps.clock())
        if isinstance(change, str):
            return change
        try:
            deps.clients.update(current, change)
            return "updated"
        except ConcurrentModification:
            try:
                current = deps.clients.get(account_id, client.client_id, consistent=True)
            except NotFound:
                return "gone"
    raise ConcurrentModification("a client kept changing during bulk tagging; retry")


def apply_to_clients(
    deps: Deps,
    account_id: str,
    clients: list[Client],
    add: list[str],
    remove: list[str],
    job_id: str | None = None,
) -> dict[str, int]:
    counts: dict[str, int] = {
        "matched": len(clients),
        "updated": 0,
        "unchanged": 0,
        "too_many_tags": 0,
        "gone": 0,
    }
    if not clients:
        return counts
    # The clients to change are written several to a transaction first (one call for up to
    # TRANSACTION_ROWS, 16); one that was not (it changed since it was read) goes the way of one
    # client, which reads it again.
    now = deps.clock()
    wanted = [
        (client, change)
        for client in clients
        if not isinstance(change := _change(client, add, remove, job_id, now), str)
    ]
    made = in_batches(deps, wanted, deps.clients.update_many)
    written = {old.client_id for (old, _), client in zip(wanted, made, strict=True) if client is not None}

    def apply(client: Client) -> str:
        if client.client_id in written:
            return "updated"
        return apply_to_client(deps, account_id, client, add, remove, job_id)

    outcomes = concurrently(deps, apply, clients)
    for outcome in outcomes:
        counts[outcome] += 1
    return counts


def bulk_tags(
    deps: Deps, account: Account, request: BulkTagsRequest, actor: str | None = None
) -> tuple[int, dict[str, Any]]:
    """(200, counts) when applied in the request, or (202, {job_id}) for a background job.

    The request reads at most the bounded first stretch of the selection (``targets.resolve``)
    and writes clients only when that stretch is the whole, small selection. Otherwise it
    writes nothing but the job and its first message, with the job's ``total``: the number of
    ids given, or the selection's matches counted on from that first stretch, within
    ``targets.COUNT_BUDGET`` candidates read in all;
    a selection too big to count in the request is counted by the job's first chunks."""
    from chalicelib.services.tags import account_spellings

    validate_target(deps, account.account_id, request.selection, "selection")
    target = request.selection.as_json()
    add = account_spellings(deps, account.account_id, request.add)  # registered before any client
    first = resolve(deps, account.account_id, target, need_clients=True)
    if first.complete:
        clients = [client for _, client in first.matches if client is not None]
        counts = apply_to_clients(deps, account.account_id, clients, add, request.remove)
        metrics.add_metric(name="ClientsRetagged", unit="Count", value=counts["updated"])
        logger.info("bulk tags applied", extra={"account_id": account.account_id, **counts})
        return 200, counts
    params = {"target": target, "add": add, "remove": request.remove}
    total, cursor = job_start(deps, account.account_id, target, first=first)
    job = jobs.start_job(deps, account.account_id, KIND, params, total=total, cursor=cursor, actor=actor)
    return 202, {"job_id": job.job_id, "status": job.status}


@jobs.register(KIND)
@counted_first
def run_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Read a page of the selection, apply it, repeat until the chunk's budget is spent; the
    saved cursor always points after clients that were applied. (A selection too big to count
    in the request is counted first, ``targets.counted_first``.)"""
    params = job.params
    target = params["target"]
    cursor = job.cursor
    handled = 0
    counts: dict[str, int] = {}
    while True:
        page_budget = budget.page(min(500, budget.items - handled))
        found = walk(deps, job.account_id, target, cursor, page_budget, need_clients=True)
        clients = [client for _, client in found.matches if client is not None]
        counts = add_counters(
            counts,
            apply_to_clients(deps, job.account_id, clients, params["add"], params["remove"], job.job_id),
        )
        handled += found.examined
        cursor = found.cursor
        if cursor is None or budget.spent(handled):
            break
    done = handled if "client_ids" in target else counts.get("matched", 0)
    return ChunkOutcome(cursor=cursor, done=done, finished=cursor is None, counters=counts)
