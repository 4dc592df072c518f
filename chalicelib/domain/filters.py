"""The client filter language of API.md: parse, validate, evaluate.

A filter is JSON: ``{"all": [..]}``, ``{"any": [..]}``, ``{"not": node}`` or a
condition ``{"field": F, "op": OP, "value": V}``.  ``parse_filter`` turns it
into typed, immutable nodes (values already converted: timestamps become
datetimes, lists become tuples) or raises ``FilterError`` naming every bad
node by its path, e.g. ``filter.all[1].any[0].op``.  ``evaluate`` decides
whether a ``Client`` record matches.

Semantics worth knowing (also in docs/data-model.md):
- ``ne``, ``not_in`` and ``not_contains`` are exact negations of ``eq``,
  ``in`` and ``contains``: a client without the value matches them;
- ordering operators (``gt``…``lte``, ``before``/``after``) never match a
  missing value, nor a custom field of another type;
- ``email`` comparisons are case-insensitive (like the uniqueness rule), and
  ``starts_with`` is case-insensitive on every field; other equality is exact;
- tags and ``status`` are compared case-insensitively (``VIP`` is ``vip``:
  ``domain.tags.label_key``);
- on ``tags``, ``in`` means "has any of" and ``not_in`` "has none of";
  ``eq``/``ne`` are ``contains``/``not_contains`` (one tag);
  ``is_set`` means "has at least one tag";
- ``lists`` is list membership (``contains``: a member of that list, ``in``:
  of any of them); evaluating it needs a membership lookup, which the caller
  passes to ``evaluate`` (``member_of``) — the rules stay pure;
- ``{}`` (and ``{"all": []}``) is the filter that every client matches;
- ``eq``, ``ne``, ``in``, ``not_in`` compare timestamps as instants
  (``2026-11-22T11:00:00+01:00`` equals ``2026-11-22T10:00:00Z``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeAlias

from chalicelib.domain.contact import email_key
from chalicelib.domain.records import Client
from chalicelib.domain.tags import label_key
from chalicelib.domain.time import parse_timestamp

MAX_DEPTH = 10
MAX_NODES = 200
MAX_LIST_VALUES = 100
MAX_TEXT = 1000
MAX_LISTS = 20  # distinct lists one filter may name (each costs a membership lookup per page)

AUTO_STATUSES = ("new", "active", "lapsing", "lost")
CONSENT_STATES = ("granted", "denied", "unknown")
_CUSTOM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
LIST_ID = re.compile(r"^lst_[A-Za-z0-9]{1,40}$")


class Kind(Enum):
    TEXT = "text"
    LABEL = "label"  # a free label compared case-insensitively (status)
    EMAIL = "email"
    TAGS = "tags"
    LISTS = "lists"
    ENUM = "enum"
    BOOL = "bool"
    TIME = "time"
    CUSTOM = "custom"


_EQUALITY = ("eq", "ne", "in", "not_in")
_PRESENCE = ("is_set", "is_not_set")
_ORDER = ("gt", "gte", "lt", "lte", "before", "after")

# API.md types some ops (contains: tags; gt…lte: numbers and timestamps; before/after:
# timestamps; starts_with: strings); equality and presence apply to every field.
OPS: dict[Kind, tuple[str, ...]] = {
    Kind.TEXT: (*_EQUALITY, "starts_with", *_PRESENCE),
    Kind.LABEL: (*_EQUALITY, "starts_with", *_PRESENCE),
    Kind.LISTS: ("contains", "not_contains", "in", "not_in"),
    Kind.EMAIL: (*_EQUALITY, "starts_with", *_PRESENCE),
    Kind.TAGS: ("contains", "not_contains", *_EQUALITY, *_PRESENCE),
    Kind.ENUM: (*_EQUALITY, *_PRESENCE),
    Kind.BOOL: (*_EQUALITY, *_PRESENCE),
    Kind.TIME: (*_EQUALITY, *_ORDER, *_PRESENCE),
    Kind.CUSTOM: (*_EQUALITY, "starts_with", *_ORDER, *_PRESENCE),
}
# On tags, eq/ne name one tag: the same as contains/not_contains.
_TAG_SYNONYMS = {"eq": "contains", "ne": "not_contains"}
ALL_OPS = frozenset(op for ops in OPS.values() for op in ops)

FIELDS: dict[str, Kind] = {
    "email": Kind.EMAIL,
    "first_name": Kind.TEXT,
    "last_name": Kind.TEXT,
    "phone": Kind.TEXT,
    "language": Kind.TEXT,
    "tags": Kind.TAGS,
    "lists": Kind.LISTS,
    "status": Kind.LABEL,
    "auto_status": Kind.ENUM,
    "consent.state": Kind.ENUM,
    "consent.confirmed_at": Kind.TIME,
    "suppressed": Kind.BOOL,
    "created_at": Kind.TIME,
    "last_visit_at": Kind.TIME,
}
_ENUM_VALUES: dict[str, tuple[str, ...]] = {"auto_status": AUTO_STATUSES, "consent.state": CONSENT_STATES}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any = None  # converted: str, bool, float/int, datetime, or a tuple of those


@dataclass(frozen=True)
class AllOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node: TypeAlias = Condition | AllOf | AnyOf | Not

MATCH_ALL: Node = AllOf(())


class FilterError(ValueError):
    """An invalid filter; ``errors`` lists ``(path, message)`` for every bad node."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


def field_kind(name: str) -> Kind | None:
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith("fields.") and _CUSTOM_NAME.match(name.removeprefix("fields.")):
        return Kind.CUSTOM
    return None


# ---------------------------------------------------------------- parsing


class _Parser:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.nodes = 0
        self.lists: set[str] = set()

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self.fail(path, f"a filter has at most {MAX_NODES} nodes")
            return None
        if depth > MAX_DEPTH:
            self.fail(path, f"filters nest at most {MAX_DEPTH} levels deep")
            return None
        if not isinstance(raw, dict):
            self.fail(path, "must be an object: {all: [..]}, {any: [..]}, {not: ..} or {field, op, value}")
            return None
        groups = [key for key in ("all", "any", "not") if key in raw]
        if groups:
            if len(raw) != 1:
                extra = sorted(set(raw) - {groups[0]})
                self.fail(path, f"a {groups[0]!r} node has no other keys (found {', '.join(extra)})")
                return None
            key = groups[0]
            if key == "not":
                child = self.node(raw["not"], f"{path}.not", depth + 1)
                return None if child is None else Not(child)
            items = raw[key]
            if not isinstance(items, list):
                self.fail(f"{path}.{key}", "must be a list of filter nodes")
                return None
            children = [self.node(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items)]
            if any(child is None for child in children):
                return None
            kept = tuple(child for child in children if child is not None)
            return AllOf(kept) if key == "all" else AnyOf(kept)
        return self.condition(raw, path)

    def condition(self, raw: dict[str, Any], path: str) -> Condition | None:
        unknown = sorted(set(raw) - {"field", "op", "value"})
        if unknown:
            self.fail(f"{path}.{unknown[0]}", "unknown key: a condition has field, op and value")
            return None
        name, op = raw.get("field"), raw.get("op")
        if not isinstance(name, str):
            self.fail(f"{path}.field", "required: the name of a client field")
            return None
        kind = field_kind(name)
        if kind is None:
            self.fail(f"{path}.field", f"unknown field {name!r}; known: {', '.join(FIELDS)}, fields.<name>")
            return None
        if not isinstance(op, str) or op not in ALL_OPS:
            self.fail(f"{path}.op", f"unknown op {op!r}; known: {', '.join(sorted(ALL_OPS))}")
            return None
        if op not in OPS[kind]:
            self.fail(
                f"{path}.op", f"op {op!r} does not apply to {name!r}; use one of {', '.join(OPS[kind])}"
            )
            return None
        value_path = f"{path}.value"
        if op in _PRESENCE:
            if raw.get("value") is not None:
                self.fail(value_path, f"{op} takes no value")
                return None
            return Condition(name, op)
        if "value" not in raw:
            self.fail(value_path, f"required for op {op!r}")
            return None
        try:
            value = _convert(name, kind, op, raw["value"])
        except ValueError as exc:
            self.fail(value_path, str(exc))
            return None
        if kind is Kind.TAGS:
            op = _TAG_SYNONYMS.get(op, op)
        if kind is Kind.LISTS:
            self.lists.update(value if isinstance(value, tuple) else (value,))
            if len(self.lists) > MAX_LISTS:
                self.fail(value_path, f"a filter names at most {MAX_LISTS} lists")
                return None
        return Condition(name, op, value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    return value


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp string, e.g. 2026-11-22T10:00:00Z")
    return parse_timestamp(value)


def _scalar(value: Any) -> str | float | int | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    return _text(value)


def _single(name: str, kind: Kind, value: Any) -> Any:
    """One value for eq/ne/in/not_in/contains on this field."""
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind is Kind.CUSTOM:
        return _scalar(value)
    if kind is Kind.TIME:
        return _timestamp(value)
    text = _text(value)
    if kind is Kind.ENUM and text not in _ENUM_VALUES[name]:
        raise ValueError(f"must be one of {', '.join(_ENUM_VALUES[name])}")
    if kind is Kind.TAGS and not text.strip():
        raise ValueError("must be a non-empty tag")
    if kind is Kind.LISTS and not LIST_ID.match(text):
        raise ValueError("must be a list id, like lst_01J…")
    if kind is Kind.TAGS:
        return text.strip()
    return text


def _convert(name: str, kind: Kind, op: str, value: Any) -> Any:
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list")
        if len(value) > MAX_LIST_VALUES:
            raise ValueError(f"at most {MAX_LIST_VALUES} values")
        return tuple(_single(name, kind, item) for item in value)
    if op in ("eq", "ne", "contains", "not_contains"):
        return _single(name, kind, value)
    if op == "starts_with":
        text = _text(value)
        if not text:
            raise ValueError("must not be empty")
        return text
    if op in ("before", "after"):
        return _timestamp(value)
    # gt, gte, lt, lte: timestamps on time fields; numbers or timestamps on custom fields
    if kind is Kind.TIME:
        return _timestamp(value)
    if isinstance(value, str):
        return _timestamp(value)
    return _number(value)


def parse_filter(raw: Any, path: str = "filter") -> Node:
    """Typed nodes of a JSON filter; ``None`` (no filter), ``{}`` and ``{"all": []}`` match every
    client."""
    if raw is None or raw == {}:
        return MATCH_ALL
    parser = _Parser()
    node = parser.node(raw, path, 1)
    if parser.errors or node is None:
        raise FilterError(parser.errors or [(path, "invalid filter")])
    return node


# ---------------------------------------------------------------- evaluation


def field_value(client: Client, name: str) -> Any:
    """The value a filter sees for ``name`` (``None`` when unset)."""
    if name.startswith("fields."):
        return client.fields.get(name.removeprefix("fields."))
    getter = _GETTERS[name]
    return getter(client)


_GETTERS: dict[str, Callable[[Client], Any]] = {
    "email": lambda c: c.email,
    "first_name": lambda c: c.first_name,
    "last_name": lambda c: c.last_name,
    "phone": lambda c: c.phone,
    "language": lambda c: c.language,
    "tags": lambda c: c.tags,
    "status": lambda c: c.status,
    "auto_status": lambda c: c.auto_status,
    "consent.state": lambda c: c.consent_state,
    "consent.confirmed_at": lambda c: c.consent_confirmed_at,
    "suppressed": lambda c: c.suppressed,
    "created_at": lambda c: c.created_at,
    "last_visit_at": lambda c: c.last_visit_at,
}


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _same(actual: Any, expected: Any, kind: Kind) -> bool:
    if actual is None:
        return False
    if kind is Kind.EMAIL:
        return email_key(actual) == email_key(expected)
    if kind is Kind.LABEL:
        return isinstance(actual, str) and label_key(actual) == label_key(expected)
    if kind is Kind.CUSTOM:
        return _category(actual) == _category(expected) and actual == expected
    return bool(actual == expected)


def _comparable(actual: Any, expected: Any) -> Any:
    """``actual`` in the type of ``expected`` for ordering, or ``None`` if it has another type."""
    if isinstance(expected, datetime):
        if isinstance(actual, datetime):
            return actual
        if isinstance(actual, str):
            try:
                return parse_timestamp(actual)
            except ValueError:
                return None
        return None
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return None
    return actual


def _is_set(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


MemberOf: TypeAlias = Callable[[str, str], bool]  # (list_id, client_id) -> is a member


def _no_lists(list_id: str, client_id: str) -> bool:
    raise LookupError("a filter on lists needs evaluate(..., member_of=...)")


def _condition(cond: Condition, client: Client, member_of: MemberOf) -> bool:
    kind = field_kind(cond.field)
    assert kind is not None
    op, expected = cond.op, cond.value
    if kind is Kind.LISTS:
        lists = expected if isinstance(expected, tuple) else (expected,)
        found = any(member_of(list_id, client.client_id) for list_id in lists)
        return found == (op in ("contains", "in"))
    actual = field_value(client, cond.field)
    if op == "is_set":
        return _is_set(actual)
    if op == "is_not_set":
        return not _is_set(actual)
    if kind is Kind.TAGS:
        tags = {label_key(tag) for tag in actual or ()}
        if op in ("contains", "not_contains"):
            return (label_key(expected) in tags) == (op == "contains")
        return bool(tags.intersection(label_key(tag) for tag in expected)) == (op == "in")
    if op in ("eq", "ne"):
        return _same(actual, expected, kind) == (op == "eq")
    if op in ("in", "not_in"):
        return any(_same(actual, item, kind) for item in expected) == (op == "in")
    if op == "starts_with":
        return isinstance(actual, str) and actual.casefold().startswith(expected.casefold())
    value = _comparable(actual, expected)
    if value is None:
        return False
    if op in ("gt", "after"):
        return bool(value > expected)
    if op == "gte":
        return bool(value >= expected)
    if op in ("lt", "before"):
        return bool(value < expected)
    return bool(value <= expected)  # lte


def evaluate(node: Node, client: Client, member_of: MemberOf = _no_lists) -> bool:
    """Does ``client`` match the filter? ``member_of`` answers list membership (``lists``)."""
    if isinstance(node, Condition):
        return _condition(node, client, member_of)
    if isinstance(node, AllOf):
        return all(evaluate(child, client, member_of) for child in node.children)
    if isinstance(node, AnyOf):
        return any(evaluate(child, client, member_of) for child in node.children)
    return not evaluate(node.child, client, member_of)


def referenced_lists(node: Node) -> set[str]:
    """The list ids a filter's ``lists`` conditions name."""
    if isinstance(node, Condition):
        if node.field != "lists":
            return set()
        return set(node.value) if isinstance(node.value, tuple) else {node.value}
    if isinstance(node, Not):
        return referenced_lists(node.child)
    found: set[str] = set()
    for child in node.children:
        found |= referenced_lists(child)
    return found


def conjuncts(node: Node) -> list[Node]:
    """The top-level ``all`` terms of a filter (nested ``all`` flattened)."""
    if isinstance(node, AllOf):
        out: list[Node] = []
        for child in node.children:
            out.extend(conjuncts(child))
        return out
    return [node]


# ---------------------------------------------------------------- the language as a JSON Schema


def _ops_table() -> str:
    """Every field and the ops it takes, from the parser's own tables (never out of date)."""
    rows = ["| field | ops |", "|---|---|"]
    for name in [*FIELDS, "fields.<name>"]:
        kind = field_kind(name if name != "fields.<name>" else "fields.x")
        assert kind is not None
        rows.append(f"| `{name}` | {', '.join(f'`{op}`' for op in OPS[kind])} |")
    return "\n".join(rows)


def filter_schema_extra(schema: dict[str, Any]) -> None:
    """The language's summary (every field and its ops, from the parser's tables) as the
    description of a condition in the OpenAPI document."""
    schema["description"] = _DESCRIPTION.format(
        depth=MAX_DEPTH, nodes=MAX_NODES, values=MAX_LIST_VALUES, table=_ops_table()
    )
    schema.get("properties", {}).get("value", {}).pop("default", None)  # absent, not null


_DESCRIPTION = """Which clients: a condition, or `all` / `any` / `not` of nodes (nested at most \
{depth} levels, {nodes} nodes). `{{}}` and `{{"all": []}}` select every client.

A condition is `{{"field": F, "op": OP, "value": V}}`; `is_set` / `is_not_set` take no value, `in` / \
`not_in` a list of at most {values}. An unknown field or op, or an op that does not apply to the \
field, is a 400 naming the node's path (`filter.all[1].op`).

{table}

- Tags, `status` and `email` are compared case-insensitively (`VIP` is `vip`); `starts_with` always.
- `ne`, `not_in`, `not_contains` are the exact negations of `eq`, `in`, `contains`.
- Ordering ops (`gt`…`lte`, `before` / `after`) never match a missing value; times are ISO 8601.
- `lists contains lst_…` selects a list's members (read from the list, not by a scan).
- Seed 003's segment — the list used for the campaign, confirmation date filled: \
`{{"all": [{{"field": "lists", "op": "contains", "value": "lst_…"}}, \
{{"field": "consent.confirmed_at", "op": "is_set"}}]}}`.

The whole language, with examples from both seeds: `docs/filters.md`."""
