"""The clients page's filter builder: rows a person fills in ↔ the filter language (API.md).

A row is a field, an operator and a value as typed. Applied rows live in the page's URL as
repeated ``f``/``o``/``v`` parameters (so a filter is a bookmark), with ``match`` (``all`` or
``any`` of them) and the free-text search ``q``; the row being written is ``field``/``op``/
``value`` (plus ``custom_field`` for a custom field's name). ``Builder.raw_filter()`` is the
JSON filter the search service takes, so the console filters exactly like
``POST /v1/clients/search``: the same parser validates it, the same planner runs it.

Values are converted by the field's kind: a comma-separated list for "is one of", yes/no for
booleans (in English, Czech and Italian), dates as ``2026-03-31`` (or the reader's own date
format) for timestamps, numbers for custom fields that hold numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import zip_longest
from typing import Any
from urllib.parse import urlencode

# The order fields and operators are offered in (values are the filter language's names).
FIELD_CHOICES = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "language",
    "tags",
    "status",
    "auto_status",
    "consent.state",
    "consent.confirmed_at",
    "suppressed",
    "created_at",
    "last_visit_at",
    "lists",  # the value is a list's id (a list's page links to its members here)
)
CUSTOM = "fields."  # the Field option of a custom field; its name is typed beside it
OP_CHOICES = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "is_set",
    "is_not_set",
    "gt",
    "gte",
    "lt",
    "lte",
    "before",
    "after",
)
PRESENCE = ("is_set", "is_not_set")
LISTED = ("in", "not_in")
MAX_ROWS = 20
MAX_QUERY = 200
_TRUE = {"yes", "true", "1", "y", "ano", "a", "sì", "si", "s", "vero"}
_FALSE = {"no", "false", "0", "n", "ne", "falso"}
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RowError(ValueError):
    """A row that cannot become a condition: ``key`` is the catalogue key, ``params`` its values."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Row:
    field: str
    op: str
    value: str = ""

    @property
    def custom(self) -> bool:
        return self.field.startswith(CUSTOM)


@dataclass
class Builder:
    rows: list[Row] = field(default_factory=list)
    match: str = "all"  # all | any
    q: str = ""

    def params(self, *, without: int | None = None) -> list[tuple[str, str]]:
        """The URL parameters of this filter (``without``: leave out one row)."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        rows = [row for index, row in enumerate(self.rows) if index != without]
        if len(rows) > 1 and self.match == "any":
            pairs.append(("match", "any"))
        for row in rows:
            pairs += [("f", row.field), ("o", row.op), ("v", row.value)]
        return pairs

    def query(self, *extra: tuple[str, str], without: int | None = None) -> str:
        return urlencode([*self.params(without=without), *extra])

    @property
    def empty(self) -> bool:
        return not self.rows and not self.q

    def raw_filter(self, language: str = "en") -> Any:
        """The filter language's JSON for these rows and the search (``None``: every client).
        Raises ``RowError`` for a row whose value cannot be read."""
        conditions = [condition(row, language) for row in self.rows]
        terms: list[Any] = []
        if conditions:
            if self.match == "any" and len(conditions) > 1:
                terms.append({"any": conditions})
            else:
                terms.extend(conditions)
        if self.q:
            terms.append(search_condition(self.q))
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else {"all": terms}


def read_builder(values: Any) -> tuple[Builder, Row | None]:
    """The applied rows and the row being written, from a request's parameters.

    ``values(name)`` gives every value of one parameter."""
    applied = [
        Row((f or "").strip(), (o or "").strip(), (v or "").strip())
        for f, o, v in zip_longest(values("f"), values("o"), values("v"))
        if (f or "").strip()
    ][:MAX_ROWS]
    match = "any" if _first(values("match")) == "any" else "all"
    q = _first(values("q")).strip()[:MAX_QUERY]
    pending = None
    name = _first(values("field")).strip()
    if name:
        if name == CUSTOM:
            name = CUSTOM + _first(values("custom_field")).strip()
        pending = Row(name, _first(values("op")).strip(), _first(values("value")).strip())
    return Builder(applied, match, q), pending


def _first(found: list[str]) -> str:
    return found[0] if found else ""


def search_condition(q: str) -> dict[str, Any]:
    """Free-text search: a whole e-mail address is one lookup; other text matches the
    beginning of the e-mail, first or last name or phone, or a tag of that name."""
    text = q.strip()
    if _EMAIL.match(text):
        return {"field": "email", "op": "eq", "value": text}
    terms: list[dict[str, Any]] = [
        {"field": name, "op": "starts_with", "value": text}
        for name in ("email", "first_name", "last_name", "phone")
    ]
    terms.append({"field": "tags", "op": "contains", "value": text})
    return {"any": terms}


def condition(row: Row, language: str = "en") -> dict[str, Any]:
    """One row as a filter condition; the field, operator and value are checked by the
    filter language itself afterwards (``check_row``)."""
    if row.custom and row.field == CUSTOM:
        raise RowError("console.clients.filter.error.custom_name")
    if not row.op:
        raise RowError("console.clients.filter.error.op_required")
    if row.op in PRESENCE:
        return {"field": row.field, "op": row.op}
    if not row.value:
        raise RowError("console.clients.filter.error.value_required")
    if row.op in LISTED:
        items = [item.strip() for item in row.value.split(",") if item.strip()]
        if not items:
            raise RowError("console.clients.filter.error.value_required")
        return {
            "field": row.field,
            "op": row.op,
            "value": [_value(row.field, item, language) for item in items],
        }
    return {"field": row.field, "op": row.op, "value": _value(row.field, row.value, language)}


def _kind(name: str) -> str | None:
    from chalicelib.domain.filters import field_kind

    kind = field_kind(name)
    return kind.value if kind is not None else None


def _value(name: str, text: str, language: str) -> Any:
    kind = _kind(name)
    if kind == "bool":
        word = text.casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise RowError("console.clients.filter.error.bool")
    if kind == "time":
        return _timestamp(text, language)
    if kind == "custom":
        if _NUMBER.match(text):
            number = float(text)
            return int(number) if "." not in text else number
        if text.casefold() in ("true", "false"):
            return text.casefold() == "true"
        if _DATE.match(text):
            return _timestamp(text, language)
    return text


def _timestamp(text: str, language: str) -> str:
    """An ISO timestamp for a typed date: ``2026-03-31`` (midnight UTC), a full ISO timestamp,
    or a date written the reader's way (``31. 3. 2026``, ``31/03/2026``)."""
    from chalicelib.domain.time import parse_timestamp, to_iso

    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise RowError("console.clients.filter.error.date") from None
        return f"{day.isoformat()}T00:00:00Z"
    try:
        return to_iso(parse_timestamp(text))
    except ValueError:
        pass
    try:
        from babel.dates import parse_date

        day = parse_date(text, locale=language)
    except Exception:  # noqa: BLE001 — Babel raises several kinds for text that is no date
        raise RowError("console.clients.filter.error.date") from None
    if not isinstance(day, date) or isinstance(day, datetime) or day.year < 1900:
        raise RowError("console.clients.filter.error.date")
    return f"{day.isoformat()}T00:00:00Z"


def check_row(row: Row, language: str = "en") -> dict[str, Any]:
    """The row's condition, checked by the filter language; ``RowError`` says what is wrong
    in words the page shows (which part: field, operator or value)."""
    from chalicelib.domain.filters import ALL_OPS, OPS, FilterError, field_kind, parse_filter

    if row.field == CUSTOM:
        raise RowError("console.clients.filter.error.custom_name")
    kind = field_kind(row.field)
    if kind is None:
        raise RowError("console.clients.filter.error.field")
    if row.op not in ALL_OPS or row.op not in OPS[kind]:
        raise RowError("console.clients.filter.error.op", field=row.field, op=row.op)
    raw = condition(row, language)
    try:
        parse_filter(raw)
    except FilterError as exc:
        raise RowError(_value_error(kind.value, row.field), detail=exc.errors[0][1]) from None
    return raw


def _value_error(kind: str, name: str) -> str:
    if kind == "enum":
        return "console.clients.filter.error.enum." + name
    if kind == "time":
        return "console.clients.filter.error.date"
    if kind == "bool":
        return "console.clients.filter.error.bool"
    return "console.clients.filter.error.value"
