"""The per-account suppression list, keyed by the keyed hash of an address."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib.storage.models import SuppressionModel


class SuppressionRepository:
    def is_suppressed(self, account_id: str, email_hash: str) -> bool:
        try:
            SuppressionModel.get(account_id, email_hash)
        except DoesNotExist:
            return False
        return True

    def suppressed_among(self, account_id: str, email_hashes: list[str]) -> set[str]:
        """Which of these hashes are suppressed (``BatchGetItem``, 100 keys per call)."""
        unique = list(dict.fromkeys(email_hashes))
        if not unique:
            return set()
        return {item.email_hash for item in SuppressionModel.batch_get([(account_id, h) for h in unique])}
