"""The filter language: parsing with node paths, evaluation, and the planner."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.filter_plan import (
    AccountPlan,
    AutoStatusPlan,
    ConfirmedPlan,
    EmailPlan,
    TagPlan,
    plan_filter,
)
from chalicelib.domain.filters import (
    MATCH_ALL,
    Condition,
    FilterError,
    evaluate,
    parse_filter,
)
from chalicelib.domain.records import Client
from tests.strategies import client_lists, filters

RUN_FIRST = 25  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ANNA = Client(
    account_id="acc_1",
    client_id="cl_1",
    email="Anna.Novak@Example.com",
    created_at=T0,
    updated_at=T0,
    auto_status="lapsing",
    first_name="Anna",
    language="cs",
    tags=["vip", "hair"],
    status="regular",
    last_visit_at=datetime(2026, 3, 1, tzinfo=UTC),
    fields={"visits": 12, "birthday": "1990-05-01", "newsletter": True, "code": "12"},
    consent_state="granted",
    consent_confirmed_at=datetime(2026, 2, 1, 10, tzinfo=UTC),
)


def matches(raw: Any, client: Client = ANNA) -> bool:
    return evaluate(parse_filter(raw), client)


def error_paths(raw: Any) -> list[str]:
    with pytest.raises(FilterError) as info:
        parse_filter(raw)
    return [path for path, _ in info.value.errors]


# ---------------------------------------------------------------- parsing


def test_api_md_example_parses_and_matches() -> None:
    raw = {
        "all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {
                "any": [
                    {"field": "status", "op": "eq", "value": "regular"},
                    {"field": "auto_status", "op": "in", "value": ["lapsing", "lost"]},
                ]
            },
            {"field": "consent.confirmed_at", "op": "is_set"},
        ]
    }
    assert matches(raw)
    assert not matches(raw, replace(ANNA, consent_confirmed_at=None))


def test_seed_segment_confirmation_date_is_filled() -> None:
    raw = {"field": "consent.confirmed_at", "op": "is_set"}
    assert matches(raw)
    assert not matches(raw, replace(ANNA, consent_confirmed_at=None))
    assert plan_filter(parse_filter(raw)) == ConfirmedPlan(covering=True)


def test_no_filter_matches_everything() -> None:
    assert parse_filter(None) == MATCH_ALL
    assert evaluate(MATCH_ALL, ANNA)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (
            {
                "all": [
                    {"field": "tags", "op": "contains", "value": "x"},
                    {"any": [{"field": "status", "op": "bogus", "value": "x"}]},
                ]
            },
            "filter.all[1].any[0].op",
        ),
        ({"field": "nope", "op": "eq", "value": 1}, "filter.field"),
        ({"field": "fields.bad name", "op": "eq", "value": 1}, "filter.field"),
        ({"field": "tags", "op": "starts_with", "value": "v"}, "filter.op"),
        ({"field": "suppressed", "op": "gt", "value": 1}, "filter.op"),
        ({"field": "created_at", "op": "eq", "value": "yesterday"}, "filter.value"),
        ({"field": "suppressed", "op": "eq", "value": "yes"}, "filter.value"),
        ({"field": "auto_status", "op": "eq", "value": "sleepy"}, "filter.value"),
        ({"field": "consent.state", "op": "in", "value": []}, "filter.value"),
        ({"field": "created_at", "op": "after", "value": "yesterday"}, "filter.value"),
        ({"field": "created_at", "op": "gt", "value": 5}, "filter.value"),
        ({"field": "fields.visits", "op": "gt", "value": True}, "filter.value"),
        ({"field": "first_name", "op": "eq"}, "filter.value"),
        ({"field": "first_name", "op": "is_set", "value": "x"}, "filter.value"),
        ({"field": "first_name", "op": "eq", "value": "x", "extra": 1}, "filter.extra"),
        ({"all": {"field": "email"}}, "filter.all"),
        ({"not": [1]}, "filter.not"),
        ({"all": [], "any": []}, "filter"),
        ([], "filter"),
        ("vip", "filter"),
        ({"not": {"not": {"field": "email", "op": "eq", "value": 3}}}, "filter.not.not.value"),
    ],
)
def test_errors_name_the_node_path(raw: Any, path: str) -> None:
    assert path in error_paths(raw)


def test_every_bad_node_is_reported() -> None:
    raw = {"any": [{"field": "x", "op": "eq", "value": 1}, {"field": "email", "op": "gt", "value": 1}]}
    assert error_paths(raw) == ["filter.any[0].field", "filter.any[1].op"]


def test_depth_and_size_are_bounded() -> None:
    deep: Any = {"field": "email", "op": "is_set"}
    for _ in range(12):
        deep = {"not": deep}
    assert any("nest" in message for _, message in messages_of(deep))
    wide = {"any": [{"field": "email", "op": "is_set"}] * 250}
    assert any("at most" in message for _, message in messages_of(wide))


def messages_of(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(FilterError) as info:
        parse_filter(raw)
    return info.value.errors


def test_values_are_converted() -> None:
    node = parse_filter({"field": "created_at", "op": "after", "value": "2026-01-02"})
    assert node == Condition("created_at", "after", datetime(2026, 1, 2, tzinfo=UTC))
    node = parse_filter({"field": "tags", "op": "in", "value": [" vip ", "hair"]})
    assert node == Condition("tags", "in", ("vip", "hair"))


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"field": "email", "op": "eq", "value": "anna.novak@EXAMPLE.com"}, True),
        ({"field": "email", "op": "starts_with", "value": "ANNA."}, True),
        ({"field": "first_name", "op": "eq", "value": "anna"}, False),
        ({"field": "first_name", "op": "starts_with", "value": "an"}, True),
        ({"field": "last_name", "op": "ne", "value": "X"}, True),
        ({"field": "last_name", "op": "eq", "value": "X"}, False),
        ({"field": "last_name", "op": "not_in", "value": ["X"]}, True),
        ({"field": "last_name", "op": "is_not_set"}, True),
        ({"field": "tags", "op": "contains", "value": "vip"}, True),
        # Tags and status are compared case-insensitively (API.md, second round).
        ({"field": "tags", "op": "contains", "value": "VIP"}, True),
        ({"field": "tags", "op": "in", "value": ["NAILS", "Hair"]}, True),
        ({"field": "tags", "op": "not_contains", "value": "Vip"}, False),
        ({"field": "status", "op": "eq", "value": "Regular"}, True),
        ({"field": "status", "op": "in", "value": ["REGULAR", "new"]}, True),
        ({"field": "status", "op": "ne", "value": "regular"}, False),
        ({}, True),
        ({"field": "tags", "op": "not_contains", "value": "nails"}, True),
        ({"field": "tags", "op": "in", "value": ["nails", "hair"]}, True),
        ({"field": "tags", "op": "not_in", "value": ["nails", "hair"]}, False),
        ({"field": "tags", "op": "is_set"}, True),
        ({"field": "suppressed", "op": "eq", "value": False}, True),
        ({"field": "consent.state", "op": "ne", "value": "granted"}, False),
        ({"field": "consent.confirmed_at", "op": "after", "value": "2026-02-01T09:59:59Z"}, True),
        ({"field": "consent.confirmed_at", "op": "before", "value": "2026-02-01T10:00:00Z"}, False),
        ({"field": "consent.confirmed_at", "op": "lte", "value": "2026-02-01T10:00:00Z"}, True),
        ({"field": "last_visit_at", "op": "gte", "value": "2026-03-01"}, True),
        ({"field": "created_at", "op": "lt", "value": "2026-01-01"}, False),
        ({"field": "fields.visits", "op": "gt", "value": 10}, True),
        ({"field": "fields.visits", "op": "eq", "value": 12.0}, True),
        ({"field": "fields.visits", "op": "eq", "value": "12"}, False),
        ({"field": "fields.code", "op": "gt", "value": 10}, False),  # a string is not a number
        ({"field": "fields.code", "op": "eq", "value": "12"}, True),
        ({"field": "fields.newsletter", "op": "eq", "value": 1}, False),  # true is not 1
        ({"field": "fields.newsletter", "op": "eq", "value": True}, True),
        ({"field": "fields.birthday", "op": "before", "value": "2000-01-01"}, True),
        ({"field": "fields.birthday", "op": "starts_with", "value": "1990"}, True),
        ({"field": "fields.absent", "op": "ne", "value": 1}, True),
        ({"field": "fields.absent", "op": "lt", "value": 1}, False),
        ({"field": "fields.absent", "op": "is_not_set"}, True),
        # Equality and presence apply to every field (API.md types only the other ops).
        ({"field": "tags", "op": "eq", "value": "vip"}, True),
        ({"field": "tags", "op": "eq", "value": "nails"}, False),
        ({"field": "tags", "op": "ne", "value": "vip"}, False),
        ({"field": "tags", "op": "ne", "value": "nails"}, True),
        ({"field": "suppressed", "op": "in", "value": [False]}, True),
        ({"field": "suppressed", "op": "not_in", "value": [False]}, False),
        ({"field": "suppressed", "op": "is_set"}, True),
        ({"field": "auto_status", "op": "is_set"}, True),
        ({"field": "consent.state", "op": "is_not_set"}, False),
        ({"field": "last_visit_at", "op": "eq", "value": "2026-03-01T01:00:00+01:00"}, True),
        ({"field": "last_visit_at", "op": "eq", "value": "2026-03-01T00:00:01Z"}, False),
        ({"field": "last_visit_at", "op": "ne", "value": "2026-03-01T00:00:00Z"}, False),
        ({"field": "created_at", "op": "in", "value": ["2025-01-01", "2026-01-01"]}, True),
        ({"field": "consent.confirmed_at", "op": "not_in", "value": ["2026-02-01T10:00:00Z"]}, False),
        ({"not": {"field": "tags", "op": "contains", "value": "vip"}}, False),
        ({"any": []}, False),
        ({"all": []}, True),
    ],
)
def test_evaluation(raw: Any, expected: bool) -> None:
    assert matches(raw) is expected


# ---------------------------------------------------------------- planning


def plan(raw: Any) -> Any:
    return plan_filter(parse_filter(raw))


def test_planner_choices() -> None:
    tag = {"field": "tags", "op": "contains", "value": "vip"}
    confirmed = {"field": "consent.confirmed_at", "op": "after", "value": "2026-01-01"}
    status = {"field": "auto_status", "op": "eq", "value": "lost"}
    email = {"field": "email", "op": "eq", "value": "A@B.example"}
    assert plan(tag) == TagPlan(("vip",), covering=True)
    assert plan({"all": [status, confirmed, tag]}) == TagPlan(("vip",))
    assert plan({"all": [status, confirmed]}) == ConfirmedPlan("gt", datetime(2026, 1, 1, tzinfo=UTC))
    assert plan({"all": [status, {"all": [email]}]}) == EmailPlan(("a@b.example",))
    assert plan(status) == AutoStatusPlan(("lost",), covering=True)
    assert plan({"field": "auto_status", "op": "in", "value": ["lost", "new"]}) == AutoStatusPlan(
        ("lost", "new")
    )
    assert plan({"any": [tag, status]}) == AccountPlan()
    assert plan({"not": tag}) == AccountPlan()
    assert plan({"field": "tags", "op": "not_contains", "value": "vip"}) == AccountPlan()
    assert plan(None) == AccountPlan(covering=True)


@settings(max_examples=400)
@given(client_lists(max_size=15), filters())
def test_indexed_plan_equals_plain_evaluation(population: list[Client], raw: dict[str, Any]) -> None:
    """Soundness of the planner: reading only the plan's candidates and evaluating
    the filter on them gives exactly the clients plain evaluation gives; a covering
    plan's candidates are exactly the matches."""
    node = parse_filter(raw)
    chosen = plan_filter(node)
    plain = [c.client_id for c in population if evaluate(node, c)]
    indexed = [c.client_id for c in population if chosen.admits(c) and evaluate(node, c)]
    assert indexed == plain
    if chosen.covering:
        assert [c.client_id for c in population if chosen.admits(c)] == plain


@given(filters())
def test_parse_is_total_on_valid_filters(raw: dict[str, Any]) -> None:
    # every generated (valid) filter parses, and evaluates to a plain bool
    assert evaluate(parse_filter(raw), ANNA) in (True, False)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda xs: (
            st.lists(xs, max_size=3)
            | st.dictionaries(st.sampled_from(("all", "any", "not", "field", "op", "value")), xs, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_arbitrary_json_never_crashes(raw: Any) -> None:
    try:
        parse_filter(raw if raw is not None else {})
    except FilterError as exc:
        assert exc.errors and all(path.startswith("filter") for path, _ in exc.errors)


def test_tag_equality_is_read_as_contains_so_the_tag_index_serves_it() -> None:
    assert parse_filter({"field": "tags", "op": "eq", "value": " vip "}) == Condition(
        "tags", "contains", "vip"
    )
    assert parse_filter({"field": "tags", "op": "ne", "value": "vip"}) == Condition(
        "tags", "not_contains", "vip"
    )
    assert plan_filter(parse_filter({"field": "tags", "op": "eq", "value": "vip"})) == plan_filter(
        parse_filter({"field": "tags", "op": "contains", "value": "vip"})
    )


def test_docs_filters_md_lists_every_field_and_op() -> None:
    """docs/filters.md documents the language: every field and every op the parser knows."""
    from pathlib import Path

    from chalicelib.domain.filters import ALL_OPS, FIELDS, OPS, field_kind

    text = (Path(__file__).resolve().parents[2] / "docs" / "filters.md").read_text()
    rows = {
        line.split("|")[1].strip(): line.split("|")[3]
        for line in text.split("What the ops mean")[0].splitlines()
        if line.startswith("| `") and line.count("|") == 4
    }
    documented: dict[str, str] = {}
    for names, ops in rows.items():
        for name in names.replace("`", "").split(", "):
            documented[name] = ops
    assert set(documented) == {*FIELDS, "fields.<name>"}
    for name, ops in documented.items():
        kind = field_kind("fields.x" if name == "fields.<name>" else name)
        assert kind is not None
        assert [op.strip(" `") for op in ops.split(",")] == list(OPS[kind]), name
    for op in ALL_OPS:
        assert f"`{op}`" in text.split("What the ops mean")[1], op
