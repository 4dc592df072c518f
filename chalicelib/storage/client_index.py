"""Key-based reads that find clients for a filter plan (search, bulk tags, lists).

Every read is a ``Query`` on a key or index, a ``GetItem`` or a
``BatchGetItem`` — never a Scan.  Each page returns candidates with the
DynamoDB key that positions a later read right after them, so callers can
stop after any candidate and resume exactly there (search cursors, job
cursors).  Keys are DynamoDB's wire format (``{"attr": {"S": "..."}}``),
JSON-serialisable as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.records import Client
from chalicelib.storage.clients import _to_record, tag_partition
from chalicelib.storage.models import ClientEmailModel, ClientModel, ListMemberModel, TagMemberModel

Key = dict[str, Any]


def _s(value: str) -> dict[str, str]:
    return {"S": value}


@dataclass(frozen=True)
class Candidate:
    """A client id found by a read, the key positioned on it, and the record when the read had it."""

    client_id: str
    key: Key
    client: Client | None = None


@dataclass(frozen=True)
class CandidatePage:
    candidates: list[Candidate]
    exhausted: bool  # True: nothing follows the last candidate


def _page(results: Any, candidates: list[Candidate], limit: int) -> CandidatePage:
    exhausted = len(candidates) < limit and results.last_evaluated_key is None
    return CandidatePage(candidates, exhausted)


_RANGE = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


class ClientIndex:
    def account_page(self, account_id: str, start: Key | None, limit: int) -> CandidatePage:
        """The account's clients in id order (the whole partition, full items)."""
        results = ClientModel.query(account_id, limit=limit, page_size=limit, last_evaluated_key=start)
        found = [
            Candidate(
                item.client_id,
                {"account_id": _s(account_id), "client_id": _s(item.client_id)},
                _to_record(item),
            )
            for item in results
        ]
        return _page(results, found, limit)

    def tag_page(self, account_id: str, tag: str, start: Key | None, limit: int) -> CandidatePage:
        """Ids of the clients that have ``tag`` (tag-members partition), in id order."""
        partition = tag_partition(account_id, tag)
        results = TagMemberModel.query(partition, limit=limit, page_size=limit, last_evaluated_key=start)
        found = [
            Candidate(item.client_id, {"account_tag": _s(partition), "client_id": _s(item.client_id)})
            for item in results
        ]
        return _page(results, found, limit)

    def list_page(self, account_id: str, list_id: str, start: Key | None, limit: int) -> CandidatePage:
        """Ids of a list's members (``list-members`` partition), in id order; members of another
        account's list are never returned (each member item carries its account)."""
        results = ListMemberModel.query(list_id, limit=limit, page_size=limit, last_evaluated_key=start)
        found = [
            Candidate(item.client_id, {"list_id": _s(list_id), "client_id": _s(item.client_id)})
            for item in results
            if item.account_id == account_id
        ]
        return _page(results, found, limit)

    def members_among(self, account_id: str, list_id: str, client_ids: list[str]) -> set[str]:
        """Which of ``client_ids`` are members of ``list_id`` (``BatchGetItem`` on list-members)."""
        unique = list(dict.fromkeys(client_ids))
        if not unique:
            return set()
        return {
            item.client_id
            for item in ListMemberModel.batch_get([(list_id, client_id) for client_id in unique])
            if item.account_id == account_id
        }

    def auto_status_page(self, account_id: str, status: str, start: Key | None, limit: int) -> CandidatePage:
        """Ids of the clients of one automatic status (``by-auto-status``), in id order."""
        partition = f"{account_id}#{status}"
        results = ClientModel.by_auto_status.query(
            partition, limit=limit, page_size=limit, last_evaluated_key=start
        )
        found = [
            Candidate(
                item.client_id,
                {
                    "account_auto_status": _s(partition),
                    "client_id": _s(item.client_id),
                    "account_id": _s(account_id),
                },
            )
            for item in results
        ]
        return _page(results, found, limit)

    def confirmed_page(
        self, account_id: str, op: str | None, bound: str | None, start: Key | None, limit: int
    ) -> CandidatePage:
        """Ids of the clients with a consent confirmation date (sparse ``by-consent-confirmed``),
        optionally only those whose date is ``op`` (gt/gte/lt/lte) ``bound`` (stored time text)."""
        condition = None
        if op is not None and bound is not None:
            condition = getattr(ClientModel.consent_confirmed_at, _RANGE[op])(bound)
        results = ClientModel.by_consent_confirmed.query(
            account_id, condition, limit=limit, page_size=limit, last_evaluated_key=start
        )
        found = [
            Candidate(
                item.client_id,
                {
                    "account_id": _s(account_id),
                    "consent_confirmed_at": _s(item.consent_confirmed_at),
                    "client_id": _s(item.client_id),
                },
            )
            for item in results
        ]
        return _page(results, found, limit)

    def client_id_for_email_key(self, account_id: str, key: str) -> str | None:
        try:
            return ClientEmailModel.get(account_id, key).client_id
        except DoesNotExist:
            return None

    def get_many(self, account_id: str, client_ids: list[str]) -> dict[str, Client]:
        """``BatchGetItem`` (100 keys per call, unprocessed keys retried); absent ids are left out."""
        unique = list(dict.fromkeys(client_ids))
        if not unique:
            return {}
        return {
            item.client_id: _to_record(item)
            for item in ClientModel.batch_get([(account_id, client_id) for client_id in unique])
        }

    def client_ids_for_email_keys(self, account_id: str, keys: list[str]) -> dict[str, str]:
        """``email_key -> client_id`` for the addresses that have a client (``BatchGetItem`` on claims)."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        return {
            item.email_key: item.client_id
            for item in ClientEmailModel.batch_get([(account_id, key) for key in unique])
        }
