"""Client writes ``PERMESSO_WRITE_CONCURRENCY`` at a time (8 on AWS stages, 1 locally), and
clients several to a transaction: what imports, bulk tagging and the status job share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.bootstrap import Deps
from chalicelib.storage.clients import TRANSACTION_ROWS

T = TypeVar("T")
R = TypeVar("R")


def concurrently(deps: Deps, work: Callable[[T], R], items: list[T]) -> list[R]:
    """``work`` of each item, in order, on up to ``write_concurrency`` threads."""
    threads = min(deps.settings.write_concurrency, len(items))
    if threads <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, items))


def in_batches(deps: Deps, units: list[T], write: Callable[[list[T]], list[R]]) -> list[R]:
    """``write`` (``ClientRepository.create_many`` / ``update_many`` behind it) over
    ``TRANSACTION_ROWS`` units at a time, the batches concurrently: each unit's result, in order."""
    batches = [units[at : at + TRANSACTION_ROWS] for at in range(0, len(units), TRANSACTION_ROWS)]
    return [result for written in concurrently(deps, write, batches) for result in written]
