"""Emulator-only speed-ups of moto for large data sets (benchmark and a few tests only).

Transactions:

moto snapshots (``copy.deepcopy``) every table a transaction touches, once per
item of the transaction, so it can roll back — a cost proportional to the size
of the table, paid on every transactional write.  With 20,000 clients one
transaction takes seconds, which makes benchmarks at that scale impossible.

``fast_transactions()`` swaps in an all-or-nothing implementation that first
checks every item's condition and only then applies all items: the same
outcome as DynamoDB for the sequential writes our benchmarks and tests make,
at a cost proportional to the transaction.  It changes how long the emulator
takes, never which items the application reads or writes.  Used only by the
benchmark and by tests that load thousands of clients; never by the app.

Reads: moto serialises every response through a generic, model-driven
serialiser that costs milliseconds per returned item.  ``fast_reads()``
writes the JSON of Query/Scan/GetItem/BatchGetItem responses directly (their
items are already in DynamoDB's wire format), so a read's emulator time is
no longer dominated by serialisation.  Same bytes on the wire, minus the wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[Any] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        marker = (str(table_name), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        condition = op.get("ConditionExpression")
        if condition is not None:
            current = self.get_item(table_name, key)
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                errors.append(("ConditionalCheckFailed", "The conditional request failed", None))
                continue
        errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, key in planned:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(
                op["TableName"],
                op["Item"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
        elif op_type == "Delete":
            self.delete_item(
                op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values
            )
        elif op_type == "Update":
            self.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )


_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes | bytearray):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    return False


@contextmanager
def fast_reads() -> Iterator[None]:
    import json

    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in _READS and not _has_bytes(self.result):
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)
        return original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoResult.execute_result = original  # type: ignore[method-assign]


@contextmanager
def fast_transactions() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    from local.emulator import locked

    original = DynamoDBBackend.transact_write_items
    # Check-then-apply must not interleave with another thread's writes (see local/emulator.py).
    DynamoDBBackend.transact_write_items = locked(_transact_write_items)  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
