"""Make the embedded AWS emulator's DynamoDB writes atomic across threads.

DynamoDB runs each transaction in isolation (serializable). moto does not: its
``transact_write_items`` snapshots the tables, applies the items one by one and,
when a condition fails, *restores the snapshot* — wiping whatever another
thread wrote in between. Under concurrent requests (the threaded moto server of
the local stack, threaded tests) that loses acknowledged writes, which real
DynamoDB never does. One lock around moto's DynamoDB write operations restores
DynamoDB's guarantee in the emulator. It changes nothing the application
reads or writes, and is never part of the deployed code.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
_PATCHED = "_permesso_serialised"


def locked(operation: Any) -> Any:
    """``operation`` run under the emulator's DynamoDB write lock."""

    @functools.wraps(operation)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(self, *args, **kwargs)

    return run


def serialise_dynamodb_writes() -> None:
    """Patch moto's DynamoDB backend once per process (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    for name in _WRITES:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    setattr(DynamoDBBackend, _PATCHED, True)
