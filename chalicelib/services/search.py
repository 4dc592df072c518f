"""Client search by filter, paginated with signed cursors.

A page holds at most ``limit`` clients.  One request reads at most
``SEARCH_READ_BUDGET`` candidates, so a very selective filter over a large
account answers in bounded time: its page may then hold fewer than
``limit`` clients (even none) with a ``next_cursor`` to continue — callers
page until ``next_cursor`` is null, as with any listing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.bootstrap import Deps
from chalicelib.domain.records import Account, Client
from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor
from chalicelib.services.selection import START, Filter, Position, Selection, parse_for_account

SEARCH_READ_BUDGET = 5000
_MAX_PAGE = 500


# The body of POST /v1/clients/search (no docstring: it would become the schema's description).
class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    filter: Filter = None
    limit: int | None = None
    cursor: str | None = None


def search_listing(raw_filter: Any) -> str:
    """Cursor binding: a cursor resumes only the search (account and filter) that made it."""
    canonical = json.dumps(raw_filter, sort_keys=True, separators=(",", ":"))
    return "search:" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def next_page_size(needed: int, matched: int, examined: int) -> int:
    """Read about as many candidates as should yield the ``needed`` matches, judging
    by the selectivity seen so far (the first read assumes every candidate matches)."""
    if examined == 0:
        return max(1, min(needed, _MAX_PAGE))
    selectivity = max(matched / examined, 0.02)
    return max(1, min(math.ceil(needed / selectivity), _MAX_PAGE))


def search_clients(
    deps: Deps, account: Account, raw_filter: Any, limit: int | None, cursor: str | None
) -> tuple[list[Client], str | None]:
    node = parse_for_account(deps, account.account_id, raw_filter)
    size = check_limit(limit)
    listing = search_listing(raw_filter)
    position: Position | None = decode_cursor(deps.key_ring, account.account_id, listing, cursor) or START
    selection = Selection(deps, account.account_id, node, need_clients=True)
    items: list[Client] = []
    examined = 0
    while position is not None and examined < SEARCH_READ_BUDGET:
        step = selection.step(position, next_page_size(size - len(items), len(items), examined))
        examined += step.examined
        for match in step.matches:
            assert match.client is not None
            items.append(match.client)
            if len(items) == size:
                following = step.next_position if match.position == step.last_position else match.position
                return items, encode_cursor(deps.key_ring, account.account_id, listing, following)
        position = step.next_position
    return items, encode_cursor(deps.key_ring, account.account_id, listing, position)


# How many candidates counting the matches of a filter may read in one request: the count a
# page shows is exact up to here, "more than N" beyond (docs/data-model.md, *console reads*).
COUNT_READ_BUDGET = 2000


@dataclass(frozen=True)
class MatchCount:
    """How many clients match a filter; ``exact`` False: at least ``count`` (the read budget
    ran out before the selection did)."""

    count: int
    exact: bool


def count_matches(
    deps: Deps, account: Account, raw_filter: Any, budget: int = COUNT_READ_BUDGET
) -> MatchCount:
    """The number of matches, read with the search's own plan: ids only when the index read
    decides (a tag, a confirmation date, an automatic status), else the candidates' records,
    never more than ``budget`` candidates."""
    node = parse_for_account(deps, account.account_id, raw_filter)
    selection = Selection(deps, account.account_id, node, need_clients=False)
    position: Position | None = START
    examined = matched = 0
    while position is not None and examined < budget:
        step = selection.step(position, min(_MAX_PAGE, budget - examined))
        examined += step.examined
        matched += len(step.matches)
        position = step.next_position
    return MatchCount(matched, position is None)
