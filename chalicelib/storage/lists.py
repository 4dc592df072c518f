"""Recipient lists and their members.

A list item (``lists``, keyed by account) and one member item per client
(``list-members``, keyed by list).  Member puts are idempotent, so a list
build may be replayed from its cursor.  The ``by-client`` index answers "the
lists of this client" for GDPR export and erasure.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.domain.lists import READY, RecipientList
from chalicelib.domain.records import Page
from chalicelib.domain.redaction import names_an_address, redact_address
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import ListMemberModel, ListModel
from chalicelib.storage.transactions import Transaction, TransactionFailed


def _to_record(item: ListModel) -> RecipientList:
    return RecipientList(
        account_id=item.account_id,
        list_id=item.list_id,
        name=item.name,
        source=json.loads(item.source),
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        size=int(item.size or 0),
        status=item.status,
        job_id=item.job_id,
    )


def _to_item(lst: RecipientList) -> ListModel:
    return ListModel(
        account_id=lst.account_id,
        list_id=lst.list_id,
        name=lst.name,
        source=json.dumps(lst.source, separators=(",", ":")),
        size=lst.size,
        status=lst.status,
        job_id=lst.job_id,
        created_at=stored_time(lst.created_at),
        updated_at=stored_time(lst.updated_at),
        names_address=lst.account_id if names_an_address(lst.source) else None,
    )


class ListRepository:
    # ---------------------------------------------------------------- lists

    def create(self, lst: RecipientList) -> RecipientList:
        item = _to_item(lst)
        try:
            item.save(condition=ListModel.list_id.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise Conflict("list id collision; retry") from exc
            raise
        return _to_record(item)

    def redact_address(self, account_id: str, address: str, marker: str) -> int:
        """Replace ``address`` by ``marker`` in the sources of the account's lists (GDPR
        erasure). Reads only the lists whose source may name an address (sparse index);
        each rewrite is conditional on the source read, so a concurrent change is
        re-read. Idempotent; returns how many lists changed."""
        changed = 0
        for key in ListModel.by_address_filter.query(account_id):
            for _ in range(5):
                try:
                    item = ListModel.get(account_id, key.list_id, consistent_read=True)
                except DoesNotExist:
                    break
                source, hit = redact_address(json.loads(item.source), address, marker)
                if not hit:
                    break
                flag = ListModel.names_address.set(account_id) if names_an_address(source) else None
                try:
                    item.update(
                        actions=[
                            ListModel.source.set(json.dumps(source, separators=(",", ":"))),
                            flag or ListModel.names_address.remove(),
                        ],
                        condition=ListModel.source == item.source,
                    )
                except UpdateError as exc:
                    if exc.cause_response_code == "ConditionalCheckFailedException":
                        continue
                    raise
                changed += 1
                break
        return changed

    def get(self, account_id: str, list_id: str) -> RecipientList:
        try:
            return _to_record(ListModel.get(account_id, list_id))
        except DoesNotExist:
            raise NotFound("list not found") from None

    def page(self, account_id: str, *, limit: int, start_key: dict[str, Any] | None) -> Page:
        results = ListModel.query(account_id, limit=limit, last_evaluated_key=start_key)
        return Page(items=[_to_record(item) for item in results], next_key=results.last_evaluated_key)

    def set_size(self, account_id: str, list_id: str, size: int, now: datetime, *, ready: bool) -> None:
        actions = [ListModel.size.set(size), ListModel.updated_at.set(stored_time(now))]
        if ready:
            actions.append(ListModel.status.set(READY))
        try:
            ListModel(account_id, list_id).update(actions=actions, condition=ListModel.list_id.exists())
        except UpdateError as exc:  # a list deleted while building is not an error
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    def set_job(self, account_id: str, list_id: str, job_id: str) -> None:
        try:
            ListModel(account_id, list_id).update(
                actions=[ListModel.job_id.set(job_id)], condition=ListModel.list_id.exists()
            )
        except UpdateError as exc:  # deleted meanwhile
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    def delete(self, account_id: str, list_id: str) -> None:
        """Delete the list item (its members are deleted separately, in batches)."""
        try:
            ListModel(account_id, list_id).delete(condition=ListModel.list_id.exists())
        except DeleteError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise NotFound("list not found") from None
            raise

    # ---------------------------------------------------------------- members

    def add_members(self, account_id: str, list_id: str, client_ids: list[str]) -> None:
        """Idempotent puts, 25 per ``BatchWriteItem`` (unprocessed items are retried)."""
        with ListMemberModel.batch_write() as batch:
            for client_id in client_ids:
                batch.save(ListMemberModel(list_id, client_id, account_id=account_id))

    def count_members(self, list_id: str) -> int:
        """The list's member items, counted by a ``Select=COUNT`` Query of its partition."""
        return int(ListMemberModel.count(list_id))

    def member_page(self, list_id: str, *, limit: int, start_key: dict[str, Any] | None) -> Page:
        """Client ids of a list, in id order."""
        results = ListMemberModel.query(list_id, limit=limit, page_size=limit, last_evaluated_key=start_key)
        ids = [item.client_id for item in results]
        return Page(items=ids, next_key=results.last_evaluated_key)

    def delete_members(self, list_id: str, limit: int) -> int:
        """Delete up to ``limit`` members of a list; returns how many were deleted."""
        ids = self.member_page(list_id, limit=limit, start_key=None).items
        with ListMemberModel.batch_write() as batch:
            for client_id in ids:
                batch.delete(ListMemberModel(list_id, client_id))
        return len(ids)

    # ---------------------------------------------------------------- a client's lists (GDPR)

    def _memberships(self, account_id: str, client_id: str) -> list[str]:
        return [item.list_id for item in ListMemberModel.by_client.query(client_id)]

    def lists_of_client(self, account_id: str, client_id: str) -> list[RecipientList]:
        """The account's existing lists that hold the client (``Query by-client`` → ``BatchGetItem``)."""
        list_ids = self._memberships(account_id, client_id)
        if not list_ids:
            return []
        found = ListModel.batch_get([(account_id, list_id) for list_id in dict.fromkeys(list_ids)])
        return sorted((_to_record(item) for item in found), key=lambda lst: lst.list_id)

    def remove_client_from_all_lists(self, account_id: str, client_id: str) -> int:
        """Erasure: delete the client's member items, each with its list's ``size`` decremented
        in the same transaction; returns how many memberships were removed."""
        removed = 0
        for list_id in self._memberships(account_id, client_id):
            member = ListMemberModel(list_id, client_id)
            tx = Transaction(ListMemberModel._get_connection().connection)
            tx.delete(member, "member", condition=ListMemberModel.account_id == account_id)
            tx.update(
                ListModel(account_id, list_id),
                [ListModel.size.add(-1)],
                "list",
                condition=ListModel.list_id.exists(),
            )
            try:
                tx.commit()
            except TransactionFailed as exc:
                if "member" in exc.labels:
                    continue  # another account's id collision is impossible; a raced removal is done
                # The list item is gone (deleted list): remove the orphan member on its own.
                member.delete(condition=ListMemberModel.account_id == account_id)
            removed += 1
        return removed
