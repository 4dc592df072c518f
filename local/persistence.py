"""The local stack's emulator state on disk: restored at start, saved every few seconds and at stop.

moto 5.2.5 offers two ways to keep state, and neither serves here:
- its *recorder* (``MOTO_ENABLE_RECORDING``) appends every request to a file and
  replays them on demand. The file grows with every request forever (the worker
  long-polls the queues every 2 s), replaying a 10,000-row import means running
  it again (minutes), and a replay is not the same state: message ids, receipt
  handles, timestamps and the outcome of concurrent conditional writes differ.
- there is no state dump of the backends themselves (``/moto-api/data.json`` is
  a one-way dashboard feed, and it lists nothing once the model-instance
  registry is off, see ``local/emulator.py``).

So the launcher pickles moto's own backend objects — the exact state, whatever
the service — for the services the stack uses (``SERVICES``). The state lives
in ``<state dir>/emulator/``:

- ``manifest.json`` names the files of the current snapshot (and moto's
  version: a snapshot of another version is refused, start with ``--fresh``);
- per DynamoDB table, a whole copy of the table followed by the changes made
  since (each snapshot adds one file with the items written since the last
  one, or their deletion), and one file per other service (SES with SES v2,
  whose backend refers to SES's). Every file is written under a new name, so
  a snapshot is replaced by one atomic rename of the manifest: a crash at any
  moment leaves the previous snapshot whole.

A snapshot is taken while no emulator request is half-done (``GATE``, see
``local/emulator.py``): it waits for requests in flight, keeps new ones
waiting meanwhile, pickles in memory, then writes outside the gate. Only what
changed is pickled again: the items written since the last snapshot (the
emulator's write lock records which, ``local.emulator.written_items``), so a
snapshot costs what changed, not the size of the tables; and each other service
that got a request which may change it. A table is copied whole again when its
changes since its last whole copy outgrow it (``COMPACT_*``), when it is new,
or when something other than its items changed. ``Saver`` snapshots every
``interval`` seconds when something changed (so a crash loses at most that
much; a large table's copy whole does not delay the next snapshots of changes,
the copies whole are spaced instead), and at stop: one snapshot of the changes
so far while the other processes of the stack stop, then the last one with what
they wrote meanwhile. Neither copies a large table whole (a periodic one that
is copying when the stop comes gives up), so stopping stays prompt whatever the
tables' size.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import pickle
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.emulator import GATE, WHOLE, take_written_items, write_lock, written_items

LOG = logging.getLogger("local.persistence")

FORMAT = 2  # 1: one file per part; 2: a list of files per part (a table: whole copy, changes)
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
# A table is copied whole again (in a periodic snapshot) when the item changes saved since its
# last whole copy reach its item count (at least COMPACT_MIN_ROWS), or after COMPACT_FILES changes.
COMPACT_MIN_ROWS = 1000
COMPACT_FILES = 64
# The last snapshot at stop writes a new table whole only below this many items.
STOP_WHOLE_TABLE_ROWS = 20000
# Parts other than tables: one per group of services that refer to each other's objects.
SERVICE_PARTS: dict[str, tuple[str, ...]] = {
    "dynamodb": ("dynamodb",),  # the backend without its tables (each table is its own part)
    "sqs": ("sqs",),
    "sns": ("sns",),
    "ses": ("ses", "sesv2"),  # SES v2's backend holds SES v1's
}
SERVICES = tuple(service for group in SERVICE_PARTS.values() for service in group)
# Requests that change nothing the snapshot keeps (X-Amz-Target actions, per service).
_READ_ONLY = {
    "dynamodb": {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
                 "ListTables", "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource"},
    # A receive only hides messages for their visibility timeout: after a restore they are
    # visible again, which SQS's at-least-once delivery allows anyway.
    "sqs": {"ReceiveMessage", "GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags",
            "ListDeadLetterSourceQueues"},
}  # fmt: skip
# DynamoDB item writes: the write lock records the table, so they leave the service part alone.
_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_SCOPE = re.compile(r"Credential=[^/]*/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


class StateError(RuntimeError):
    """The saved state cannot be restored; the message says why, for a person."""


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


# --- pickling -------------------------------------------------------------------------------


def _lock_types() -> tuple[type, ...]:
    return (type(threading.Lock()), type(threading.RLock()))


def _dynamo_value(kind: str, value: Any) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    made = DynamoType.__new__(DynamoType)
    made.type, made.value = kind, value
    return made


def _item(hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> Any:
    """A DynamoDB item as moto holds it, without re-validating its size attribute by attribute
    (``LimitedSizeDict`` checks the whole item on every insert: quadratic on restore)."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    made = Item.__new__(Item)
    made.hash_key, made.range_key = hash_key, range_key
    made.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(made.attrs, attrs)
    return made


def _wire(value: Any) -> Any:
    """A moto ``DynamoType`` as DynamoDB's wire format (plain dicts, lists and strings)."""
    kind = value.type
    if kind == "L":
        return {"L": [_wire(member) for member in value.value]}
    if kind == "M":
        return {"M": {name: _wire(member) for name, member in value.value.items()}}
    return {kind: value.value}


def _wire_attrs(attrs: Any) -> dict[str, Any]:
    """An item's attributes in the wire format: the bulk of every snapshot, so the scalar
    values (most of them) are converted inline rather than by a call each."""
    return {
        name: _wire(value) if (kind := value.type) in _NESTED else {kind: value.value}
        for name, value in attrs.items()
    }


_NESTED = frozenset({"L", "M"})


def _table_items(table: Any) -> Iterable[Any]:
    """Every item of a moto table, in no particular order (``all_items()`` sorts them)."""
    if table.range_key_attr is None:
        return list(table.items.values())
    return [item for bucket in table.items.values() for item in bucket.values()]


def _dynamo(wire: dict[str, Any]) -> Any:
    """A moto ``DynamoType`` from DynamoDB's wire format (what ``DynamoType(wire)`` builds)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    ((kind, value),) = wire.items()
    made = DynamoType.__new__(DynamoType)
    made.type = kind
    if kind == "L":
        made.value = [_dynamo(member) for member in value]
    elif kind == "M":
        made.value = {name: _dynamo(member) for name, member in value.items()}
    else:
        made.value = value
    return made


class Cancelled(Exception):
    """A periodic snapshot gave up (the stack is stopping); nothing of it was written."""


def _never() -> bool:
    return False


def _dump_table(table: Any, cancelled: Callable[[], bool] = _never) -> bytes:
    """A table: its attributes (the generic pickler), its items as plain wire-format dicts
    (pickled by C code alone: the bulk of the state, about ten times faster)."""
    if table.stream_shard is not None:  # stream records refer back to the table: keep it whole
        return pickle.dumps(("whole", _dumps(table, {})), protocol=pickle.HIGHEST_PROTOCOL)
    rows = []
    for number, item in enumerate(_table_items(table)):
        if number % 2000 == 1999 and cancelled():
            raise Cancelled
        rows.append(_wire_attrs(item.attrs))
    return pickle.dumps(("rows", _shell(table), rows), protocol=pickle.HIGHEST_PROTOCOL)


def _shell(table: Any) -> bytes:
    """A table's attributes without its items."""
    shell = copy.copy(table)
    shell.items = None
    return _dumps(shell, {})


def _current_item(table: Any, key: str) -> Any:
    """The item at ``key`` (``local.emulator.item_key``), None when there is none."""
    hash_wire, range_wire = json.loads(key)
    bucket = dict.get(table.items, _dynamo(hash_wire))
    if bucket is None or range_wire is None:
        return bucket
    return bucket.get(_dynamo(range_wire))


def _dump_changes(table: Any, keys: Iterable[str]) -> bytes:
    """The items at ``keys`` as they are now (None: deleted), with the table's attributes."""
    changes = []
    for key in sorted(keys):
        item = _current_item(table, key)
        attrs = None if item is None else _wire_attrs(item.attrs)
        changes.append((key, attrs))
    return pickle.dumps(("changes", _shell(table), changes), protocol=pickle.HIGHEST_PROTOCOL)


def _apply_changes(table: Any, blob: bytes) -> Any:
    """``table`` (restored so far) with one file of changes applied: the returned table has
    the saved attributes and the same items dictionary."""
    kind, shell_blob, changes = pickle.loads(blob)  # nosec B301 - the stack's own state file
    if kind != "changes":
        raise ValueError(f"a {kind!r} part where changes were expected")
    updated = _Unpickler(io.BytesIO(shell_blob), {}).load()
    updated.items = table.items
    items, range_name = table.items, updated.range_key_attr
    for key, attrs in changes:
        hash_wire, range_wire = json.loads(key)
        hash_key = _dynamo(hash_wire)
        range_key = None if range_wire is None else _dynamo(range_wire)
        if attrs is None:
            if range_key is None:
                items.pop(hash_key, None)
            else:
                bucket = items.get(hash_key)
                if bucket is not None:
                    bucket.pop(range_key, None)
                    if not bucket:
                        del items[hash_key]
            continue
        values = {name: _dynamo(value) for name, value in attrs.items()}
        hash_key = values[updated.hash_key_attr]
        if range_name is None:
            items[hash_key] = _item(hash_key, None, values)
        else:
            range_key = values[range_name]
            items.setdefault(hash_key, {})[range_key] = _item(hash_key, range_key, values)
    return updated


def _load_table(blob: bytes) -> Any:
    from collections import defaultdict

    kind, shell_blob, *rest = pickle.loads(blob)  # nosec B301 - the stack's own state file
    table = _Unpickler(io.BytesIO(shell_blob), {}).load()
    if kind == "whole":
        return table
    (rows,) = rest
    items: defaultdict[Any, Any] = defaultdict(dict)
    hash_name, range_name = table.hash_key_attr, table.range_key_attr
    for row in rows:
        attrs = {name: _dynamo(value) for name, value in row.items()}
        hash_key = attrs[hash_name]
        if range_name is None:
            items[hash_key] = _item(hash_key, None, attrs)
        else:
            range_key = attrs[range_name]
            items[hash_key][range_key] = _item(hash_key, range_key, attrs)
    table.items = items
    return table


class _Pickler(pickle.Pickler):
    """moto's objects hold locks (SQS queues wait on a Condition): a fresh lock on restore.
    DynamoDB items and values are saved as their type and value only (far smaller and
    faster than the generic object protocol). Tables are saved in their own parts: here
    they are references (``persistent_id``)."""

    def __init__(self, file: Any, tables: dict[int, tuple[str, str, str]]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType, Item

        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._tables = tables
        self._locks = _lock_types()
        self._dynamo_type, self._item = DynamoType, Item

    def persistent_id(self, obj: Any) -> Any:
        key = self._tables.get(id(obj))
        return ("table", *key) if key is not None else None

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is self._dynamo_type:
            return _dynamo_value, (obj.type, obj.value)
        if kind is self._item:
            return _item, (obj.hash_key, obj.range_key, dict(obj.attrs))
        if isinstance(obj, self._locks):
            return (threading.RLock if "RLock" in kind.__name__ else threading.Lock), ()
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, tables: dict[tuple[str, str, str], Any]) -> None:
        super().__init__(file)
        self._tables = tables

    def persistent_load(self, pid: Any) -> Any:
        kind, *key = pid
        if kind != "table":
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self._tables[tuple(key)]


def _dumps(obj: Any, tables: dict[int, tuple[str, str, str]]) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, tables).dump(obj)
    return buffer.getvalue()


def _backend_dict(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def _service_objects(services: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """{service: {account: {region: backend}}} for the backends that exist."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for service in services:
        backends = _backend_dict(service)
        out[service] = {
            account: dict(dict.items(regions)) for account, regions in dict.items(backends) if len(regions)
        }
    return out


def _live_tables() -> dict[tuple[str, str, str], Any]:
    return {
        (account, region, name): table
        for account, regions in _service_objects(["dynamodb"])["dynamodb"].items()
        for region, backend in regions.items()
        for name, table in backend.tables.items()
    }


def _table_part(key: tuple[str, str, str]) -> str:
    return "table/" + "/".join(key)


def _part_key(part: str) -> tuple[str, str, str]:
    account, region, table = part.split("/", 3)[1:]
    return account, region, table


def _file_name(part: str, generation: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", part.replace("/", "--"))
    return f"{safe}.{generation}.pickle"


# --- the store ------------------------------------------------------------------------------


@dataclass
class SaveReport:
    parts: list[str] = field(default_factory=list)
    bytes_written: int = 0
    paused_seconds: float = 0.0  # how long emulator requests waited
    seconds: float = 0.0


class EmulatorState:
    """The snapshot directory of one local stack."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._saving = threading.Lock()
        self._dirty: set[str] = set(SERVICE_PARTS)  # nothing saved yet: everything is new
        self._dirty_lock = threading.Lock()
        self._saved_tables: dict[tuple[str, str, str], int] = {}  # key -> id() of the saved object
        # part -> files of the current snapshot (a table: its whole copy, then its changes)
        self._files: dict[str, list[str]] = {}
        self._changed_rows: dict[str, int] = {}  # table part -> item changes saved since its whole copy
        self._whole_rows: dict[str, int] = {}  # table part -> items in its whole copy
        self._generation = 0
        self._cancel = threading.Event()
        # Copying a large table whole pauses the emulator: the next such copy only once four
        # times that long has passed (at most a fifth of the time paused for them), while the
        # snapshots of changes go on at their pace meanwhile.
        self._compact_not_before = 0.0

    # what changed ------------------------------------------------------------------------

    def on_request(self, environ: dict[str, Any]) -> None:
        """Called for each emulator request before it runs: which part it may change."""
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(("/moto-api", "/_permesso")):
            return
        match = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        service = match.group(1) if match else ""
        target = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
        if target and target in _READ_ONLY.get(service, ()):
            return
        if service == "dynamodb" and target in _ITEM_WRITES:
            return  # recorded per table by the write lock
        part = next((name for name, group in SERVICE_PARTS.items() if service in group), None)
        with self._dirty_lock:
            if part is None:  # a service the snapshot does not know: save everything
                self._dirty.update(SERVICE_PARTS)
            else:
                self._dirty.add(part)

    @property
    def exists(self) -> bool:
        return (self.directory / MANIFEST).exists()

    # saving ------------------------------------------------------------------------------

    def cancel(self) -> None:
        """A snapshot copying a table whole gives up (nothing of it is written): the stack is
        stopping and its last snapshot comes next. Later snapshots run again."""
        self._cancel.set()

    def save(self, final: bool = False) -> SaveReport:
        """Snapshot what changed since the last save (nothing: no write). ``final``: the last
        snapshot at stop, which saves changes rather than copying large tables whole, and is
        not cancelled."""
        report = SaveReport()
        started = time.monotonic()
        cancelled = _never if final else self._cancel.is_set
        with self._saving:
            if final:
                self._cancel.clear()
            with GATE.exclusive(), write_lock():
                paused = time.monotonic()
                written, everything = written_items()
                with self._dirty_lock:
                    dirty = set(self._dirty)
                tables = _live_tables()
                ids = {id(table): key for key, table in tables.items()}
                deleted = set(self._saved_tables) - set(tables)
                if deleted:
                    dirty.add("dynamodb")  # a table was deleted
                blobs: dict[str, bytes] = {}
                whole: set[str] = set()
                whole_rows: dict[str, int] = {}  # counted here: writes resume once the gate opens
                for key, table in tables.items():
                    part = _table_part(key)
                    keys = written.get(key)
                    if not (everything or key in written or self._saved_tables.get(key) != id(table)):
                        continue
                    if self._whole_copy_needed(part, table, key, keys, everything, final):
                        blobs[part] = _dump_table(table, cancelled)
                        whole.add(part)
                        whole_rows[part] = sum(1 for _ in _table_items(table))
                        if cancelled():
                            raise Cancelled
                    else:
                        blobs[part] = _dump_changes(table, keys or ())
                for part in dirty:
                    blobs[part] = _dumps(_service_objects(SERVICE_PARTS[part]), ids)
                take_written_items()
                with self._dirty_lock:
                    self._dirty -= dirty
                report.paused_seconds = time.monotonic() - paused
                if whole:
                    self._compact_not_before = time.monotonic() + 4 * report.paused_seconds
            if not blobs and not deleted:
                report.seconds = time.monotonic() - started
                return report
            self._write(blobs, whole, set(tables))
            self._saved_tables = {key: id(table) for key, table in tables.items()}
            for part in blobs:
                if part in whole:
                    self._whole_rows[part] = whole_rows[part]
                    self._changed_rows[part] = 0
                elif part.startswith("table/"):
                    self._changed_rows[part] = self._changed_rows.get(part, 0) + len(
                        written.get(_part_key(part)) or ()
                    )
            report.parts = sorted(blobs)
            report.bytes_written = sum(len(blob) for blob in blobs.values())
        report.seconds = time.monotonic() - started
        return report

    def _whole_copy_needed(
        self,
        part: str,
        table: Any,
        key: tuple[str, str, str],
        keys: set[str] | None,
        everything: bool,
        final: bool,
    ) -> bool:
        """Copy the table whole rather than save its changed items?"""
        if part not in self._files or self._saved_tables.get(key) != id(table):
            # New to the snapshot (or replaced): nothing to add changes to. At stop, a large new
            # table is still copied (rare: a table is saved within seconds of its creation).
            return True
        if everything or keys is WHOLE or table.stream_shard is not None:
            return True
        if final or time.monotonic() < self._compact_not_before:
            return False
        changed = self._changed_rows.get(part, 0) + len(keys or ())
        too_many_files = len(self._files[part]) >= COMPACT_FILES
        return too_many_files or changed >= max(COMPACT_MIN_ROWS, self._whole_rows.get(part, 0))

    def _write(self, blobs: dict[str, bytes], whole: set[str], tables: set[tuple[str, str, str]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._generation += 1
        files = {
            part: list(names)
            for part, names in self._files.items()
            if not part.startswith("table/") or _part_key(part) in tables
        }
        for part, blob in blobs.items():
            name = _file_name(part, self._generation)
            _write_durably(self.directory / name, blob)
            if part.startswith("table/") and part not in whole:
                files[part] = [*files[part], name]  # the table's changes, after what it had
            else:
                files[part] = [name]
        manifest = {
            "format": FORMAT,
            "moto": _moto_version(),
            "saved_at": datetime.now(UTC).isoformat(),
            "generation": self._generation,
            "parts": files,
        }
        _write_durably(self.directory / f".{MANIFEST}.tmp", json.dumps(manifest, indent=1).encode())
        os.replace(self.directory / f".{MANIFEST}.tmp", self.directory / MANIFEST)
        _fsync_directory(self.directory)
        self._files = files
        keep = {*(name for names in files.values() for name in names), MANIFEST}
        for stale in self.directory.iterdir():
            if stale.name not in keep:
                with contextlib.suppress(OSError):
                    stale.unlink()

    # restoring ---------------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the saved state into the (empty) emulator. False when there is none."""
        try:
            manifest = json.loads((self.directory / MANIFEST).read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            raise StateError(f"{self.directory / MANIFEST} is unreadable ({exc})") from exc
        if manifest.get("format") not in READABLE_FORMATS or manifest.get("moto") != _moto_version():
            raise StateError(
                f"the saved emulator state in {self.directory} was written by moto "
                f"{manifest.get('moto')} (format {manifest.get('format')}), this is moto "
                f"{_moto_version()}: start with --fresh"
            )
        files = {
            part: [names] if isinstance(names, str) else list(names)
            for part, names in manifest["parts"].items()
        }
        try:
            tables: dict[tuple[str, str, str], Any] = {}
            for part, names in files.items():
                if part.startswith("table/"):
                    first, *changes = names
                    table = _load_table((self.directory / first).read_bytes())
                    for name in changes:
                        table = _apply_changes(table, (self.directory / name).read_bytes())
                    tables[_part_key(part)] = table
                    self._whole_rows[part] = sum(1 for _ in _table_items(table))
                    self._changed_rows[part] = self._whole_rows[part] if changes else 0
            services: dict[str, dict[str, dict[str, Any]]] = {}
            for part, names in files.items():
                if not part.startswith("table/"):
                    with (self.directory / names[0]).open("rb") as handle:
                        services.update(_Unpickler(handle, tables).load())
        except (
            OSError,
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            KeyError,
            ValueError,
            TypeError,
        ) as exc:
            raise StateError(
                f"the saved emulator state in {self.directory} is damaged ({exc}): start with --fresh"
            ) from exc
        for service, accounts in services.items():
            backends = _backend_dict(service)
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    backends[account][region] = backend
        self._files = dict(files)
        self._generation = int(manifest.get("generation", 0))
        self._saved_tables = {key: id(table) for key, table in tables.items()}
        with self._dirty_lock:
            self._dirty.clear()
        take_written_items()
        return True

    def clear(self) -> None:
        """Forget the saved state (``--fresh``)."""
        if self.directory.exists():
            for path in self.directory.iterdir():
                path.unlink()
            self.directory.rmdir()


def _write_durably(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- periodic snapshots ---------------------------------------------------------------------


class Saver:
    """Snapshot every ``interval`` seconds when something changed; ``stop()`` saves once more.

    The snapshots of changes keep their pace whatever the tables' size (their cost is what
    changed); copies of large tables whole are spaced (``EmulatorState``) so that the
    emulator spends at most about a fifth of its time paused for them. At stop,
    ``begin_stop()`` saves the changes so far while the other processes stop, so the last
    snapshot has only what they wrote meanwhile."""

    def __init__(
        self,
        state: EmulatorState,
        interval: float,
        on_error: Callable[[BaseException], None] = lambda exc: LOG.error("snapshot failed: %s", exc),
    ) -> None:
        self._state = state
        self._interval = interval
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-snapshots", daemon=True)
        self._early: threading.Thread | None = None
        self._early_report: SaveReport | None = None
        self.last: SaveReport | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.last = self._state.save()
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - a failed snapshot is reported; the next one retries
                self._on_error(exc)

    def begin_stop(self, timeout: float = 1.0) -> None:
        """The stack is stopping: end the periodic snapshots (one copying a table whole gives
        up) and save the changes so far in the background, while the other processes stop."""
        if self._early is not None:
            return
        self._stop.set()
        self._state.cancel()

        def save_early() -> None:
            if self._thread.is_alive():
                self._thread.join(timeout)
            try:
                self._early_report = self._state.save(final=True)
            except Exception as exc:  # noqa: BLE001 - reported; the last snapshot saves it all again
                self._on_error(exc)

        self._early = threading.Thread(target=save_early, name="emulator-snapshot-at-stop", daemon=True)
        self._early.start()

    def stop(self, timeout: float) -> SaveReport | None:
        """Take the last snapshot: what changed since ``begin_stop()``'s (called here if it was not)."""
        self.begin_stop(timeout)
        assert self._early is not None  # nosec B101 - begin_stop() set it
        self._early.join()
        report = self._state.save(final=True)
        early = self._early_report
        if early is not None:  # one report for both: what was saved at stop, and how long it took
            report.parts = sorted({*early.parts, *report.parts})
            report.bytes_written += early.bytes_written
            report.paused_seconds += early.paused_seconds
            report.seconds += early.seconds
        self.last = report
        return report
