"""Hypothesis strategies shared by the unit and integration property tests:
clients drawn from small value pools (so filters hit and miss), and valid
raw JSON filters over every field and operator of the filter language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from chalicelib.domain.filters import AUTO_STATUSES, CONSENT_STATES
from chalicelib.domain.records import Client

TAGS = ("vip", "hair", "nails", "Color", "spa")
STATUSES = ("regular", "new", "vip")
LANGS = ("en", "cs", "it")
NAMES = ("Anna", "anna", "Bob", "Břetislav", "Eva")
EMAILS = tuple(f"{name}@example.com" for name in ("anna", "Bob", "eva", "ivo", "jan", "Zoe", "lia", "max"))
BASE = datetime(2026, 1, 1, tzinfo=UTC)
MOMENTS = tuple(BASE + timedelta(days=d, hours=h) for d in (0, 10, 40, 200) for h in (0, 5))
CUSTOM_VALUES: tuple[Any, ...] = (1, 2, 12, 2.5, "12", "x", "2026-01-11", True, False, "")


def moment_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def clients(draw: st.DrawFn, account_id: str = "acc_test") -> Client:
    """One client; ``client_id`` and ``email`` are made unique by the list strategy."""
    confirmed = draw(st.none() | st.sampled_from(MOMENTS))
    custom = draw(
        st.dictionaries(
            st.sampled_from(("visits", "birthday", "vip")), st.sampled_from(CUSTOM_VALUES), max_size=3
        )
    )
    return Client(
        account_id=account_id,
        client_id="",
        email="",
        created_at=draw(st.sampled_from(MOMENTS)),
        updated_at=BASE,
        auto_status=draw(st.sampled_from(AUTO_STATUSES)),
        first_name=draw(st.none() | st.sampled_from(NAMES)),
        last_name=draw(st.none() | st.sampled_from(NAMES)),
        phone=draw(st.none() | st.just("+420 777 000 111")),
        language=draw(st.none() | st.sampled_from(LANGS)),
        tags=draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
        status=draw(st.none() | st.sampled_from(STATUSES)),
        last_visit_at=draw(st.none() | st.sampled_from(MOMENTS)),
        fields={k: v for k, v in custom.items() if v != ""},
        consent_state=draw(st.sampled_from(CONSENT_STATES)),
        consent_confirmed_at=confirmed,
        consent_source="staff" if confirmed else None,
        suppressed=draw(st.booleans()),
    )


def client_lists(account_id: str = "acc_test", max_size: int = 12) -> st.SearchStrategy[list[Client]]:
    def finish(items: list[Client]) -> list[Client]:
        from dataclasses import replace

        return [
            replace(c, client_id=f"cl_{i:04d}", email=EMAILS[i % len(EMAILS)].replace("@", f"{i}@"))
            for i, c in enumerate(items)
        ]

    return st.lists(clients(account_id), max_size=max_size).map(finish)


_times = st.sampled_from(MOMENTS).map(moment_text)


def _condition(
    field: str, op: str, value: st.SearchStrategy[Any] | None
) -> st.SearchStrategy[dict[str, Any]]:
    if value is None:
        return st.just({"field": field, "op": op})
    return value.map(lambda v: {"field": field, "op": op, "value": v})


def _one_of_values(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(values, min_size=1, max_size=3)


_text_fields = {
    "first_name": st.sampled_from(NAMES),
    "last_name": st.sampled_from(NAMES),
    "language": st.sampled_from(LANGS),
    "status": st.sampled_from(STATUSES),
    "phone": st.just("+420 777 000 111"),
    "email": st.sampled_from(("ANNA0@example.com", "bob1@EXAMPLE.com", "nobody@example.com")),
}


def conditions() -> st.SearchStrategy[dict[str, Any]]:
    options: list[st.SearchStrategy[dict[str, Any]]] = []
    for field, values in _text_fields.items():
        options += (
            [_condition(field, op, values) for op in ("eq", "ne")]
            + [_condition(field, op, _one_of_values(values)) for op in ("in", "not_in")]
            + [
                _condition(field, "starts_with", st.sampled_from(("a", "B", "e", "+420"))),
                _condition(field, "is_set", None),
                _condition(field, "is_not_set", None),
            ]
        )
    tags = st.sampled_from((*TAGS, "absent"))
    options += [
        _condition("tags", "contains", tags),
        _condition("tags", "not_contains", tags),
        _condition("tags", "in", _one_of_values(tags)),
        _condition("tags", "not_in", _one_of_values(tags)),
        _condition("tags", "is_set", None),
        _condition("tags", "is_not_set", None),
    ]
    for field, values in (("auto_status", AUTO_STATUSES), ("consent.state", CONSENT_STATES)):
        choice = st.sampled_from(values)
        options += [_condition(field, op, choice) for op in ("eq", "ne")]
        options += [_condition(field, op, _one_of_values(choice)) for op in ("in", "not_in")]
    options += [_condition("suppressed", op, st.booleans()) for op in ("eq", "ne")]
    for field in ("consent.confirmed_at", "created_at", "last_visit_at"):
        options += [_condition(field, op, _times) for op in ("gt", "gte", "lt", "lte", "before", "after")]
        options += [_condition(field, "is_set", None), _condition(field, "is_not_set", None)]
    custom_field = st.sampled_from(("fields.visits", "fields.birthday", "fields.vip", "fields.absent"))
    scalars = st.sampled_from(tuple(v for v in CUSTOM_VALUES if v != ""))
    numbers_or_times = st.sampled_from((1, 2, 12, 2.5, "2026-01-10", "2026-01-12T00:00:00Z"))
    options.append(
        st.tuples(
            custom_field,
            st.sampled_from(
                (
                    "eq",
                    "ne",
                    "in",
                    "not_in",
                    "starts_with",
                    "gt",
                    "gte",
                    "lt",
                    "lte",
                    "before",
                    "after",
                    "is_set",
                    "is_not_set",
                )
            ),
        ).flatmap(lambda pair: _custom(pair[0], pair[1], scalars, numbers_or_times))
    )
    return st.one_of(options)


def _custom(
    field: str, op: str, scalars: st.SearchStrategy[Any], numbers_or_times: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    if op in ("is_set", "is_not_set"):
        return _condition(field, op, None)
    if op in ("in", "not_in"):
        return _condition(field, op, _one_of_values(scalars))
    if op == "starts_with":
        return _condition(field, op, st.sampled_from(("1", "x", "2026")))
    if op in ("before", "after"):
        return _condition(field, op, _times)
    if op in ("gt", "gte", "lt", "lte"):
        return _condition(field, op, numbers_or_times)
    return _condition(field, op, scalars)


def filters(max_leaves: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """Valid raw filters; the top level is often an ``all`` so the planner has conjuncts to use."""
    tree = st.recursive(
        conditions(),
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(children, max_size=3).map(lambda xs: {"any": xs}),
            children.map(lambda x: {"not": x}),
        ),
        max_leaves=max_leaves,
    )
    return st.one_of(tree, st.lists(tree, min_size=1, max_size=4).map(lambda xs: {"all": xs}))
