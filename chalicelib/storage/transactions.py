"""A TransactWrite that can say which of its items' conditions failed.

PynamoDB sends condition checks, then deletes, then puts, then updates, and
DynamoDB reports cancellation reasons in that order; this wrapper keeps a
label per item in the same order, so repositories branch on labels, never on
positions or error text.
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

_sleep = time.sleep
_THROTTLED_ATTEMPTS = 5
_BACKOFF_SECONDS = 0.05
_THROTTLING = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def _throttled(exc: TransactWriteError) -> bool:
    """Cancelled for throttling only: no item's condition failed, nothing was written."""
    codes = {reason.code for reason in exc.cancellation_reasons or [] if reason is not None}
    return bool(codes) and codes <= _THROTTLING


class Transaction:
    def __init__(self, connection: Any) -> None:
        self._tx = TransactWrite(connection=connection)
        self._labels: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}
        self._prefix = ""

    def labelled(self, prefix: str) -> Transaction:
        """A view of this transaction whose items' labels start with ``prefix``: several units
        (an import's rows) share one transaction, and a failed condition names its unit."""
        view = copy.copy(self)  # the same TransactWrite and labels, another prefix
        view._prefix = self._prefix + prefix
        return view

    def check(
        self, model_cls: type[Model], hash_key: Any, range_key: Any, condition: Condition, label: str
    ) -> None:
        self._tx.condition_check(model_cls, hash_key, range_key, condition=condition)
        self._labels["check"].append(self._prefix + label)

    def delete(self, model: Model, label: str, condition: Condition | None = None) -> None:
        self._tx.delete(model, condition=condition)
        self._labels["delete"].append(self._prefix + label)

    def save(self, model: Model, label: str, condition: Condition | None = None) -> None:
        self._tx.save(model, condition=condition)
        self._labels["put"].append(self._prefix + label)

    def update(
        self, model: Model, actions: list[Any], label: str, condition: Condition | None = None
    ) -> None:
        self._tx.update(model, actions, condition=condition)
        self._labels["update"].append(self._prefix + label)

    def __len__(self) -> int:
        return sum(len(v) for v in self._labels.values())

    def commit(self) -> None:
        """Commit; on cancellation by a failed condition or by a concurrent
        transaction on the same items, raise ``TransactionFailed`` (a lost race the
        caller may re-read and retry); any other failure propagates as is.

        A transaction cancelled only because DynamoDB throttled it wrote nothing, and
        botocore does not retry it: it is sent again here, with back-off."""
        for attempt in range(_THROTTLED_ATTEMPTS):
            try:
                self._commit_once()
                return
            except TransactWriteError as exc:
                if attempt + 1 == _THROTTLED_ATTEMPTS or not _throttled(exc):
                    raise
            _sleep(_BACKOFF_SECONDS * 2**attempt * (1 + random.random()))  # nosec B311

    def _commit_once(self) -> None:
        try:
            self._tx._commit()
        except TransactWriteError as exc:
            order = (
                self._labels["check"] + self._labels["delete"] + self._labels["put"] + self._labels["update"]
            )
            reasons = exc.cancellation_reasons or []
            failed = {
                label
                for label, reason in zip(order, reasons, strict=False)
                if reason is not None and reason.code == "ConditionalCheckFailed"
            }
            conflicted = exc.cause_response_code == "TransactionConflictException" or any(
                reason is not None and reason.code == "TransactionConflict" for reason in reasons
            )
            if not failed and not conflicted:
                raise
            raise TransactionFailed(failed, conflicted=conflicted) from exc


class TransactionFailed(Exception):
    """A lost race: ``labels`` names the items whose conditions failed; ``conflicted``
    says another transaction was writing the same items at the same moment."""

    def __init__(self, labels: set[str], *, conflicted: bool = False) -> None:
        super().__init__(f"transaction cancelled: conditions {sorted(labels)}, conflicted={conflicted}")
        self.labels = labels
        self.conflicted = conflicted
