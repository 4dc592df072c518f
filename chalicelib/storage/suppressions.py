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
