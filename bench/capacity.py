"""DynamoDB's billing rules, as pure functions: item sizes and request units.

The benchmark counts what AWS bills for each call (``bench/meter.py``). DynamoDB
reports it itself (``ReturnConsumedCapacity``), but the emulator does not: moto
5.2.5 answers a constant 1.0 per write and 0.5 per read whatever the item's
size, nothing for transactions, and ignores global secondary indexes. Against
the emulator the meter computes the units from the rules below, documented in
the DynamoDB Developer Guide ("Item sizes and formats", "Read/write capacity
mode", "Managing throughput for GSIs", "Capacity for transactions"):

- **Item size**: the lengths of the attribute names plus the sizes of the
  values (UTF-8 bytes for strings, the bytes for binary, about one byte per two
  significant digits plus one for numbers, one byte for booleans and nulls, three
  bytes plus one per element for lists and maps, plus their elements).
- **Reads**: one read request unit per 4 KB of a strongly consistent read,
  half of it eventually consistent; ``GetItem`` and every item of
  ``BatchGetItem`` are rounded up on their own, a ``Query``/``Scan`` page is
  rounded up over the total size of the items it *evaluated* (before any
  filter, whatever the projection asked for), and a read of nothing still costs
  the minimum.
- **Writes**: one write request unit per 1 KB of the larger of the item's old
  and new images; a conditional write whose condition fails still costs the
  existing item's size (at least one unit); in a transaction every unit counts
  twice (prepare + commit).
- **Global secondary indexes**: an index is written when the item enters it
  (its key attributes present), leaves it, changes a projected attribute, or
  changes its key (a delete and a put, two writes); each write is one unit per
  1 KB of the index entry (the table's key, the index's key and the projected
  attributes). An index whose projected attributes the write does not touch
  costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

Item = Mapping[str, Mapping[str, Any]]  # an item in DynamoDB's wire format: {"name": {"S": "..."}}


def _number_size(text: str) -> int:
    """Bytes DynamoDB stores for a number: about one per two significant digits, plus one."""
    digits = str(Decimal(text).normalize()).lstrip("-").replace(".", "")
    if "E" in digits:
        digits = digits.split("E")[0]
    significant = digits.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in wire format (``{"S": "x"}``, ``{"N": "1"}``…)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data if isinstance(data, bytes | bytearray) else str(data).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in data)
    if kind == "BS":
        return sum(len(b if isinstance(b, bytes | bytearray) else str(b).encode()) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item: its attribute names and values (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool) -> float:
    """Read request units of reading ``size`` bytes in one unit of rounding (one item of a
    GetItem/BatchGetItem, or one Query/Scan page); the minimum for nothing read."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    """Write request units of writing an item of ``size`` bytes (at least one)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


@dataclass(frozen=True)
class IndexSchema:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[IndexSchema, ...] = field(default_factory=tuple)

    def index(self, name: str) -> IndexSchema | None:
        return next((i for i in self.indexes if i.name == name), None)


def projected(item: Item | None, table: TableSchema, index: IndexSchema) -> dict[str, Any] | None:
    """The index entry of ``item`` (``None`` when the item is not in the sparse index)."""
    if not item or any(key not in item for key in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = set(table.keys) | set(index.keys)
    if index.projection == "INCLUDE":
        names |= set(index.non_key)
    return {k: v for k, v in item.items() if k in names}


def index_writes(table: TableSchema, old: Item | None, new: Item | None) -> dict[str, int]:
    """Write units each global secondary index of ``table`` takes for one write that turns
    ``old`` into ``new`` (``None``: no item): an entry put, deleted, changed, or — its key
    changed — deleted and put again; nothing for an index whose entry is unchanged."""
    units: dict[str, int] = {}
    for index in table.indexes:
        before, after = projected(old, table, index), projected(new, table, index)
        if before == after:
            continue
        if before is not None and after is not None and any(before[k] != after[k] for k in index.keys):
            units[index.name] = write_units(item_size(before)) + write_units(item_size(after))
        else:
            units[index.name] = write_units(item_size(after if after is not None else before))
    return units


def touches_index(table: TableSchema, names: Iterable[str]) -> bool:
    """Whether a write naming the attributes ``names`` may change an index entry of ``table``
    (a key or projected attribute of one of its indexes): only then does the old image
    matter for the index."""
    named = set(names)
    for index in table.indexes:
        if index.projection == "ALL" or named & (set(index.keys) | set(index.non_key)):
            return True
    return False
