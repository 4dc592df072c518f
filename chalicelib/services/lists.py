"""Recipient lists: snapshots of clients taken from a tag, a filter or explicit ids.

A list never changes when clients change later.  Small sources are
snapshotted in the request (status ``ready``); large ones by a
``build_list`` job (status ``building`` until the job is done; ``size``
grows as members are written).  Deleting a list removes it at once; its
member items are deleted in the request when few, else by a
``delete_list_members`` job.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job
from chalicelib.domain.lists import BUILDING, READY, RecipientList
from chalicelib.domain.records import Account, Client, Page
from chalicelib.domain.text import Text
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import jobs
from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor
from chalicelib.services.targets import (
    ClientSelection,
    counted_first,
    job_start,
    one_of,
    resolve,
    validate_target,
    walk,
)

BUILD_KIND = "build_list"
DELETE_KIND = "delete_list_members"
_DELETE_PAGE = 500

ListName = Annotated[str, Text(200, min_length=1, name=True)]


class NewList(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: ListName
    selection: ClientSelection | None = None
    source: Annotated[
        ClientSelection | None,
        Field(
            description="Deprecated: the former name of `selection` (API.md's); still accepted.",
            json_schema_extra={"deprecated": True},
        ),
    ] = None

    @model_validator(mode="after")
    def _one_selection(self) -> NewList:
        one_of(self.selection, self.source, "selection or source")
        return self

    @property
    def who(self) -> ClientSelection:
        return one_of(self.selection, self.source, "selection or source")


def create_list(deps: Deps, account: Account, data: NewList, actor: str | None = None) -> RecipientList:
    path = "selection" if data.selection is not None else "source"
    validate_target(deps, account.account_id, data.who, path)
    source = data.who.as_json()
    now = deps.clock()
    list_id = f"lst_{ULID()}"
    first = resolve(deps, account.account_id, source, need_clients=False)
    ids = [client_id for client_id, _ in first.matches]
    deps.lists.add_members(account.account_id, list_id, ids)
    status = READY if first.complete else BUILDING
    deps.lists.create(
        RecipientList(account.account_id, list_id, data.name, source, now, now, size=len(ids), status=status)
    )
    if not first.complete:
        # The list exists (building) before its job can run; the job goes on where the request
        # stopped, and its id is added to the list once known.
        # Its total is counted in the request (bounded; else by its first chunks).
        total, cursor = job_start(deps, account.account_id, source, first.cursor, first=first)
        job = jobs.start_job(
            deps,
            account.account_id,
            BUILD_KIND,
            {"list_id": list_id, "source": source},
            total,
            cursor=cursor,
            done=len(ids),
            result={"members": len(ids)},
            actor=actor,
        )
        deps.lists.set_job(account.account_id, list_id, job.job_id)
    created = deps.lists.get(account.account_id, list_id)
    logger.info(
        "list created", extra={"account_id": account.account_id, "list_id": list_id, "status": created.status}
    )
    metrics.add_metric(name="ListsCreated", unit="Count", value=1)
    return created


def get_list(deps: Deps, account: Account, list_id: str) -> RecipientList:
    return deps.lists.get(account.account_id, list_id)


def list_lists(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[Page, str | None]:
    start = decode_cursor(deps.key_ring, account.account_id, "lists", cursor)
    page = deps.lists.page(account.account_id, limit=check_limit(limit), start_key=start)
    return page, encode_cursor(deps.key_ring, account.account_id, "lists", page.next_key)


def list_members(
    deps: Deps, account: Account, list_id: str, limit: int | None, cursor: str | None
) -> tuple[list[Client], str | None]:
    """A page of the list's clients (clients erased since the snapshot are left out)."""
    deps.lists.get(account.account_id, list_id)  # 404 for another account's list
    listing = f"list-members:{list_id}"
    start = decode_cursor(deps.key_ring, account.account_id, listing, cursor)
    page = deps.lists.member_page(list_id, limit=check_limit(limit), start_key=start)
    records = deps.client_index.get_many(account.account_id, page.items)
    clients = [records[client_id] for client_id in page.items if client_id in records]
    return clients, encode_cursor(deps.key_ring, account.account_id, listing, page.next_key)


def delete_list(deps: Deps, account: Account, list_id: str, actor: str | None = None) -> None:
    current = deps.lists.get(account.account_id, list_id)
    deps.lists.delete(account.account_id, list_id)
    if current.size <= deps.settings.bulk_sync_limit and current.status == READY:
        while deps.lists.delete_members(list_id, _DELETE_PAGE):
            pass
    else:
        jobs.start_job(deps, account.account_id, DELETE_KIND, {"list_id": list_id}, current.size, actor=actor)
    logger.info("list deleted", extra={"account_id": account.account_id, "list_id": list_id})


@jobs.register(BUILD_KIND)
@counted_first
def build_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Write the members of the next stretch of the source; the list is ready at the end."""
    list_id, source = job.params["list_id"], job.params["source"]
    try:
        deps.lists.get(job.account_id, list_id)
    except NotFound:  # deleted while building: stop writing members (the delete job removes them)
        return ChunkOutcome(cursor=None, done=0, finished=True, counters={"cancelled": 1})
    found = walk(deps, job.account_id, source, job.cursor, budget, need_clients=False)
    ids = [client_id for client_id, _ in found.matches]
    deps.lists.add_members(job.account_id, list_id, ids)
    size = job.result.get("members", 0) + len(ids)
    finished = found.cursor is None
    deps.lists.set_size(job.account_id, list_id, size, deps.clock(), ready=finished)
    done = found.examined if "client_ids" in source else len(ids)
    return ChunkOutcome(cursor=found.cursor, done=done, finished=finished, counters={"members": len(ids)})


@jobs.register(DELETE_KIND)
def delete_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Delete the members of a deleted list, a page at a time, until none is left."""
    deleted = 0
    while not budget.spent(deleted):
        count = deps.lists.delete_members(job.params["list_id"], _DELETE_PAGE)
        deleted += count
        if count == 0:
            return ChunkOutcome(cursor=None, done=deleted, finished=True)
    return ChunkOutcome(cursor=None, done=deleted, finished=False)
