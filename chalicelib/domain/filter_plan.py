"""Which key-based read narrows a filter: the query planner (pure).

A plan names the read that yields *candidates*; the whole filter is then
evaluated in code on each candidate, so a plan may only narrow the read,
never change the result.  Soundness — every client that matches the filter
is admitted by its plan — is what ``admits`` expresses and what the property
tests check against plain evaluation.

Only top-level conjuncts (terms of the outermost ``all``) can narrow: a
condition under ``any`` or ``not`` says nothing about every match.  Among
several narrowing conjuncts the planner prefers, in order: an e-mail lookup,
a single tag or a list's members, a confirmation-date range, a single
automatic status, then multi-value tag and status reads.  Tags are read by
their case-insensitive key (``domain.tags.label_key``).  A plan is *covering* when the index read
alone decides membership (the filter is exactly that one condition), so a
consumer that only needs ids (a list snapshot) need not read the clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from chalicelib.domain.contact import email_key
from chalicelib.domain.filters import Condition, Node, conjuncts
from chalicelib.domain.records import Client
from chalicelib.domain.tags import label_key, unique_tags


@dataclass(frozen=True)
class AccountPlan:
    """Read the account's whole client partition (``Query clients`` by account)."""

    covering: bool = False

    def admits(self, client: Client) -> bool:
        return True


@dataclass(frozen=True)
class EmailPlan:
    """``GetItem`` on the e-mail claims, one per address."""

    email_keys: tuple[str, ...]
    covering: bool = False

    def admits(self, client: Client) -> bool:
        return email_key(client.email) in self.email_keys


@dataclass(frozen=True)
class TagPlan:
    """``Query tag-members`` per tag; several tags are read one after the other."""

    tags: tuple[str, ...]
    covering: bool = False

    def admits(self, client: Client) -> bool:
        return bool({label_key(t) for t in client.tags}.intersection(label_key(t) for t in self.tags))


@dataclass(frozen=True)
class ListPlan:
    """``Query list-members`` of one list (keys only): its members are the candidates."""

    list_id: str
    covering: bool = False

    def admits(self, client: Client, member_of: Callable[[str, str], bool] | None = None) -> bool:
        if member_of is None:
            raise LookupError("a list plan needs member_of")
        return member_of(self.list_id, client.client_id)


@dataclass(frozen=True)
class AutoStatusPlan:
    """``Query by-auto-status`` per status."""

    statuses: tuple[str, ...]
    covering: bool = False

    def admits(self, client: Client) -> bool:
        return client.auto_status in self.statuses


@dataclass(frozen=True)
class ConfirmedPlan:
    """``Query by-consent-confirmed`` (sparse) with an optional sort-key bound."""

    op: str | None = None  # None: every confirmed client; else gt/gte/lt/lte on the date
    bound: datetime | None = None
    covering: bool = False

    def admits(self, client: Client) -> bool:
        moment = client.consent_confirmed_at
        if moment is None:
            return False
        if self.op is None or self.bound is None:
            return True
        return {
            "gt": moment > self.bound,
            "gte": moment >= self.bound,
            "lt": moment < self.bound,
            "lte": moment <= self.bound,
        }[self.op]


Plan: TypeAlias = AccountPlan | EmailPlan | TagPlan | ListPlan | AutoStatusPlan | ConfirmedPlan

_RANGE_OPS = {"gt": "gt", "after": "gt", "gte": "gte", "lt": "lt", "before": "lt", "lte": "lte"}


def _candidate(term: Node) -> tuple[int, Plan] | None:
    """The plan one conjunct allows, with its preference rank (lower is better)."""
    if not isinstance(term, Condition):
        return None
    field, op, value = term.field, term.op, term.value
    if field == "email" and op == "eq":
        return 0, EmailPlan((email_key(value),))
    if field == "email" and op == "in":
        return 0, EmailPlan(tuple(dict.fromkeys(email_key(v) for v in value)))
    if field == "tags" and op == "contains":
        return 1, TagPlan((value,))
    if field == "tags" and op == "in":
        tags = tuple(unique_tags(value))
        return (1 if len(tags) == 1 else 4), TagPlan(tags)
    if field == "lists" and (op == "contains" or (op == "in" and len(set(value)) == 1)):
        return 1, ListPlan(value if op == "contains" else value[0])
    if field == "consent.confirmed_at" and op == "is_set":
        return 2, ConfirmedPlan()
    if field == "consent.confirmed_at" and op in _RANGE_OPS:
        return 2, ConfirmedPlan(_RANGE_OPS[op], value)
    if field == "auto_status" and op == "eq":
        return 3, AutoStatusPlan((value,))
    if field == "auto_status" and op == "in":
        statuses = tuple(dict.fromkeys(value))
        return (3 if len(statuses) == 1 else 5), AutoStatusPlan(statuses)
    return None


def plan_filter(node: Node) -> Plan:
    """The narrowest read for ``node`` (see the module docstring)."""
    terms = conjuncts(node)
    best: tuple[int, Plan] | None = None
    for term in terms:
        found = _candidate(term)
        if found is not None and (best is None or found[0] < best[0]):
            best = found
    if best is None:
        return AccountPlan(covering=not terms)
    plan = best[1]
    if len(terms) == 1 and not isinstance(plan, EmailPlan):
        # The filter is exactly the indexed condition: the index read decides membership
        # (for several tags only when there is one partition, so no client is seen twice).
        single = not isinstance(plan, TagPlan | AutoStatusPlan) or len(_parts(plan)) == 1
        if single:
            return _covering(plan)
    return plan


def _parts(plan: TagPlan | AutoStatusPlan) -> tuple[str, ...]:
    return plan.tags if isinstance(plan, TagPlan) else plan.statuses


def _covering(plan: Plan) -> Plan:
    if isinstance(plan, TagPlan):
        return TagPlan(plan.tags, covering=True)
    if isinstance(plan, AutoStatusPlan):
        return AutoStatusPlan(plan.statuses, covering=True)
    if isinstance(plan, ConfirmedPlan):
        return ConfirmedPlan(plan.op, plan.bound, covering=True)
    if isinstance(plan, ListPlan):
        return ListPlan(plan.list_id, covering=True)
    return plan
