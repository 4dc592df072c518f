"""A TransactWrite that can say which of its items' conditions failed.

PynamoDB sends condition checks, then deletes, then puts, then updates, and
DynamoDB reports cancellation reasons in that order; this wrapper keeps a
label per item in the same order, so repositories branch on labels, never on
positions or error text.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


class Transaction:
    def __init__(self, connection: Any) -> None:
        self._tx = TransactWrite(connection=connection)
        self._labels: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}

    def check(
        self, model_cls: type[Model], hash_key: Any, range_key: Any, condition: Condition, label: str
    ) -> None:
        self._tx.condition_check(model_cls, hash_key, range_key, condition=condition)
        self._labels["check"].append(label)

    def delete(self, model: Model, label: str, condition: Condition | None = None) -> None:
        self._tx.delete(model, condition=condition)
        self._labels["delete"].append(label)

    def save(self, model: Model, label: str, condition: Condition | None = None) -> None:
        self._tx.save(model, condition=condition)
        self._labels["put"].append(label)

    def update(
        self, model: Model, actions: list[Any], label: str, condition: Condition | None = None
    ) -> None:
        self._tx.update(model, actions, condition=condition)
        self._labels["update"].append(label)

    def __len__(self) -> int:
        return sum(len(v) for v in self._labels.values())

    def commit(self) -> None:
        """Commit; on cancellation, raise ``TransactionFailed`` naming the failed labels."""
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
            if not failed:
                raise
            raise TransactionFailed(failed) from exc


class TransactionFailed(Exception):
    """Some items' conditions failed; ``labels`` says which."""

    def __init__(self, labels: set[str]) -> None:
        super().__init__(f"transaction conditions failed: {sorted(labels)}")
        self.labels = labels
