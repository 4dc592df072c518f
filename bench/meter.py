"""The benchmarks' DynamoDB meter: every call counted as AWS bills it.

Installed around PynamoDB's ``Connection._make_api_call`` (the one door every
model operation goes through), it asks for ``ReturnConsumedCapacity:
INDEXES`` on every call and counts, per call:

- **items**: written (table items; index entries separately) and read — a key
  read per key asked, a ``Query``/``Scan`` page per item it *scanned* (billed),
  not per item it returned after its filter;
- **request units**: the ``ConsumedCapacity`` DynamoDB reports, or — against an
  emulator that does not compute it (moto answers constants: ``trust_reported=
  False``) — the units computed from DynamoDB's rules (``bench/capacity.py``)
  with the item sizes the meter sees. Both are kept: ``*_reported`` and
  ``*_computed``; ``rru``/``wru`` are the billed ones.

To size what a call read or overwrote, the meter may make calls of its own
that are not counted: the old image of a write (``ReturnValues: ALL_OLD`` on a
put or delete — removed from the answer again if the caller did not ask —, a
read before an update that names an indexed attribute, the existing item when
a condition failed), the new image of an update (``ALL_NEW``), and the full
items behind a projected or filtered read.

``inventory`` keeps ``calls``, ``items`` and ``units`` per operation and table
(and index), which the sending benchmark prints per recipient.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bench.capacity import (
    IndexSchema,
    TableSchema,
    index_writes,
    item_size,
    read_units,
    touches_index,
    write_units,
)

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "if_not_exists", "list_append", "AND", "OR", "NOT"})
_NAME = re.compile(r"#\w+|(?<![:#\w.])[A-Za-z_]\w*")

Call = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


def schemas_of(models: Iterable[Any]) -> dict[str, TableSchema]:
    """Table name → schema (keys, global secondary indexes and their projections) of PynamoDB
    models."""
    out: dict[str, TableSchema] = {}
    for model in models:
        schema = model._get_schema()
        keys = tuple(k["AttributeName"] for k in schema["key_schema"])
        indexes = []
        for index in schema.get("global_secondary_indexes", []):
            projection = index["projection"]
            indexes.append(
                IndexSchema(
                    name=index["index_name"],
                    keys=tuple(k["AttributeName"] for k in index["key_schema"]),
                    projection=projection["ProjectionType"],
                    non_key=tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        out[model.Meta.table_name] = TableSchema(model.Meta.table_name, keys, tuple(indexes))
    return out


def reported_units(consumed: Any) -> tuple[float, dict[str, float]]:
    """Total units and units per index of a ``ConsumedCapacity`` answer (one or a list)."""
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    total, by_index = 0.0, Counter[str]()
    for entry in entries:
        units = entry.get("CapacityUnits")
        if units is None:
            units = (entry.get("ReadCapacityUnits") or 0.0) + (entry.get("WriteCapacityUnits") or 0.0)
        total += float(units)
        for name, index in (entry.get("GlobalSecondaryIndexes") or {}).items():
            by_index[name] += float(index.get("CapacityUnits") or 0.0)
    return total, dict(by_index)


def expression_names(expression: str | None, names: Mapping[str, str] | None) -> set[str]:
    """The top-level attribute names an expression mentions (``#n`` placeholders resolved)."""
    found: set[str] = set()
    for token in _NAME.findall(expression or ""):
        if token.startswith("#"):
            found.add((names or {}).get(token, token))
        elif token not in _KEYWORDS:
            found.add(token)
    return found


class Meter:
    def __init__(self, schemas: Mapping[str, TableSchema] | None = None, *, trust_reported: bool = True):
        self.schemas = dict(schemas or {})
        self.trust_reported = trust_reported
        self.lock = threading.Lock()
        self.counter: Counter[str] = Counter()
        self.counting = True

    # ------------------------------------------------------------------ results

    @contextmanager
    def uncounted(self) -> Iterator[None]:
        """Calls made meanwhile (the benchmark's own looks) are passed through, not counted."""
        self.counting = False
        try:
            yield
        finally:
            self.counting = True

    def reset(self) -> None:
        with self.lock:
            self.counter.clear()

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return dict(self.counter)

    def _table(self, name: str, key: Mapping[str, Any] | None = None) -> TableSchema:
        return self.schemas.get(name) or TableSchema(name, tuple(key or ()))

    def _add(self, values: Mapping[str, float]) -> None:
        with self.lock:
            for name, value in values.items():
                if value:
                    self.counter[name] += value

    # ------------------------------------------------------------------ the call

    def call(self, original: Call, connection: Any, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Make the call through ``original`` with capacity asked for, count it, and give the
        caller the answer it would have had."""
        if op not in READS | WRITES or not self.counting:
            return original(connection, op, kwargs)
        request = dict(kwargs, ReturnConsumedCapacity="INDEXES")
        added_image = False
        if op in ("PutItem", "DeleteItem") and kwargs.get("ReturnValues", "NONE") == "NONE":
            request["ReturnValues"], added_image = "ALL_OLD", True
        if op == "UpdateItem" and kwargs.get("ReturnValues", "NONE") == "NONE":
            request["ReturnValues"], added_image = "ALL_NEW", True

        def peek(table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
            answer = original(
                connection, "GetItem", {"TableName": table, "Key": dict(key), "ConsistentRead": True}
            )
            return answer.get("Item")

        before = self._before(op, request, peek)
        try:
            data = original(connection, op, request)
        except Exception as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", type(exc).__name__)
            self._failed(op, request, code, peek)
            raise

        def reread(operation: str, asked: dict[str, Any], scanned: int) -> list[dict[str, Any]]:
            return list(original(connection, operation, evaluated_request(asked, scanned)).get("Items", []))

        self._record(op, request, data or {}, before, peek, reread)
        data = dict(data or {})
        if "ReturnConsumedCapacity" not in kwargs or kwargs["ReturnConsumedCapacity"] == "NONE":
            data.pop("ConsumedCapacity", None)
        if added_image:
            data.pop("Attributes", None)
        return data

    def _before(self, op: str, request: dict[str, Any], peek: Callable[..., Any]) -> Any:
        """The old images the computed units need and the call itself will not return."""
        if self.trust_reported:
            return None
        if op == "UpdateItem":
            table = self._table(request["TableName"], request["Key"])
            names = expression_names(request.get("UpdateExpression"), request.get("ExpressionAttributeNames"))
            return peek(table.name, request["Key"]) if touches_index(table, names) else None
        if op == "BatchWriteItem":
            olds = {}
            for table, entries in request.get("RequestItems", {}).items():
                schema = self._table(table)
                for n, entry in enumerate(entries):
                    if "DeleteRequest" in entry:
                        olds[(table, n)] = peek(table, entry["DeleteRequest"]["Key"])
                    elif schema.indexes:
                        item = entry["PutRequest"]["Item"]
                        olds[(table, n)] = peek(table, {k: item[k] for k in schema.keys if k in item})
            return olds
        if op == "TransactWriteItems":
            olds = {}
            for n, entry in enumerate(request.get("TransactItems", [])):
                ((kind, action),) = entry.items()
                schema = self._table(action["TableName"], action.get("Key"))
                key = action.get("Key") or {
                    k: action["Item"][k] for k in schema.keys if k in action.get("Item", {})
                }
                if kind == "Delete" or (kind == "Put" and schema.indexes):
                    olds[n] = peek(schema.name, key)
                elif kind == "Update":
                    olds[n] = peek(schema.name, key)
            return olds
        return None

    # ------------------------------------------------------------------ counting

    def _record(
        self,
        op: str,
        request: dict[str, Any],
        data: dict[str, Any],
        before: Any,
        peek: Callable[..., Any],
        reread: Callable[[str, dict[str, Any], int], list[dict[str, Any]]],
    ) -> None:
        reported, reported_index = reported_units(data.get("ConsumedCapacity"))
        kind = "r" if op in READS else "w"
        counts: Counter[str] = Counter({f"op:{op}": 1})
        computed, index_units, inventory = self._computed(op, request, data, before, peek, counts, reread)
        # DynamoDB's own figure when it gave one and is trusted; the rules' figure otherwise.
        use_reported = self.trust_reported and data.get("ConsumedCapacity") not in (None, [], {})
        billed = reported if use_reported else computed
        billed_index = reported_index if use_reported else index_units
        counts[f"{kind}ru"] += billed
        counts[f"{kind}ru_reported"] += reported
        counts[f"{kind}ru_computed"] += computed
        counts["index_wru"] += sum(billed_index.values())
        counts["index_items_written"] += len(billed_index)
        for label, (items, units) in inventory.items():
            counts[f"inv|{op}|{label}|calls"] += 1
            counts[f"inv|{op}|{label}|items"] += items
            if use_reported:  # the reported total, shared as the rules would share it
                units = billed * units / computed if computed else billed / len(inventory)
            counts[f"inv|{op}|{label}|units"] += units
        for name, units in billed_index.items():
            label = f"{request.get('TableName', '')}/{name}"
            counts[f"inv|{op}|{label}|index_writes"] += 1
            counts[f"inv|{op}|{label}|units"] += units
        self._add(counts)

    def _computed(
        self,
        op: str,
        request: dict[str, Any],
        data: dict[str, Any],
        before: Any,
        peek: Callable[..., Any],
        counts: Counter[str],
        reread: Callable[[str, dict[str, Any], int], list[dict[str, Any]]],
    ) -> tuple[float, dict[str, int], dict[str, tuple[int, float]]]:
        """Units DynamoDB's rules give this call, index write units by index, and the
        inventory ``label → (items, units)``; item counts go into ``counts``."""
        inventory: dict[str, tuple[int, float]] = {}
        indexes: Counter[str] = Counter()

        def note(label: str, items: int, units: float) -> None:
            old = inventory.get(label, (0, 0.0))
            inventory[label] = (old[0] + items, old[1] + units)

        if op == "GetItem":
            item = data.get("Item")
            if item is not None and (request.get("ProjectionExpression") or request.get("AttributesToGet")):
                item = peek(request["TableName"], request["Key"])
            units = read_units(item_size(item), consistent=bool(request.get("ConsistentRead")))
            counts["items_read"] += 1
            counts["key_items_read"] += 1
            note(request["TableName"], 1, units)
            return units, {}, inventory
        if op == "BatchGetItem":
            total = 0.0
            for table, asked in request.get("RequestItems", {}).items():
                unprocessed = len(data.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                found = data.get("Responses", {}).get(table, [])
                schema = self._table(table)
                if asked.get("ProjectionExpression") or asked.get("AttributesToGet"):
                    found = [peek(table, {k: i[k] for k in schema.keys if k in i}) for i in found]
                keys = len(asked.get("Keys", [])) - unprocessed
                consistent = bool(asked.get("ConsistentRead"))
                units = sum(read_units(item_size(i), consistent=consistent) for i in found)
                units += read_units(0, consistent=consistent) * max(0, keys - len(found))
                counts["items_read"] += keys
                counts["key_items_read"] += keys
                note(table, keys, units)
                total += units
            return total, {}, inventory
        if op in ("Query", "Scan"):
            scanned = int(data.get("ScannedCount", data.get("Count", 0)) or 0)
            returned = int(data.get("Count", 0) or 0)
            items = data.get("Items", [])
            if scanned and (
                scanned != returned
                or request.get("ProjectionExpression")
                or request.get("AttributesToGet")
                or request.get("Select") in ("COUNT", "SPECIFIC_ATTRIBUTES")
            ):
                items = reread(op, request, scanned)
            consistent = bool(request.get("ConsistentRead"))
            units = read_units(sum(item_size(i) for i in items), consistent=consistent)
            counts["items_read"] += scanned
            counts["query_items_scanned"] += scanned
            counts["query_items_returned"] += returned
            label = request["TableName"] + (f"/{request['IndexName']}" if request.get("IndexName") else "")
            note(label, scanned, units)
            return units, {}, inventory
        # writes
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            table = self._table(request["TableName"], request.get("Key"))
            if op == "PutItem":
                old, new = data.get("Attributes"), request["Item"]
            elif op == "DeleteItem":
                old, new = data.get("Attributes"), None
            else:
                new = data.get("Attributes")
                if request.get("ReturnValues") not in ("ALL_NEW",):
                    new = peek(table.name, request["Key"])
                old = before if before is not None else new
            units = float(write_units(max(item_size(old), item_size(new))))
            indexes.update(index_writes(table, old, new))
            counts["items_written"] += 1
            counts["bytes_written"] += item_size(new)
            note(table.name, 1, units)
            return units, dict(indexes), inventory
        if op == "BatchWriteItem":
            total = 0.0
            for table_name, entries in request.get("RequestItems", {}).items():
                table = self._table(table_name)
                left = data.get("UnprocessedItems", {}).get(table_name, [])
                n_done = 0
                for n, entry in enumerate(entries):
                    if entry in left:
                        continue
                    old = (before or {}).get((table_name, n))
                    new = entry["PutRequest"]["Item"] if "PutRequest" in entry else None
                    units = float(write_units(max(item_size(old), item_size(new))))
                    indexes.update(index_writes(table, old, new))
                    counts["bytes_written"] += item_size(new)
                    total += units
                    n_done += 1
                counts["items_written"] += n_done
                note(table_name, n_done, total)
            return total, dict(indexes), inventory
        if op == "TransactWriteItems":
            total = 0.0
            for n, entry in enumerate(request.get("TransactItems", [])):
                ((kind, action),) = entry.items()
                table = self._table(action["TableName"], action.get("Key"))
                old = (before or {}).get(n)
                if kind == "Put":
                    new: Any = action["Item"]
                elif kind == "Update":
                    new = peek(table.name, action["Key"])
                elif kind == "Delete":
                    new = None
                else:  # ConditionCheck: counted as a transactional write of the item it checks
                    old = new = None
                units = 2.0 * write_units(max(item_size(old), item_size(new)))
                if kind != "ConditionCheck":
                    indexes.update(index_writes(table, old, new))
                    counts["items_written"] += 1
                    counts["bytes_written"] += item_size(new)
                note(table.name, 1, units)
                total += units
            return total, dict(indexes), inventory
        return 0.0, {}, inventory

    def _failed(self, op: str, request: dict[str, Any], code: str, peek: Callable[..., Any]) -> None:
        """A refused call: a failed condition still bills the existing item's size."""
        counts: Counter[str] = Counter({f"op:{op}": 1, f"failed:{op}": 1})
        if op in ("PutItem", "UpdateItem", "DeleteItem") and code == "ConditionalCheckFailedException":
            table = self._table(request["TableName"], request.get("Key"))
            key = request.get("Key") or {k: request["Item"][k] for k in table.keys if k in request["Item"]}
            units = float(write_units(item_size(peek(table.name, key))))
            counts["wru"] += units
            counts["wru_computed"] += units
            counts[f"inv|{op}|{table.name}|calls"] += 1
            counts[f"inv|{op}|{table.name}|units"] += units
        elif op == "TransactWriteItems" and code == "TransactionCanceledException":
            units = float(len(request.get("TransactItems", [])))  # prepared, never committed
            counts["wru"] += units
            counts["wru_computed"] += units
        self._add(counts)


def evaluated_request(request: dict[str, Any], scanned: int) -> dict[str, Any]:
    """The Query/Scan that reads in full the ``scanned`` items a filtered or projected page
    evaluated: the same key condition and start, no filter, no projection."""
    kept = ("TableName", "IndexName", "KeyConditionExpression", "ExclusiveStartKey", "ConsistentRead")
    plain = {k: v for k, v in request.items() if k in kept or k == "ScanIndexForward"}
    condition = plain.get("KeyConditionExpression") or ""
    names_used = set(re.findall(r"#\w+", condition))
    names = {k: v for k, v in (request.get("ExpressionAttributeNames") or {}).items() if k in names_used}
    values_used = set(re.findall(r":\w+", condition))
    values = {k: v for k, v in (request.get("ExpressionAttributeValues") or {}).items() if k in values_used}
    if names:
        plain["ExpressionAttributeNames"] = names
    if values:
        plain["ExpressionAttributeValues"] = values
    plain["Limit"] = scanned
    return plain


def install(meter: Meter) -> Callable[[], None]:
    """Route PynamoDB's calls through ``meter``; the function that removes it again."""
    from pynamodb.connection.base import Connection

    original: Call = Connection._make_api_call

    def metered(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        return meter.call(original, self, operation_name, operation_kwargs)

    Connection._make_api_call = metered  # type: ignore[method-assign]

    def remove() -> None:
        Connection._make_api_call = original  # type: ignore[method-assign]

    return remove
