"""Running a filter plan: the resumable stream of clients that match a filter.

A ``Selection`` reads the plan's index one page at a time (``step``) and
evaluates the whole filter on each candidate.  Every match carries the
*position* right after it, so any consumer can stop anywhere and resume
exactly there: search pages (signed cursors), and background jobs (their
saved cursor).  A position is plain JSON: ``{"p": <part>, "k": <key|null>}``;
a plan has one *part* per index partition it reads (one per tag of a
multi-tag plan, one per automatic status…).

Multi-part plans never yield a client twice: a client is taken only from
the first of the plan's partitions it belongs to (checked on its record).

A filter on ``lists`` is evaluated with the memberships of the page's
candidates, read in one ``BatchGetItem`` per named list and page (none for
the list a ``ListPlan`` reads: its candidates are its members).

A ``pending`` client (the public form's, not confirmed yet) is never yielded:
records are skipped, and the covering index reads (tag members, automatic
status, confirmation date) never hold one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from chalicelib.bootstrap import Deps
from chalicelib.domain.filter_plan import (
    AccountPlan,
    AutoStatusPlan,
    ConfirmedPlan,
    EmailPlan,
    ListPlan,
    Plan,
    TagPlan,
    plan_filter,
)
from chalicelib.domain.filters import (
    ALL_OPS,
    FIELDS,
    FilterError,
    MemberOf,
    Node,
    evaluate,
    filter_schema_extra,
    parse_filter,
    referenced_lists,
)
from chalicelib.domain.records import Client
from chalicelib.domain.tags import label_key
from chalicelib.domain.time import to_storage
from chalicelib.errors import InvalidInput
from chalicelib.storage.client_index import Candidate, CandidatePage

Position = dict[str, Any]
START: Position = {"p": 0, "k": None}


# --- the filter language as the OpenAPI document states it (docs/filters.md) -----------------
# These models only describe the language (Swagger UI, the reference page, fuzzers): requests
# carry a filter as plain JSON (``Filter``), which ``parse_or_400`` reads and names each bad node of.

_SCALAR: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 1000},
    {"type": "number"},
    {"type": "boolean"},
]


class FilterCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True, json_schema_extra=filter_schema_extra)

    field: Annotated[
        str,
        WithJsonSchema(
            {
                "anyOf": [
                    {"enum": list(FIELDS)},
                    {"type": "string", "pattern": "^fields\\.[A-Za-z_][A-Za-z0-9_]{0,63}$"},
                ],
                "description": "A client field, or `fields.<name>` for a custom field.",
            }
        ),
    ]
    op: Annotated[str, WithJsonSchema({"enum": sorted(ALL_OPS)})]
    value: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [
                    *_SCALAR,
                    {"type": "array", "minItems": 1, "maxItems": 100, "items": {"anyOf": _SCALAR}},
                ],
                "description": "Absent for `is_set` / `is_not_set`; a list for `in` / `not_in`.",
            }
        ),
    ] = None


class FilterAll(BaseModel):
    """Every child matches (`[]`: every client)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    all: list[FilterNode]


class FilterAny(BaseModel):
    """At least one child matches (`[]`: none)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    any: list[FilterNode]


class FilterNot(BaseModel):
    """The child does not match."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    not_: FilterNode = Field(alias="not")


class FilterEveryClient(BaseModel):
    """`{}`: every client."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


FilterNode = Union[FilterCondition, FilterAll, FilterAny, FilterNot, FilterEveryClient]  # noqa: UP007
for _model in (FilterAll, FilterAny, FilterNot):
    _model.model_rebuild()


def _as_sent(value: Any) -> Any:
    return value


# A filter as a request carries it: any JSON (null and ``{}``: every client), stated as the
# language in the document.
Filter = Annotated[Any, PlainValidator(_as_sent, json_schema_input_type=FilterNode | None)]


def parse_or_400(raw: Any, path: str = "filter") -> Node:
    """The filter's typed nodes, or a 400 naming each bad node's path."""
    try:
        return parse_filter(raw, path)
    except FilterError as exc:
        raise InvalidInput(
            "the filter is invalid",
            code="invalid_filter",
            details=[{"field": where, "message": message} for where, message in exc.errors],
        ) from None


class UnknownList(InvalidInput):
    """A filter names a list the account does not have: 400 ``invalid_filter`` like any bad
    filter, told apart so a page can say which part is wrong."""


def check_lists(deps: Deps, account_id: str, node: Node, path: str = "filter") -> None:
    """A 400 for a filter naming a list this account does not have (another account's included:
    indistinguishable from absent)."""
    from chalicelib.errors import NotFound

    missing = []
    for list_id in sorted(referenced_lists(node)):
        try:
            deps.lists.get(account_id, list_id)
        except NotFound:
            missing.append({"field": f"{path}.value", "message": f"no list {list_id} in this account"})
    if missing:
        raise UnknownList(
            "the filter names a list that does not exist", code="invalid_filter", details=missing
        )


def parse_for_account(deps: Deps, account_id: str, raw: Any, path: str = "filter") -> Node:
    """``parse_or_400``, and every list it names exists in the account."""
    node = parse_or_400(raw, path)
    check_lists(deps, account_id, node, path)
    return node


@dataclass(frozen=True)
class Match:
    client_id: str
    client: Client | None  # None when the plan covers the filter and records were not needed
    position: Position  # resume here to continue right after this match


@dataclass(frozen=True)
class Step:
    matches: list[Match]
    examined: int  # candidates read from the index in this step
    last_position: Position | None  # position after the last candidate examined
    next_position: Position | None  # where the next step starts; None: the selection is exhausted


class Selection:
    def __init__(self, deps: Deps, account_id: str, node: Node, *, need_clients: bool = True) -> None:
        self.deps = deps
        self.account_id = account_id
        self.node = node
        self.plan: Plan = plan_filter(node)
        # Ids alone suffice when the index read decides membership and no record is wanted.
        self.ids_only = self.plan.covering and not need_clients and not isinstance(self.plan, AccountPlan)
        self.parts = _parts(self.plan)
        self.lists = sorted(referenced_lists(node))

    def step(self, position: Position, page_size: int) -> Step:
        part_index = int(position.get("p", 0))
        if part_index >= len(self.parts):
            return Step([], 0, None, None)
        page = self._read(self.parts[part_index], position.get("k"), page_size)
        records = self._records(page.candidates)
        member_of = self._memberships(part_index, page.candidates)
        matches: list[Match] = []
        last: Position | None = None
        for candidate in page.candidates:
            last = {"p": part_index, "k": candidate.key}
            if self.ids_only:
                matches.append(Match(candidate.client_id, None, last))
                continue
            client = candidate.client or records.get(candidate.client_id)
            if client is None or not self._first_part_of(client, part_index):
                continue  # erased meanwhile, or yielded by an earlier part of the plan
            if client.pending:
                continue  # a form sign-up not confirmed yet is in no selection
            if evaluate(self.node, client, member_of):
                matches.append(Match(client.client_id, client, last))
        if page.exhausted or not page.candidates:
            following: Position | None = {"p": part_index + 1, "k": None}
            if part_index + 1 >= len(self.parts):
                following = None
        else:
            following = last
        return Step(matches, len(page.candidates), last, following)

    def _read(self, part: tuple[str, ...], start: Any, limit: int) -> CandidatePage:
        index = self.deps.client_index
        kind = part[0]
        if kind == "account":
            return index.account_page(self.account_id, start, limit)
        if kind == "tag":
            return index.tag_page(self.account_id, part[1], start, limit)
        if kind == "auto_status":
            return index.auto_status_page(self.account_id, part[1], start, limit)
        if kind == "list":
            return index.list_page(self.account_id, part[1], start, limit)
        if kind == "confirmed":
            op, bound = (part[1] or None), (part[2] or None)
            return index.confirmed_page(self.account_id, op, bound, start, limit)
        # e-mail: one GetItem on the claim; the part is done after it
        if start is not None:
            return CandidatePage([], True)
        client_id = index.client_id_for_email_key(self.account_id, part[1])
        found = [Candidate(client_id, {"email": part[1]})] if client_id else []
        return CandidatePage(found, True)

    def _records(self, candidates: list[Candidate]) -> dict[str, Client]:
        if self.ids_only:
            return {}
        missing = [c.client_id for c in candidates if c.client is None]
        return self.deps.client_index.get_many(self.account_id, missing) if missing else {}

    def _memberships(self, part_index: int, candidates: list[Candidate]) -> MemberOf:
        """Who of this page is in each list the filter names."""
        if not self.lists or self.ids_only:
            return _no_member
        ids = [c.client_id for c in candidates]
        members: dict[str, set[str]] = {}
        for list_id in self.lists:
            if isinstance(self.plan, ListPlan) and self.plan.list_id == list_id:
                members[list_id] = set(ids)  # read from the list's own partition
            else:
                members[list_id] = self.deps.client_index.members_among(self.account_id, list_id, ids)
        return lambda list_id, client_id: client_id in members.get(list_id, ())

    def _first_part_of(self, client: Client, part_index: int) -> bool:
        plan = self.plan
        if isinstance(plan, TagPlan) and len(plan.tags) > 1:
            keys = [label_key(tag) for tag in plan.tags]
            held = {label_key(tag) for tag in client.tags}
            return keys[part_index] in held and not set(keys[:part_index]).intersection(held)
        if isinstance(plan, AutoStatusPlan) and len(plan.statuses) > 1:
            return client.auto_status == plan.statuses[part_index]
        return True


def _no_member(list_id: str, client_id: str) -> bool:
    return False


def _parts(plan: Plan) -> list[tuple[str, ...]]:
    if isinstance(plan, TagPlan):
        return [("tag", tag) for tag in plan.tags]
    if isinstance(plan, ListPlan):
        return [("list", plan.list_id)]
    if isinstance(plan, AutoStatusPlan):
        return [("auto_status", status) for status in plan.statuses]
    if isinstance(plan, ConfirmedPlan):
        bound = to_storage(plan.bound) if plan.bound is not None else ""
        return [("confirmed", plan.op or "", bound)]
    if isinstance(plan, EmailPlan):
        return [("email", key) for key in plan.email_keys]
    return [("account",)]


def plan_name(plan: Plan) -> str:
    """A short label of the plan (logs, benchmark)."""
    return type(plan).__name__.removesuffix("Plan").lower() + (":covering" if plan.covering else "")
