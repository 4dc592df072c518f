"""Small pure rules of targeting: retagging, search page sizing, job budgets and counters."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.jobs import Budget, add_counters
from chalicelib.services.bulk_tags import retagged
from chalicelib.services.search import next_page_size, search_listing

_tags = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)


def test_retagged_keeps_order_and_appends() -> None:
    assert retagged(["vip", "hair"], ["spa", "vip"], []) == ["vip", "hair", "spa"]
    assert retagged(["vip", "hair"], ["x"], ["vip"]) == ["hair", "x"]
    assert retagged([], [], ["vip"]) == []


@given(_tags, _tags, _tags)
def test_retagged_properties(tags: list[str], add: list[str], remove: list[str]) -> None:
    add = [t for t in add if t not in remove]  # the API refuses a tag in both
    result = retagged(tags, add, remove)
    assert set(result) == (set(tags) - set(remove)) | set(add)
    assert len(result) == len(set(result))
    assert retagged(result, add, remove) == result  # applying twice changes nothing


def test_page_size_follows_selectivity() -> None:
    assert next_page_size(50, 0, 0) == 50
    assert next_page_size(500, 0, 0) == 500
    assert next_page_size(10, 10, 10) == 10  # everything matched so far
    assert next_page_size(10, 1, 100) == 500  # 1 % selectivity: read more, capped
    assert next_page_size(10, 0, 100) == 500
    assert next_page_size(1, 50, 100) == 2


def test_search_listing_binds_the_filter() -> None:
    a = {"field": "tags", "op": "contains", "value": "vip"}
    b = {"value": "vip", "op": "contains", "field": "tags"}
    assert search_listing(a) == search_listing(b)  # key order does not matter
    assert search_listing(a) != search_listing(None)


def test_budget_and_counters() -> None:
    budget = Budget.start(items=3, seconds=60)
    assert not budget.spent(2) and budget.spent(3)
    assert Budget(items=100, deadline=time.monotonic() - 1).spent(0)
    assert add_counters({"a": 1}, {"a": 2, "b": 1}) == {"a": 3, "b": 1}
