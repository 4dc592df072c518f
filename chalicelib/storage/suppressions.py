"""The per-account suppression list, keyed by the keyed hash of an address.

Every suppression write goes through this repository: standalone (an address
with no client, e.g. a bounce for an erased one) or staged into the
transaction that also records the consent event and sets the client's
``suppressed`` flag, so the list and the flag never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.errors import ConcurrentModification
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import SuppressionModel
from chalicelib.storage.transactions import Transaction


@dataclass(frozen=True)
class Suppression:
    account_id: str
    email_hash: str
    reason: str
    created_at: datetime
    campaign_id: str | None = None


def _to_record(item: SuppressionModel) -> Suppression:
    return Suppression(
        account_id=item.account_id,
        email_hash=item.email_hash,
        reason=item.reason,
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        campaign_id=item.campaign_id,
    )


def _to_item(entry: Suppression) -> SuppressionModel:
    return SuppressionModel(
        entry.account_id,
        entry.email_hash,
        reason=entry.reason,
        created_at=stored_time(entry.created_at),
        campaign_id=entry.campaign_id,
    )


def _unchanged_since_read(expected: Suppression | None) -> object:
    """The entry is still as it was read (absent, or with the same reason)."""
    if expected is None:
        return SuppressionModel.email_hash.does_not_exist()
    return SuppressionModel.reason == expected.reason


class SuppressionRepository:
    def is_suppressed(self, account_id: str, email_hash: str) -> bool:
        try:
            SuppressionModel.get(account_id, email_hash)
        except DoesNotExist:
            return False
        return True

    def get(self, account_id: str, email_hash: str, *, consistent: bool = False) -> Suppression | None:
        try:
            return _to_record(SuppressionModel.get(account_id, email_hash, consistent_read=consistent))
        except DoesNotExist:
            return None

    def stage_put(self, tx: Transaction, entry: Suppression, expected: Suppression | None) -> None:
        """Add (or strengthen) ``entry`` in ``tx``, if the entry is still as read."""
        tx.save(_to_item(entry), "suppression", condition=_unchanged_since_read(expected))  # type: ignore[arg-type]

    def stage_delete(self, tx: Transaction, expected: Suppression) -> None:
        """Lift a suppression in ``tx`` (only a liftable one: the domain decides which)."""
        tx.delete(
            SuppressionModel(expected.account_id, expected.email_hash),
            "suppression",
            condition=SuppressionModel.reason == expected.reason,
        )

    def put(self, entry: Suppression, expected: Suppression | None) -> None:
        """A standalone write for an address that has no client; ``ConcurrentModification``
        if the entry changed since ``expected`` was read."""
        try:
            _to_item(entry).save(condition=_unchanged_since_read(expected))  # type: ignore[arg-type]
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ConcurrentModification("the suppression changed meanwhile; retry") from exc
            raise

    def suppressed_among(self, account_id: str, email_hashes: list[str]) -> set[str]:
        """Which of these hashes are suppressed (``BatchGetItem``, 100 keys per call)."""
        unique = list(dict.fromkeys(email_hashes))
        if not unique:
            return set()
        return {item.email_hash for item in SuppressionModel.batch_get([(account_id, h) for h in unique])}
