"""Who a bulk action, a list or a campaign is about: the one ``selection`` shape.

``ClientSelection`` is exactly one of ``client_ids``, ``tag``, ``filter``,
``list_id`` or ``auto_status``; bulk tags, lists and campaigns all take it
under the name ``selection`` (lists also as ``source``, campaigns as
``audience``: the names of API.md, still accepted, documented as deprecated
aliases). A tag, a list and an automatic status are filters
(``target_filter``), so every kind of selection runs through the same
planner and cannot disagree about who matches.

Shared by bulk tagging and recipient lists (campaigns read theirs through
``services.campaigns.audience_chunk``).  ``resolve`` reads a selection
in the request until it is known to hold at most ``settings.bulk_sync_limit``
clients (then the request handles it all), or until more than that many
matched or ``SYNC_READ_BUDGET`` candidates were read — then the request
handles what it read and a job continues from there (``walk`` in chunks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from chalicelib.bootstrap import Deps
from chalicelib.domain.client_profile import TAG_PATTERN
from chalicelib.domain.filters import Node
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job
from chalicelib.domain.records import Client
from chalicelib.domain.text import Text
from chalicelib.services.selection import (
    START,
    Filter,
    Position,
    Selection,
    parse_for_account,
    parse_or_400,
)

SYNC_READ_BUDGET = 5000
MAX_CLIENT_IDS = 10_000
_PAGE = 500
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _client_ids(values: list[str]) -> list[str]:
    for value in values:
        if not _CLIENT_ID.match(value):
            raise ValueError("client ids are strings like cl_01J…")
    return list(dict.fromkeys(values))


ClientIds = Annotated[list[str], Field(min_length=1, max_length=MAX_CLIENT_IDS), AfterValidator(_client_ids)]
TagName = Annotated[
    str,
    Text(64, min_length=1),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64, "pattern": TAG_PATTERN}),
]
ListId = Annotated[str, StringConstraints(pattern=r"^lst_[A-Za-z0-9]{1,40}$")]
AutoStatus = Literal["new", "active", "lapsing", "lost"]
KINDS = ("client_ids", "tag", "filter", "list_id", "auto_status")


class ClientSelection(BaseModel):
    """Exactly one of: `client_ids` (explicit clients), `tag` (clients holding it, any
    spelling), `filter` (the filter language; `{}` selects every client), `list_id` (a list's
    members), `auto_status` (clients of that automatic status)."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    client_ids: ClientIds | None = None
    tag: TagName | None = None
    filter: Filter = None
    list_id: ListId | None = None
    auto_status: AutoStatus | None = None

    @field_validator("client_ids", "tag", "list_id", "auto_status", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null; leave the field out instead")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ClientSelection:
        given = self.model_fields_set & set(KINDS)
        if len(given) != 1:
            raise ValueError("give exactly one of client_ids, tag, filter, list_id, auto_status")
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set & set(KINDS)))

    def as_json(self) -> dict[str, Any]:
        return {self.kind: getattr(self, self.kind)}


def one_of(primary: ClientSelection | None, alias: ClientSelection | None, names: str) -> ClientSelection:
    """The selection given under ``selection`` or under its deprecated alias, never both."""
    if (primary is None) == (alias is None):
        raise ValueError(f"give exactly one of {names}")
    return primary or alias  # type: ignore[return-value]


def target_filter(target: dict[str, Any]) -> Any:
    """The raw filter a selection stands for (``None`` or ``{}``: every client); explicit ids
    are read directly, not filtered."""
    if "tag" in target:
        return {"field": "tags", "op": "contains", "value": target["tag"]}
    if "list_id" in target:
        return {"field": "lists", "op": "contains", "value": target["list_id"]}
    if "auto_status" in target:
        return {"field": "auto_status", "op": "eq", "value": target["auto_status"]}
    return target.get("filter")


def validate_target(deps: Deps, account_id: str, target: ClientSelection, path: str) -> None:
    """A 400 naming the filter's bad nodes (or the list the account lacks: a 404 for a
    ``list_id``), before anything is read or started."""
    data = target.as_json()
    if "list_id" in data:
        deps.lists.get(account_id, data["list_id"])  # another account's list → 404
    elif "client_ids" not in data:
        parse_for_account(deps, account_id, target_filter(data), f"{path}.filter")


@dataclass
class Walk:
    """Progress of walking a selection: the matches of this call and where the next starts."""

    matches: list[tuple[str, Client | None]]
    cursor: Any  # JSON: a list index for ids, a selection position for filters; None when exhausted
    examined: int


def walk(
    deps: Deps,
    account_id: str,
    target: dict[str, Any],
    cursor: Any,
    budget: Budget,
    *,
    need_clients: bool,
    max_matches: int | None = None,
) -> Walk:
    """Matches from ``cursor`` on, until the selection is exhausted, ``budget`` is spent,
    or (for filters) more than ``max_matches`` were found."""
    if "client_ids" in target:
        ids: list[str] = target["client_ids"]
        start = int(cursor or 0)
        chunk = ids[start : start + budget.items]
        records = deps.client_index.get_many(account_id, chunk)  # ids of other accounts are absent
        following = start + len(chunk)
        return Walk(
            [(cid, records[cid]) for cid in chunk if cid in records and not records[cid].pending],
            following if following < len(ids) else None,
            len(chunk),
        )
    node: Node = parse_or_400(target_filter(target))
    selection = Selection(deps, account_id, node, need_clients=need_clients)
    position: Position | None = cursor or START
    matches: list[tuple[str, Client | None]] = []
    examined = 0
    while position is not None and not budget.spent(examined):
        page = min(_PAGE, max(1, budget.items - examined))
        if max_matches is not None:
            if len(matches) > max_matches:
                break
            page = min(page, max_matches + 1 - len(matches))
        step = selection.step(position, page)
        examined += step.examined
        matches.extend((m.client_id, m.client) for m in step.matches)
        position = step.next_position
    return Walk(matches, position, examined)


@dataclass
class Resolution:
    """The first stretch of a selection, read in the request.

    ``complete``: it is the whole selection (small enough to handle in the request).
    Otherwise the caller handles ``matches`` and a job continues from ``cursor``,
    so nothing read in the request is read again."""

    matches: list[tuple[str, Client | None]]
    complete: bool
    cursor: Any
    examined: int = 0  # candidates read (index items or records), for the count that follows


def resolve(deps: Deps, account_id: str, target: dict[str, Any], *, need_clients: bool) -> Resolution:
    limit = deps.settings.bulk_sync_limit
    if "client_ids" in target and len(target["client_ids"]) > limit:
        return Resolution([], complete=False, cursor=None)
    budget = Budget.start(max(SYNC_READ_BUDGET, limit), 8.0)
    found = walk(deps, account_id, target, None, budget, need_clients=need_clients, max_matches=limit)
    complete = found.cursor is None and len(found.matches) <= limit
    return Resolution(found.matches, complete, found.cursor, found.examined)


# --- a job's total, known when the job is created -----------------------------------------------

# Index items a request may read to count a selection for its job's total (no client record is
# read and nothing is written); a selection that is not counted within it is counted by the job's
# first chunks before any work (``counted_first``).
COUNT_BUDGET = 2000
COUNT_SECONDS = 10.0  # a guard: the item bound binds first on DynamoDB (keys-only pages)


@dataclass(frozen=True)
class Count:
    """A selection counted from some position: ``found`` so far; ``position`` to go on from
    (``None``: counted to the end, ``found`` is the total)."""

    found: int
    position: Any

    @property
    def total(self) -> int | None:
        return self.found if self.position is None else None


def count_from(
    deps: Deps, account_id: str, target: dict[str, Any], position: Any, budget: Budget, found: int = 0
) -> Count:
    """Count a selection's matches from ``position`` (``None``: the start) within ``budget``;
    reads index items only (no client record) and writes nothing."""
    if "client_ids" in target:
        return Count(len(target["client_ids"]), None)
    walked = walk(deps, account_id, target, position, budget, need_clients=False)
    return Count(found + len(walked.matches), walked.cursor)


def job_start(
    deps: Deps,
    account_id: str,
    target: dict[str, Any],
    cursor: Any = None,
    *,
    first: Resolution | None = None,
) -> tuple[int | None, Any]:
    """``(total, cursor)`` for a job over ``target`` that starts at ``cursor``: the exact total
    when the request counted it within ``COUNT_BUDGET`` index items; otherwise ``(None, a
    counting cursor)`` that makes the job's first chunks finish the count before any work
    (``counted_first``). ``first``: the stretch the request already read (``resolve``): the
    count goes on after it, and what it read counts against the budget (the request reads at
    most ``COUNT_BUDGET`` candidates of the selection in all, none of them twice)."""
    if first is not None and "client_ids" not in target:
        found = len(first.matches)
        if first.cursor is None:
            count = Count(found, None)
        else:
            budget = Budget.start(max(1, COUNT_BUDGET - first.examined), COUNT_SECONDS)
            count = count_from(deps, account_id, target, first.cursor, budget, found)
    else:
        count = count_from(deps, account_id, target, None, Budget.start(COUNT_BUDGET, COUNT_SECONDS))
    if count.total is not None:
        return count.total, cursor
    return None, count_later(target, cursor, at=count.position, found=count.found)


def count_later(target: dict[str, Any], then: Any, *, at: Any = None, found: int = 0) -> dict[str, Any]:
    """A counting cursor: the job's first chunks count ``target``'s matches from ``at`` (``None``:
    the start; ``found`` counted before it), set the job's ``total``, then hand the kind ``then``
    (``counted_first``)."""
    return {"phase": "count", "target": target, "at": at, "found": found, "then": then}


ChunkRunner = Callable[[Deps, Job, Budget], ChunkOutcome]


def counted_first(run: ChunkRunner) -> ChunkRunner:
    """Wrap a job kind's chunk runner: while the job's cursor is a counting cursor
    (``job_start``), its chunks count the selection it names and, once counted, set the job's
    ``total`` and hand the kind its own starting cursor; then the kind runs as usual."""

    @wraps(run)
    def chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
        cursor = job.cursor
        if not (isinstance(cursor, dict) and cursor.get("phase") == "count"):
            return run(deps, job, budget)
        count = count_from(deps, job.account_id, cursor["target"], cursor["at"], budget, int(cursor["found"]))
        if count.total is None:
            return ChunkOutcome(
                cursor={**cursor, "at": count.position, "found": count.found}, done=0, finished=False
            )
        return ChunkOutcome(cursor=cursor.get("then"), done=0, finished=False, total=count.total)

    return chunk
