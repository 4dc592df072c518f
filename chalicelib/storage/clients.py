"""Clients, their e-mail uniqueness claims and their tag memberships.

Invariants kept by transactions:
- one client per (account, case-insensitive e-mail): a claim item written
  with ``attribute_not_exists`` in the same transaction as the client;
- tag membership mirrors ``ClientModel.tags`` exactly for every client that is
  not ``pending``: membership items are added and removed in the same
  transaction as the client change; a tag's partition is keyed by its
  case-insensitive key (``domain.tags.label_key``), so ``VIP`` and ``vip`` are
  one partition. A pending client (created by the public form, not confirmed
  yet) is in no index an audience is read from — no tag members, no
  ``account_auto_status``, no ``status_shard`` — until the transaction that
  ends its pending state writes them;
- no lost update: every client write is conditional on the version read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.contact import email_key
from chalicelib.domain.records import Client, Page
from chalicelib.domain.tags import label_key
from chalicelib.errors import ConcurrentModification, Conflict, NotFound
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import (
    STATUS_SHARDS,
    ClientEmailModel,
    ClientModel,
    SuppressionModel,
    TagMemberModel,
    shard_of,
)
from chalicelib.storage.transactions import Transaction, TransactionFailed


def tag_partition(account_id: str, tag: str) -> str:
    return f"{account_id}#{label_key(tag)}"


def _partitions(account_id: str, tags: list[str]) -> set[str]:
    return {tag_partition(account_id, tag) for tag in tags}


def legacy_partitions(account_id: str, tags: list[str]) -> set[str]:
    """Partitions written before tags were keyed case-insensitively (``<account>#<tag as
    written>``) that differ from today's: what the tag migration deletes."""
    return {f"{account_id}#{tag}" for tag in tags} - _partitions(account_id, tags)


def status_shard(client_id: str) -> str:
    return shard_of(client_id, STATUS_SHARDS)


def _to_record(item: ClientModel) -> Client:
    return Client(
        account_id=item.account_id,
        client_id=item.client_id,
        email=item.email,
        first_name=item.first_name,
        last_name=item.last_name,
        phone=item.phone,
        language=item.language,
        tags=list(item.tags or []),
        status=item.status,
        auto_status=item.auto_status,
        next_status_at=loaded_time(item.next_status_at),
        status_since=loaded_time(item.status_since),
        last_visit_at=loaded_time(item.last_visit_at),
        fields=item.fields.as_dict() if item.fields is not None else {},
        consent_state=item.consent_state,
        consent_confirmed_at=loaded_time(item.consent_confirmed_at),
        consent_source=item.consent_source,
        consent_event_id=item.consent_event_id,
        suppressed=bool(item.suppressed),
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        version=item.version,
        tagged_by_job=item.tagged_by_job,
        pending=bool(item.pending),
    )


def indexed_tags(client: Client) -> list[str]:
    """The tags with a membership item: none while the client is pending."""
    return [] if client.pending else list(client.tags)


def _to_item(client: Client) -> ClientModel:
    item = ClientModel(
        account_id=client.account_id,
        client_id=client.client_id,
        email=client.email,
        email_key=email_key(client.email),
        first_name=client.first_name,
        last_name=client.last_name,
        phone=client.phone,
        language=client.language,
        tags=list(client.tags),
        status=client.status,
        auto_status=client.auto_status,
        account_auto_status=None if client.pending else f"{client.account_id}#{client.auto_status}",
        status_since=None if client.pending else stored_time(client.status_since),
        next_status_at=stored_time(client.next_status_at),
        status_shard=status_shard(client.client_id) if client.next_status_at and not client.pending else None,
        last_visit_at=stored_time(client.last_visit_at),
        fields=dict(client.fields),
        consent_state=client.consent_state,
        consent_confirmed_at=stored_time(client.consent_confirmed_at),
        consent_source=client.consent_source,
        consent_event_id=client.consent_event_id,
        suppressed=client.suppressed,
        created_at=stored_time(client.created_at),
        updated_at=stored_time(client.updated_at),
        tagged_by_job=client.tagged_by_job,
        pending=True if client.pending else None,
    )
    if client.version is not None:
        item.version = client.version
    return item


def _connection() -> Any:
    return ClientModel._get_connection().connection


def _duplicate_email() -> Conflict:
    return Conflict(
        "a client with this e-mail address already exists",
        code="duplicate_email",
        details=[{"field": "email", "message": "already used by another client of this account"}],
    )


class SuppressionMismatch(Exception):
    """The client's ``suppressed`` flag disagrees with the suppression list (nothing written)."""


@dataclass(frozen=True)
class NewClient:
    """One client of ``ClientRepository.create_many``: what ``create`` takes."""

    client: Client
    stage: Callable[[Transaction], None] | None = None  # at most one item (a receipt)
    email_hash: str | None = None


# DynamoDB takes at most 100 items and 4 MB in one transaction. A row is at most 4 + MAX_TAGS
# (40) items (suppression check, e-mail claim, client, tag members, a receipt), and a client
# item at most about 200 KB (50 custom fields of 1,000 characters): 16 rows stay under both.
TRANSACTION_ROWS = 16
TRANSACTION_ITEMS = 100


def _new_item(client: Client) -> ClientModel:
    return _to_item(client if client.status_since else replace(client, status_since=client.created_at))


def _stage_new(
    tx: Transaction,
    client: Client,
    item: ClientModel,
    stage: Callable[[Transaction], None] | None,
    email_hash: str | None,
) -> None:
    """The items of a new client (see ``ClientRepository.create``) added to ``tx``."""
    if email_hash is not None:
        tx.check(
            SuppressionModel,
            client.account_id,
            email_hash,
            SuppressionModel.email_hash.exists()
            if client.suppressed
            else SuppressionModel.email_hash.does_not_exist(),
            "suppression",
        )
    tx.save(
        ClientEmailModel(client.account_id, item.email_key, client_id=client.client_id),
        "email",
        condition=ClientEmailModel.email_key.does_not_exist(),
    )
    tx.save(item, "client", condition=ClientModel.client_id.does_not_exist())
    for partition in sorted(_partitions(client.account_id, indexed_tags(client))):
        tx.save(TagMemberModel(partition, client.client_id), "tag")
    if stage is not None:
        stage(tx)


def _stage_update(tx: Transaction, old: Client, new: Client) -> ClientModel:
    """The writes of ``ClientRepository.update`` added to ``tx``; the client's item."""
    entered = new.auto_status != old.auto_status or (old.pending and not new.pending)
    since = new.updated_at if entered else (new.status_since or old.status_since)
    item = _to_item(replace(new, version=old.version, status_since=since))
    old_key, new_key = email_key(old.email), email_key(new.email)
    tx.save(item, "client")  # PynamoDB adds the version condition
    if new_key != old_key:
        tx.save(
            ClientEmailModel(new.account_id, new_key, client_id=new.client_id),
            "email",
            condition=ClientEmailModel.email_key.does_not_exist(),
        )
        tx.delete(
            ClientEmailModel(old.account_id, old_key),
            "old_email",
            condition=ClientEmailModel.client_id == old.client_id,
        )
    # By partition (the tag's key), so a change of spelling alone writes no membership.
    old_parts = _partitions(old.account_id, indexed_tags(old))
    new_parts = _partitions(new.account_id, indexed_tags(new))
    for partition in sorted(new_parts - old_parts):
        tx.save(TagMemberModel(partition, new.client_id), "tag")
    for partition in sorted(old_parts - new_parts):
        tx.delete(TagMemberModel(partition, new.client_id), "tag")
    return item


def _update_size(old: Client, new: Client) -> int:
    old_parts = _partitions(old.account_id, indexed_tags(old))
    new_parts = _partitions(new.account_id, indexed_tags(new))
    return 1 + 2 * (email_key(old.email) != email_key(new.email)) + len(old_parts ^ new_parts)


def _grouped(sizes: list[int], keys: list[set[tuple[str, str]]]) -> list[list[int]]:
    """Indexes of units (``sizes``: items each; ``keys``: the items only it may write) in
    transactions that DynamoDB takes: at most ``TRANSACTION_ROWS`` units and
    ``TRANSACTION_ITEMS`` items each, and no item twice in one (two units sharing a key go to
    different transactions), in order."""
    groups: list[list[int]] = []
    group: list[int] = []
    count = 0
    taken: set[tuple[str, str]] = set()
    for index, (size, own) in enumerate(zip(sizes, keys, strict=True)):
        if group and (len(group) == TRANSACTION_ROWS or count + size > TRANSACTION_ITEMS or own & taken):
            groups.append(group)
            group, count, taken = [], 0, set()
        group.append(index)
        count += size
        taken |= own
    if group:
        groups.append(group)
    return groups


def _write_grouped(
    groups: list[list[int]], stage: Callable[[Transaction, int], ClientModel]
) -> dict[int, ClientModel]:
    """Write each group of units in one transaction, ``stage(tx, index)`` adding a unit's items
    (under its own label prefix) and answering its client item: the items written, by index.
    A unit whose own condition fails cancels its transaction, which is sent again without it;
    a collision with another transaction (no condition named) leaves the group's units
    unwritten. Every unit missing from the answer was not written at all."""
    written: dict[int, ClientModel] = {}
    for group in groups:
        pending = list(group)
        while pending:
            tx = Transaction(_connection())
            staged = {index: stage(tx.labelled(f"{index}:"), index) for index in pending}
            if len(tx) > TRANSACTION_ITEMS:
                raise ValueError(f"a transaction of {len(tx)} items (DynamoDB takes {TRANSACTION_ITEMS})")
            try:
                tx.commit()
            except TransactionFailed as exc:
                refused = {int(label.split(":", 1)[0]) for label in exc.labels}
                if not refused:  # a collision with another transaction: each alone, later
                    break
                pending = [index for index in pending if index not in refused]
                continue
            written.update(staged)
            break
    return written


class ClientRepository:
    def create(
        self,
        client: Client,
        stage: Callable[[Transaction], None] | None = None,
        *,
        email_hash: str | None = None,
    ) -> Client:
        """Create the client with its e-mail claim and tag memberships; ``stage`` adds further
        items to the same transaction (an import job's receipt of the row). With ``email_hash``
        (its address's keyed hash), only while the suppression list agrees with
        ``client.suppressed`` (no entry when False, one when True), checked in the same
        transaction: ``SuppressionMismatch`` otherwise."""
        item = _new_item(client)
        tx = Transaction(_connection())
        _stage_new(tx, client, item, stage, email_hash)
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "email" in exc.labels:
                raise _duplicate_email() from exc
            if "suppression" in exc.labels:
                raise SuppressionMismatch() from exc
            raise ConcurrentModification("client id collision; retry") from exc
        return _to_record(item)

    def create_many(self, entries: list[NewClient]) -> list[Client | None]:
        """Create several clients as ``create`` does, several to a transaction (an import's
        rows: one call for up to ``TRANSACTION_ROWS`` of them instead of one each). For each
        entry, in order: the client created, or None when its own items refused (its address
        claimed meanwhile, the suppression list changed, its receipt written by another
        attempt) or its transaction collided with another — nothing of it was written, and
        ``create`` tells why. A refusal cancels the whole transaction, so it is sent again
        without the refused entries."""
        items = [_new_item(entry.client) for entry in entries]
        # What ``_stage_new`` writes for each: the suppression check (with a hash), the e-mail
        # claim, the client, its tag members, the receipt (with a stage).
        sizes = [
            (entry.email_hash is not None)
            + 2
            + len(_partitions(entry.client.account_id, indexed_tags(entry.client)))
            + (entry.stage is not None)
            for entry in entries
        ]
        keys = [
            {("email", str(item.email_key))}
            | ({("suppression", entry.email_hash)} if entry.email_hash is not None else set())
            for item, entry in zip(items, entries, strict=True)
        ]

        def stage(tx: Transaction, index: int) -> ClientModel:
            entry = entries[index]
            _stage_new(tx, entry.client, items[index], entry.stage, entry.email_hash)
            return items[index]

        written = _write_grouped(_grouped(sizes, keys), stage)
        return [_to_record(written[index]) if index in written else None for index in range(len(entries))]

    def get(self, account_id: str, client_id: str, *, consistent: bool = False) -> Client:
        try:
            return _to_record(ClientModel.get(account_id, client_id, consistent_read=consistent))
        except DoesNotExist:
            raise NotFound("client not found") from None

    def update(self, old: Client, new: Client, stage: Callable[[Transaction], None] | None = None) -> Client:
        """Replace ``old`` (as read) by ``new``: e-mail claim and tag memberships follow;
        ``stage`` adds further items to the same transaction (an import job's receipt).

        Raises ``Conflict(duplicate_email)`` if the new address is taken, and
        ``ConcurrentModification`` if the client changed since ``old`` was read.
        """
        tx = Transaction(_connection())
        item = _stage_update(tx, old, new)
        if stage is not None:
            stage(tx)
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "email" in exc.labels:
                raise _duplicate_email() from exc
            raise ConcurrentModification("the client changed meanwhile; retry") from exc
        return _to_record(item)

    def update_many(self, changes: list[tuple[Client, Client]]) -> list[Client | None]:
        """Replace each ``old`` by its ``new`` as ``update`` does, several to a transaction (bulk
        tagging: one call for up to ``TRANSACTION_ROWS`` clients). For each change, in order:
        the client as written, or None when it was not (it changed since it was read, its new
        address is taken, or its transaction collided with another) — ``update`` tells why."""
        sizes = [_update_size(old, new) for old, new in changes]
        keys = [{("client", old.client_id)} for old, _ in changes]
        written = _write_grouped(_grouped(sizes, keys), lambda tx, index: _stage_update(tx, *changes[index]))
        return [_to_record(written[index]) if index in written else None for index in range(len(changes))]

    def page(self, account_id: str, *, limit: int, start_key: dict[str, Any] | None) -> Page:
        results = ClientModel.query(account_id, limit=limit, last_evaluated_key=start_key)
        items = [_to_record(item) for item in results]
        return Page(items=items, next_key=results.last_evaluated_key)

    def id_for_email(self, account_id: str, email: str) -> str | None:
        try:
            return ClientEmailModel.get(account_id, email_key(email)).client_id
        except DoesNotExist:
            return None

    def stage_delete(self, tx: Transaction, client: Client) -> None:
        """Add the deletion of the client, its e-mail claim and its tag memberships to
        ``tx`` (GDPR erasure), conditional on the version ``client`` was read at."""
        item = ClientModel(client.account_id, client.client_id)
        item.version = client.version  # PynamoDB adds the version condition
        tx.delete(item, "client")
        tx.delete(
            ClientEmailModel(client.account_id, email_key(client.email)),
            "email",
            condition=ClientEmailModel.client_id == client.client_id,
        )
        indexed = indexed_tags(client)
        partitions = _partitions(client.account_id, indexed) | legacy_partitions(client.account_id, indexed)
        for partition in sorted(partitions):
            tx.delete(TagMemberModel(partition, client.client_id), "tag")

    def rekey_tags(self, old: Client, tags: list[str], now: datetime) -> Client:
        """The tag migration for one client: ``tags`` (one spelling per tag, the account's), its
        memberships moved from legacy partitions to keyed ones, in one transaction conditional
        on the version read (``ConcurrentModification`` when it changed). A pending client has
        no memberships to move."""
        new = replace(old, tags=tags, updated_at=now)
        item = _to_item(new)
        tx = Transaction(_connection())
        tx.save(item, "client")  # PynamoDB adds the version condition
        legacy = legacy_partitions(old.account_id, indexed_tags(old))
        old_parts = _partitions(old.account_id, indexed_tags(old))
        new_parts = _partitions(new.account_id, indexed_tags(new))
        for partition in sorted(new_parts):  # puts are idempotent: a missing item is made good
            tx.save(TagMemberModel(partition, new.client_id), "tag")
        for partition in sorted((old_parts - new_parts) | (legacy - new_parts)):
            tx.delete(TagMemberModel(partition, new.client_id), "tag")
        try:
            tx.commit()
        except TransactionFailed as exc:
            raise ConcurrentModification("the client changed meanwhile; retry") from exc
        return _to_record(item)

    @staticmethod
    def stage_activation(tx: Transaction, client: Client, now: datetime | None = None) -> list[Any]:
        """What ends ``client``'s pending state, for a transaction that updates the client item
        (a consent change): its tag-member items are added to ``tx`` and the returned update
        actions put it into the automatic-status indexes and drop the flag."""
        for partition in sorted(_partitions(client.account_id, client.tags)):
            tx.save(TagMemberModel(partition, client.client_id), "tag")
        actions: list[Any] = [
            ClientModel.pending.remove(),
            ClientModel.account_auto_status.set(f"{client.account_id}#{client.auto_status}"),
            ClientModel.status_since.set(stored_time(now or client.updated_at)),  # enters its audience
        ]
        if client.next_status_at is not None:
            actions.append(ClientModel.status_shard.set(status_shard(client.client_id)))
        return actions
