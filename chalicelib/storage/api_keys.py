"""API keys: the credential (``api-keys``, by hash) and the managed record (``account-keys``).

Authenticating reads the credential alone (one ``GetItem`` by the key's SHA-256). Owners
manage keys through the record, keyed by ``(account_id, key_id)`` so listing is a Query
of the account's own partition and another account's ``key_id`` is simply not found.
Creating writes both items in one transaction; revoking deletes the credential and marks
the record in one transaction, so a revoked key is refused by the very next request.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.domain.identity import ApiKeyRecord
from chalicelib.domain.records import ApiKey, Page
from chalicelib.errors import ConcurrentModification, Conflict, NotFound
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import AccountKeyModel, ApiKeyModel
from chalicelib.storage.transactions import Transaction, TransactionFailed


def credential_item(record: ApiKeyRecord) -> ApiKeyModel:
    return ApiKeyModel(
        key_hash=record.key_hash,
        account_id=record.account_id,
        key_id=record.key_id,
        label=record.name,
        prefix=record.prefix,
        created_at=stored_time(record.created_at),
    )


def record_item(record: ApiKeyRecord) -> AccountKeyModel:
    return AccountKeyModel(
        account_id=record.account_id,
        key_id=record.key_id,
        name=record.name,
        prefix=record.prefix,
        key_hash=record.key_hash,
        created_at=stored_time(record.created_at),
        created_by=record.created_by,
        last_used_at=stored_time(record.last_used_at),
        revoked_at=stored_time(record.revoked_at),
        revoked_by=record.revoked_by,
    )


def add_new_key(tx: Transaction, record: ApiKeyRecord) -> None:
    """The writes that create an API key inside ``tx`` (labels ``key`` and ``key_record``)."""
    tx.save(credential_item(record), "key", condition=ApiKeyModel.key_hash.does_not_exist())
    tx.save(record_item(record), "key_record", condition=AccountKeyModel.key_id.does_not_exist())


def _to_record(item: AccountKeyModel) -> ApiKeyRecord:
    return ApiKeyRecord(
        account_id=item.account_id,
        key_id=item.key_id,
        name=item.name,
        prefix=item.prefix,
        key_hash=item.key_hash,
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        created_by=item.created_by,
        last_used_at=loaded_time(item.last_used_at),
        revoked_at=loaded_time(item.revoked_at),
        revoked_by=item.revoked_by,
    )


class ApiKeyRepository:
    def get(self, key_hash: str) -> ApiKey | None:
        """The credential behind a key's hash (authentication), or ``None``. A consistent read:
        a key revoked a moment ago is refused by the very next request."""
        try:
            item = ApiKeyModel.get(key_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return ApiKey(
            key_hash=item.key_hash,
            account_id=item.account_id,
            key_id=item.key_id,
            label=item.label,
            prefix=item.prefix,
            created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
            last_used_at=loaded_time(item.last_used_at),
        )

    def create(self, record: ApiKeyRecord) -> ApiKeyRecord:
        tx = Transaction(ApiKeyModel._get_connection().connection)
        add_new_key(tx, record)
        try:
            tx.commit()
        except TransactionFailed as exc:
            raise Conflict("key collision; retry") from exc
        return record

    def record(self, account_id: str, key_id: str) -> ApiKeyRecord:
        try:
            return _to_record(AccountKeyModel.get(account_id, key_id, consistent_read=True))
        except DoesNotExist:
            raise NotFound("API key not found") from None

    def page(self, account_id: str, *, limit: int, start_key: dict[str, Any] | None) -> Page:
        """A page of the account's key records, oldest first (revoked ones included)."""
        results = AccountKeyModel.query(account_id, limit=limit, last_evaluated_key=start_key)
        return Page(items=[_to_record(item) for item in results], next_key=results.last_evaluated_key)

    def last_used(self, records: list[ApiKeyRecord]) -> dict[str, datetime | None]:
        """``last_used_at`` of live keys, read from their credentials (one BatchGetItem)."""
        hashes = [r.key_hash for r in records if r.revoked_at is None]
        found: dict[str, datetime | None] = {}
        for item in ApiKeyModel.batch_get(hashes):
            found[item.key_hash] = loaded_time(item.last_used_at)
        return found

    def revoke(self, record: ApiKeyRecord, now: datetime, by: str | None) -> ApiKeyRecord:
        """Delete the credential and mark the record revoked, both or neither."""
        last_used = self.last_used([record]).get(record.key_hash)
        revoked = replace(record, revoked_at=now, revoked_by=by, last_used_at=last_used)
        tx = Transaction(ApiKeyModel._get_connection().connection)
        tx.delete(ApiKeyModel(record.key_hash), "key")
        tx.save(record_item(revoked), "key_record", condition=AccountKeyModel.revoked_at.does_not_exist())
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "key_record" in exc.labels:
                raise NotFound("API key not found") from exc  # revoked meanwhile
            raise ConcurrentModification("the key changed meanwhile; retry") from exc
        return revoked

    def touch(self, key: ApiKey, now: datetime) -> None:
        """Record use at ``now`` unless another request already did since the value read."""
        previous = stored_time(key.last_used_at)
        condition = (
            ApiKeyModel.last_used_at.does_not_exist()
            if previous is None
            else ApiKeyModel.last_used_at == previous
        )
        try:
            ApiKeyModel(key.key_hash).update(
                actions=[ApiKeyModel.last_used_at.set(stored_time(now))],
                condition=condition & ApiKeyModel.key_hash.exists(),
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
