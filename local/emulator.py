"""Every change the project makes to the embedded AWS emulator (moto), in one module.

Nothing here is deployed: the local stack (``local.run``) and the test suites
apply these patches to moto's classes in their own process, never to the
installed package. Each patch changes how the emulator does its work, never
what the application reads or writes, and each has a test that compares it
with moto's own behaviour (``tests/integration/test_emulator.py``).

1. **Serialised DynamoDB writes** (``serialise_dynamodb_writes``). DynamoDB runs
   each transaction in isolation; moto does not: a transaction checks its
   conditions and applies its items one by one, and a failed one undoes its
   own writes, so another thread's write in between could be judged against
   half a transaction or be undone with it. One lock around moto's DynamoDB
   write operations restores DynamoDB's guarantee under threads (the threaded
   moto server of the local stack, the concurrency tests). The same wrappers
   record the key of every item written (``written_items``), so the local
   stack's snapshots save only those items (``local/persistence.py``). Reads (GetItem,
   BatchGetItem, Query, Scan, TransactGetItems) take the same lock until their
   answer is built: moto builds it from the live items, which an update changes
   in place, and a concurrent write would otherwise break it mid-iteration
   ("dictionary changed size during iteration": a 500).

2. **Item-level transaction rollback** (``item_level_rollback``). moto 5.2.5's
   ``transact_write_items`` deep-copies every table a transaction touches,
   once per item of the transaction, before it writes anything, so that it can
   restore the copies if a condition fails. The cost grows with the tables:
   seconds per transaction at 20,000 clients, and gigabytes of garbage during
   an import. The replacement runs moto's own algorithm unchanged (same order,
   same checks, same errors and cancellation reasons) but remembers only the
   items it is about to change — a deep copy of each, or their absence — and
   puts exactly those back on failure. Its cost is proportional to the
   transaction. Unlike moto, a malformed request (two operations in one entry,
   more than 100 items) is refused before anything is written, as DynamoDB
   does; moto would have left the earlier items written.

3. **Direct JSON for DynamoDB reads** (``direct_read_responses``). moto
   serialises every response through a generic, model-driven serialiser that
   costs milliseconds per returned item. Query, Scan, GetItem and
   BatchGetItem results are already in DynamoDB's wire format, so they are
   written with ``json.dumps`` directly (the same document; a result that
   ``json.dumps`` refuses — binary values, which need base64 — takes moto's
   path).

4. **No registry of every object** (``untrack_model_instances``). Every moto model
   object (each DynamoDB item, each copy of one, each SQS message received,
   each e-mail) is appended to a class-wide list when it is created and never
   removed — it only feeds moto's dashboard document ``/moto-api/data.json``.
   That list is what made memory grow without bound: every transaction's
   table copies and every query's result copies stayed alive. Instances are no
   longer recorded, so ``/moto-api/data.json`` lists none; the local outbox
   reads the e-mails from the SES backend itself (``local/outbox.py``).

5. **One size check per new item** (``one_size_check_per_item``). moto builds
   each item attribute by attribute and, after each one, recomputes the size of
   the whole item (copying every map value to measure it): quadratic in the
   number of attributes, the largest CPU cost of a write. The replacement
   checks the finished item once against the same limit, with the same error.

6. **A response class's method names listed once** (``cache_action_lookup``).
   moto lists a response class's methods with ``inspect.getmembers`` on every
   request to find the action's; classes do not change, so the list is kept.

7. **A condition expression parsed once** (``cache_condition_expressions``).
   moto parses a condition expression (with its names and values) twice for
   every item of a transaction; the parsed tree is kept for the same text,
   names and values (the tree only reads the item it is evaluated against).

8. **A Query reads only its partition** (``partitioned_queries``). moto's
   ``Table.query`` starts from ``all_items()``: every item of the table,
   sorted by primary key with Python-level comparisons, then filtered to the
   queried partition — for every Query, on the table or on an index. With
   10,000 clients, each status-shard Query of the worker's schedules sorted
   the whole clients table under the emulator's lock (the import's per-row
   time grew with the table). The replacement hands moto's own ``query`` a
   view of the table whose ``all_items()`` holds only the items the partition
   test would keep — on the table, the items under the queried hash key; on
   an index, the items whose index hash attributes equal the query's — in
   ``all_items()``'s order. Everything after that (range conditions, sort,
   pagination, limits, filters, projections) is moto's code on the same
   sequence, so the answer is moto's, in moto's order.

9. **Requests through a gate** (``Gate``, ``start_server``). The local stack
   snapshots the emulator's state while no request is half-done: every HTTP
   request to the moto server holds the gate shared, a snapshot holds it
   alone. An SQS long poll (``ReceiveMessage`` with a wait) steps out of the
   gate while it waits, so a snapshot never waits for an idle poller.

10. **SES identities as SES answers them** (``emulate_ses_identities``). moto
    5.2.5 creates SESv2 email identities but gives a domain no Easy DKIM tokens,
    reports it not ``VerifiedForSendingStatus``, and has no
    ``PutEmailIdentityMailFromAttributes``. SES returns three DKIM tokens for a
    domain created with Easy DKIM, and the local stack verifies a domain at
    once (API.md): the emulator answers as SES does once the DNS records are
    published, so the application makes the same calls locally as on AWS.

11. **A Query's page is not deep-copied** (``uncopied_query_pages``). moto's
    ``Table.query`` deep-copies every item of the page it answers. The page is
    read, projected into new items and written as JSON under the lock of 1.,
    and nothing on that path changes an item, so the copy protects nothing; it
    was a fifth of a Query-heavy job's time (a bulk tag over 2,600 clients:
    27.3 s with it, 22.0 s without). The page is now a new list of the same
    items (moto's table module's ``copy``, for lists of items only).

``install()`` applies 1 to 8, 10 and 11 (idempotent); the local stack also serves
moto through ``EmulatorServer`` (9).
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
# Reads that iterate a whole table: under the same lock, so a write in another thread never
# changes the table's dictionaries while they are iterated ("changed size during iteration").
_ITERATING_READS = ("query", "scan")
# Read responses are built from the live items after the backend returns them: a concurrent
# update_item (which changes an item in place) would break that conversion too. The handlers
# of the reads run whole under the lock.
_READ_HANDLERS = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")
_SERIALISED = "_permesso_serialised"
_ITEM_ROLLBACK = "_permesso_item_rollback"
_DIRECT_READS = "_permesso_direct_reads"
_GATED_WAIT = "_permesso_gated_wait"
_UNTRACKED = "_permesso_untracked"
_ONE_SIZE_CHECK = "_permesso_one_size_check"
_CACHED_METHOD_NAMES = "_permesso_cached_method_names"
_CACHED_CONDITIONS = "_permesso_cached_conditions"
_PARTITIONED = "_permesso_partitioned_queries"

_originals: dict[str, Any] = {}  # moto's own methods, before any patch

# What DynamoDB writes changed since the last ``take_written_items()``, per table (account,
# region, table name): the keys of the items written (each as the JSON of its key values), or
# WHOLE when the change is not one of items (the table's settings, or a statement whose items
# are unknown). The local stack's snapshots save only these items (``local/persistence.py``).
WHOLE = None
_written: dict[tuple[str, str, str], set[str] | None] = {}
_written_everything = False  # a PartiQL statement: any table may have changed


def locked(operation: Any) -> Any:
    """``operation`` run under the emulator's DynamoDB write lock."""

    @functools.wraps(operation)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(self, *args, **kwargs)

    return run


def write_lock() -> threading.RLock:
    """The lock every DynamoDB write of the emulator holds (a snapshot may hold it too)."""
    return _LOCK


def item_key(hash_value: Any, range_value: Any = None) -> str:
    """An item's key as recorded here: its key values in DynamoDB's wire format, as JSON."""
    return json.dumps([hash_value, range_value], sort_keys=True)


def _key_of_item(self: Any, table_name: str, attrs: dict[str, Any]) -> str:
    table = self.get_table(table_name)
    return item_key(attrs[table.hash_key_attr], attrs[table.range_key_attr] if table.range_key_attr else None)


def _key_of_key(self: Any, table_name: str, key: dict[str, Any]) -> str:
    table = self.get_table(table_name)
    return item_key(key[table.hash_key_attr], key[table.range_key_attr] if table.range_key_attr else None)


def _record(self: Any, table_name: str, key: str | None) -> None:
    table = (self.account_id, self.region_name, str(table_name))
    if key is None:
        _written[table] = WHOLE
        return
    keys = _written.setdefault(table, set())
    if keys is not WHOLE:
        keys.add(key)


def _tracked(operation: Any, key_of: Callable[..., str] | None) -> Any:
    """``operation`` (first parameter: the table's name; second: the item or its key)
    recorded as a write of that item (``key_of`` None: of the whole table)."""
    import inspect

    signature = inspect.signature(operation)
    first, second = list(signature.parameters)[1:3]

    @functools.wraps(operation)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            arguments = signature.bind_partial(self, *args, **kwargs).arguments
            table_name = arguments[first]
        except (TypeError, KeyError):
            return operation(self, *args, **kwargs)  # moto reports the malformed call
        key = None
        if key_of is not None and second in arguments:
            try:
                key = key_of(self, table_name, arguments[second])
            except Exception:  # noqa: BLE001 - moto reports the malformed request; record the table
                key = None
        _record(self, table_name, key)
        return operation(self, *args, **kwargs)

    return run


def _tracked_everything(operation: Any) -> Any:
    @functools.wraps(operation)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _written_everything
        _written_everything = True
        return operation(self, *args, **kwargs)

    return run


# Item writes (the item, or its key, follows the table's name) and other writes to one table.
_ITEM_KEYS: dict[str, Callable[..., str] | None] = {
    "put_item": _key_of_item,
    "update_item": _key_of_key,
    "delete_item": _key_of_key,
    "update_table": None,
    "update_time_to_live": None,
}
# PartiQL: the statements name their tables inside the text.
_STATEMENTS = ("execute_statement", "execute_transaction", "batch_execute_statement")


def written_items() -> tuple[dict[tuple[str, str, str], set[str] | None], bool]:
    """What was written since the last ``take_written_items()`` (a copy): per table, the keys
    of the items written or ``WHOLE``; and whether a statement may have written any table."""
    with _LOCK:
        return {table: (None if keys is None else set(keys)) for table, keys in _written.items()}, (
            _written_everything
        )


def take_written_items() -> None:
    """Forget what was written (a snapshot saved it). Call under ``write_lock()``."""
    global _written_everything
    with _LOCK:
        _written.clear()
        _written_everything = False


def serialise_dynamodb_writes() -> None:
    """Patch moto's DynamoDB backend once per process (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _SERIALISED, False):
        return
    from moto.dynamodb.responses import DynamoHandler

    for name in (*_WRITES, *_ITERATING_READS, *(n for n in _ITEM_KEYS if n not in _WRITES), *_STATEMENTS):
        operation = _originals.setdefault(name, getattr(DynamoDBBackend, name))
        if name in _ITEM_KEYS:
            operation = _tracked(operation, _ITEM_KEYS[name])
        elif name in _STATEMENTS:
            operation = _tracked_everything(operation)
        setattr(DynamoDBBackend, name, locked(operation))
    for name in _READ_HANDLERS:
        setattr(DynamoHandler, name, locked(getattr(DynamoHandler, name)))
    setattr(DynamoDBBackend, _SERIALISED, True)


# --- 2. item-level transaction rollback -----------------------------------------------------


@dataclass
class _Remembered:
    """One item as it was before a transaction wrote it."""

    table: Any
    hash_key: Any
    range_key: Any
    item: Any  # a deep copy of the item, or None when it did not exist
    bucket_existed: bool  # tables with a range key: whether items[hash_key] existed
    stream_length: int | None


class _Undo:
    """What a transaction changed, item by item, and how to put it back."""

    def __init__(self) -> None:
        self._items: list[_Remembered] = []

    def current(self, backend: Any, table_name: str, key: dict[str, Any]) -> Any:
        """The item at ``key`` (None if absent), remembered before it is written.

        Same lookups and errors as moto's ``backend.get_item(table_name, key)``."""
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        bucket_existed = hash_key in table.items
        item = table.get_item(hash_key, range_key)
        stream = table.stream_shard
        self._items.append(
            _Remembered(
                table=table,
                hash_key=hash_key,
                range_key=range_key,
                item=copy.deepcopy(item),
                bucket_existed=bucket_existed,
                stream_length=len(stream.items) if stream is not None else None,
            )
        )
        return item

    def rollback(self) -> None:
        for entry in reversed(self._items):
            items = entry.table.items
            if entry.range_key is not None:
                bucket = items[entry.hash_key]
                if entry.item is None:
                    bucket.pop(entry.range_key, None)
                else:
                    bucket[entry.range_key] = entry.item
                if not entry.bucket_existed and not bucket:
                    del items[entry.hash_key]
            elif entry.item is None:
                items.pop(entry.hash_key, None)
            else:
                items[entry.hash_key] = entry.item
            stream = entry.table.stream_shard
            if stream is not None and entry.stream_length is not None:
                del stream.items[entry.stream_length :]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with an item-level undo.

    The body follows moto's line for line; the differences are marked ``# undo``."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    if any(len(list(item.keys())) > 1 for item in transact_items):  # undo: before any write
        raise TransactWriteSingleOpException
    undo = _Undo()  # undo: instead of a deep copy of every table touched

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = undo.current(self, table_name, key)  # undo: remembered before any write
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - moto reports any other failure as a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def item_level_rollback() -> None:
    """Replace moto's table-copying ``transact_write_items`` (idempotent; keeps the write lock)."""
    from moto.dynamodb.models import DynamoDBBackend

    serialise_dynamodb_writes()
    if getattr(DynamoDBBackend, _ITEM_ROLLBACK, False):
        return
    DynamoDBBackend.transact_write_items = locked(transact_write_items)
    setattr(DynamoDBBackend, _ITEM_ROLLBACK, True)


def moto_transact_write_items() -> Callable[..., None]:
    """moto's own implementation, unpatched (for the tests that compare the two)."""
    from moto.dynamodb.models import DynamoDBBackend

    return _originals.get("transact_write_items", DynamoDBBackend.transact_write_items)  # type: ignore[no-any-return]


# --- 3. direct JSON for DynamoDB reads ------------------------------------------------------

_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _direct_execute_result(original: Any) -> Any:
    @functools.wraps(original)
    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in _READS:
            try:
                body = json.dumps(self.result)
            except TypeError:  # binary values (base64 on the wire) or anything not plain JSON
                return original(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    return execute_result


def direct_read_responses() -> None:
    """Write DynamoDB read responses with ``json.dumps`` (idempotent)."""
    from moto.dynamodb.responses import DynamoResult

    if getattr(DynamoResult, _DIRECT_READS, False):
        return
    DynamoResult.execute_result = _direct_execute_result(DynamoResult.execute_result)
    setattr(DynamoResult, _DIRECT_READS, True)


# --- 4. no registry of every object ever created -------------------------------------------


def _untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    from moto.core.common_models import BaseModel

    return super(BaseModel, cls).__new__(cls)


def untrack_model_instances() -> None:
    """moto's models stop appending each new instance to a class-wide list (idempotent)."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import model_data

    if getattr(BaseModel, _UNTRACKED, False):
        return
    BaseModel.__new__ = _untracked_new  # type: ignore[method-assign,assignment]
    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = []
    setattr(BaseModel, _UNTRACKED, True)


# --- 5. one size check per new item ---------------------------------------------------------

ITEM_SIZE_LIMIT = 405000  # moto's LimitedSizeDict limit


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    # moto checks the running total after each attribute; sizes only add up, so the
    # total of all of them exceeds the limit exactly when one of those checks would.
    if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(self.attrs, values)


def one_size_check_per_item() -> None:
    """A new item's size is checked once, not once per attribute (idempotent)."""
    from moto.dynamodb.models.dynamo_type import Item

    if getattr(Item, _ONE_SIZE_CHECK, False):
        return
    _originals["Item.__init__"] = Item.__init__
    Item.__init__ = _item_init  # type: ignore[method-assign]
    setattr(Item, _ONE_SIZE_CHECK, True)


# --- 6. a response class's method names listed once -------------------------------------------


def cache_action_lookup() -> None:
    """moto lists a response class's methods (``inspect.getmembers``) on every request to
    find the action's; the list is kept per class instead (idempotent)."""
    import moto.core.responses as responses

    if getattr(responses, _CACHED_METHOD_NAMES, False):
        return
    _originals["method_names_from_class"] = responses.method_names_from_class
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    setattr(responses, _CACHED_METHOD_NAMES, True)


# --- 7. a condition expression parsed once ---------------------------------------------------------


def _cached_filter_expression(original: Any) -> Any:
    from collections import OrderedDict

    parsed: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(original)
    def get_filter_expression(expr: Any, names: Any, values: Any) -> Any:
        if not expr:
            return original(expr, names, values)
        key = (expr, json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True, default=repr))
        with lock:
            found = parsed.get(key)
            if found is not None:
                parsed.move_to_end(key)
                return found
        made = original(expr, names, values)  # a parse error propagates, and is not kept
        with lock:
            parsed[key] = made
            if len(parsed) > 4096:
                parsed.popitem(last=False)
        return made

    return get_filter_expression


def cache_condition_expressions() -> None:
    """A condition expression with the same names and values is parsed once, not once per
    item written (moto parses it twice per transaction item); the parsed tree only reads the
    item it is evaluated against (idempotent)."""
    import moto.dynamodb.comparisons as comparisons
    import moto.dynamodb.models as models
    import moto.dynamodb.models.table as table

    if getattr(comparisons, _CACHED_CONDITIONS, False):
        return
    _originals["get_filter_expression"] = comparisons.get_filter_expression
    cached = _cached_filter_expression(comparisons.get_filter_expression)
    for module in (comparisons, models, table):
        module.get_filter_expression = cached  # type: ignore[attr-defined]
    setattr(comparisons, _CACHED_CONDITIONS, True)


# --- 8. a Query reads only its partition -------------------------------------------------------


def _all_items_order(item: Any) -> Any:
    """moto's ``Table.all_items()`` sort key."""
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


class _Partition:
    """A moto table as one Query sees it: ``all_items()`` is only the candidate items, in the
    table's ``all_items()`` order; every other attribute and method is the table's own."""

    def __init__(self, table: Any, items: list[Any]) -> None:
        self._table = table
        self._items = items

    def all_items(self) -> list[Any]:
        return self._items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _partition_candidates(table: Any, hash_key: Any, index_name: Any, hash_conditions: Any) -> Any:
    """The items moto's ``Table.query`` keeps from ``all_items()`` before it sorts and pages
    them, in ``all_items()``'s order; None when moto's own path should run (a query shape
    this does not narrow)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    if not index_name:
        # moto keeps ``item.hash_key == hash_key``. Items live under their own hash key, and
        # DynamoType's hash agrees with its equality, so that is the one bucket at hash_key.
        if type(hash_key) is not DynamoType:
            return None
        bucket = dict.get(table.items, hash_key)
        if bucket is None:
            return []
        found = list(bucket.values()) if table.range_key_attr else [bucket]
    else:
        # moto keeps an item when every index hash condition holds (``not item_value or
        # item_value != expected_value`` rejects it); the same test, over every item.
        conditions = list(hash_conditions or ())
        if not conditions:
            return None
        found = []
        for bucket in table.items.values():
            for item in bucket.values() if table.range_key_attr else (bucket,):
                if not isinstance(item, Item):
                    continue
                for name, expected in conditions:
                    value = item.attrs.get(name)
                    if not value or value != expected:
                        break
                else:
                    found.append(item)
    found = [item for item in found if isinstance(item, Item)]
    if not index_name and table.range_key_attr and len({item.range_key.type for item in found}) <= 1:
        # One partition: all_items() order is its range keys' order. Each key's value is cast
        # once, rather than twice for every comparison of the sort (DynamoType.__lt__).
        found.sort(key=lambda item: item.range_key.cast_value)
        return found
    found.sort(key=_all_items_order)  # all_items() order: sorted, then filtered, is this
    return found


def _after_start(
    table: Any, hash_key: Any, candidates: list[Any], start_key: Any, forward: bool
) -> list[Any] | None:
    """The candidates of a partition Query that moto's paging keeps after ``start_key`` (the
    ExclusiveStartKey), None when moto's own skipping should run (a key this does not narrow).

    moto skips, in scan order, the items at or before the start key (``_item_comes_before_dct``:
    equal hash keys, then the range key compared), one ``DynamoType`` comparison after
    another: the pages of a 10,000-item partition compared 95,000 items to list it. The
    partition's items are sorted by range key, so those it skips are the range keys up to the
    start's (forward) or from it (backward): the same items, each key cast once."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if not isinstance(start_key, dict):
        return None
    start_hash, start_range = start_key.get(table.hash_key_attr), start_key.get(table.range_key_attr)
    if not isinstance(start_hash, dict) or not isinstance(start_range, dict):
        return None
    try:
        start_hash_value, start_range_value = DynamoType(start_hash), DynamoType(start_range)
    except Exception:  # noqa: BLE001 - a malformed key: moto's own path reports it as it does
        return None
    if type(hash_key) is not DynamoType or start_hash_value != hash_key:
        return None
    if any(item.range_key.type != start_range_value.type for item in candidates):
        return None
    start = start_range_value.cast_value
    if forward:
        return [item for item in candidates if item.range_key.cast_value > start]
    return [item for item in candidates if item.range_key.cast_value < start]


def _partitioned_query(original: Any) -> Any:
    @functools.wraps(original)
    def query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        candidates = None
        if not index_name or index_name in {index.name for index in self.all_indexes()}:
            candidates = _partition_candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if candidates is not None and not index_name and self.range_key_attr and exclusive_start_key:
            after = _after_start(
                self, hash_key, candidates, exclusive_start_key, scan_index_forward is not False
            )
            if after is not None:
                candidates, exclusive_start_key = after, None
        target = self if candidates is None else _Partition(self, candidates)
        return original(
            target,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            *args,
            **kwargs,
        )

    return query


def partitioned_queries() -> None:
    """moto's ``Table.query`` starts from the queried partition, not the whole sorted table
    (idempotent)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table, _PARTITIONED, False):
        return
    _originals["Table.query"] = Table.query
    Table.query = _partitioned_query(Table.query)  # type: ignore[method-assign]
    setattr(Table, _PARTITIONED, True)


# --- 11. a Query's page is not copied ------------------------------------------------------------


class _PageCopies:
    """moto's table module's ``copy``: ``deepcopy`` of a list of items — a Query's page, the only
    list of items the module copies — is a new list of the same items; everything else is
    ``copy``'s own. The page is read, projected into new items and written as JSON while the
    emulator's lock is held (1.), so no write can change an item under it, and nothing in the
    answer's path changes an item (``tests/integration/test_emulator.py`` compares every answer
    with moto's own copies and checks the stored items after each)."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.dynamo_type import Item

        if _PAGE_COPIES_ON[0] and type(value) is list and all(type(item) is Item for item in value):
            return list(value)
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_PAGE_COPIES_ON = [True]


def uncopied_query_pages() -> None:
    """A Query's page is not deep-copied before it is answered (idempotent)."""
    from moto.dynamodb.models import table

    if isinstance(getattr(table, "copy", None), _PageCopies):
        return
    setattr(table, "copy", _PageCopies())  # noqa: B010 — moto's module global, replaced


@contextmanager
def moto_own_page_copies() -> Iterator[None]:
    """moto's own deep copy of every Query page, for the duration (the tests that compare)."""
    _PAGE_COPIES_ON[0] = False
    try:
        yield
    finally:
        _PAGE_COPIES_ON[0] = True


def moto_table_query() -> Callable[..., Any]:
    """moto's own ``Table.query``, unpatched (for the tests that compare the two)."""
    from moto.dynamodb.models.table import Table

    return _originals.get("Table.query", Table.query)  # type: ignore[no-any-return]


def install() -> None:
    """Every emulator patch of the project, once per process (idempotent)."""
    untrack_model_instances()
    cache_action_lookup()
    cache_condition_expressions()
    one_size_check_per_item()
    serialise_dynamodb_writes()
    item_level_rollback()
    direct_read_responses()
    partitioned_queries()
    uncopied_query_pages()
    emulate_ses_identities()


# --- 9. requests through a gate -------------------------------------------------------------


class Gate:
    """Requests share the gate; ``exclusive()`` waits until none is inside and keeps new ones out."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._inside = 0
        self._closed = False
        self._local = threading.local()

    def _enter(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: not self._closed)
            self._inside += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def _leave(self) -> None:
        self._local.depth -= 1
        with self._condition:
            self._inside -= 1
            self._condition.notify_all()

    @contextmanager
    def request(self) -> Iterator[None]:
        self._enter()
        try:
            yield
        finally:
            self._leave()

    @contextmanager
    def stepped_out(self) -> Iterator[None]:
        """For a request that blocks on something else (a long poll): leave the gate meanwhile."""
        if not getattr(self._local, "depth", 0):
            yield
            return
        self._leave()
        try:
            yield
        finally:
            self._enter()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._closed)
            self._closed = True
            self._condition.wait_for(lambda: self._inside == 0)
        try:
            yield
        finally:
            with self._condition:
                self._closed = False
                self._condition.notify_all()


GATE = Gate()


def _gated_wait(original: Any) -> Any:
    @functools.wraps(original)
    def wait_for_messages(self: Any, timeout: int) -> None:
        with GATE.stepped_out():
            original(self, timeout)

    return wait_for_messages


def gate_long_polls() -> None:
    """An SQS long poll leaves the gate while it waits for messages (idempotent)."""
    from moto.sqs.models import Queue

    if getattr(Queue, _GATED_WAIT, False):
        return
    Queue.wait_for_messages = _gated_wait(Queue.wait_for_messages)
    setattr(Queue, _GATED_WAIT, True)


class GatedApplication:
    """The moto server's WSGI application, each request inside ``gate``; the routes of
    ``local/outbox.py`` (the e-mails SES accepted) answered next to moto's."""

    def __init__(self, application: Any, gate: Gate, on_request: Callable[[dict[str, Any]], None]) -> None:
        from local.outbox import OutboxFeed

        self._application = application
        self._gate = gate
        self._on_request = on_request
        self._outbox = OutboxFeed()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._gate.request():
            if self._outbox.handles(environ):
                return self._outbox(environ, start_response)
            self._on_request(environ)
            return self._application(environ, start_response)


class EmulatorServer:
    """moto server on 127.0.0.1:``port`` in a daemon thread, its requests through ``GATE``."""

    def __init__(
        self, port: int = 0, on_request: Callable[[dict[str, Any]], None] = lambda _environ: None
    ) -> None:
        self._port = port
        self._on_request = on_request
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        install()
        gate_long_polls()
        application = GatedApplication(
            DomainDispatcherApplication(create_backend_app), GATE, self._on_request
        )
        self._server = make_server(
            "127.0.0.1", self._port, application, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting requests and close the port (request threads are daemons)."""
        if self._server is None:
            return
        stopper = threading.Thread(target=self._server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)  # serve_forever notices within its 0.5 s poll interval
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None


# --- 10. SES identities as SES answers them -------------------------------------------------

_SES_PATCHED = "_permesso_ses_identities"


def _easy_dkim_tokens(domain: str) -> list[str]:
    """Three stable, SES-shaped (32 lower-case characters) tokens for ``domain``."""
    import hashlib

    return [hashlib.sha256(f"{domain}#{n}".encode()).hexdigest()[:32] for n in range(3)]


def emulate_ses_identities() -> None:
    """Patch moto's SES identities once per process (idempotent)."""
    from moto.ses.models import EmailIdentity
    from moto.sesv2.responses import SESV2Response

    if getattr(EmailIdentity, _SES_PATCHED, False):
        return
    original_init = EmailIdentity.__init__
    original_response = EmailIdentity.get_response_object.fget  # type: ignore[attr-defined]

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.mail_from_attributes = None
        if self.identity_type == "DOMAIN":
            self.verified_for_sending_status = True
            self.dkim_attributes.update(
                {
                    "SigningEnabled": True,
                    "Status": "SUCCESS",
                    "Tokens": _easy_dkim_tokens(self.email_identity),
                    "SigningAttributesOrigin": "AWS_SES",
                }
            )

    def response_object(self: Any) -> dict[str, Any]:
        body = dict(original_response(self))
        if getattr(self, "mail_from_attributes", None):
            body["MailFromAttributes"] = self.mail_from_attributes
        return body

    def put_email_identity_mail_from_attributes(self: Any) -> str:
        import json
        from urllib.parse import unquote

        name = unquote(self.path.split("/v2/email/identities/", 1)[1].split("/", 1)[0])
        identity = self.sesv2_backend.get_email_identity(name)
        params = json.loads(self.body or "{}")
        identity.mail_from_attributes = {
            "MailFromDomain": params.get("MailFromDomain"),
            "MailFromDomainStatus": "SUCCESS",
            "BehaviorOnMxFailure": params.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE"),
        }
        return "{}"

    from moto.sesv2 import urls

    # The moto *server* routes only the paths it lists (its catch-all regex does not reach this one).
    urls.url_paths["{0}/v2/email/identities/(?P<EmailIdentity>[^/]+)/mail-from$"] = SESV2Response.dispatch
    EmailIdentity.__init__ = init  # type: ignore[method-assign]
    EmailIdentity.get_response_object = property(response_object)  # type: ignore[assignment,method-assign]
    SESV2Response.put_email_identity_mail_from_attributes = put_email_identity_mail_from_attributes  # type: ignore[attr-defined]
    setattr(EmailIdentity, _SES_PATCHED, True)
