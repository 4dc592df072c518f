"""The sparse, sharded index of clients whose automatic status changes by time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.storage.conversions import stored_time
from chalicelib.storage.models import STATUS_SHARDS, ClientModel


class StatusIndexRepository:
    shards = tuple(str(n) for n in range(STATUS_SHARDS))

    def due(
        self, shard: str, now: datetime, *, page_size: int = 100, start_key: dict[str, Any] | None = None
    ) -> Iterator[tuple[tuple[str, str], dict[str, Any] | None]]:
        """``((account_id, client_id), resume_key)`` of each client in ``shard`` whose
        ``next_status_at`` is at or before ``now`` — oldest change first.

        ``resume_key`` is the index position after that item: start there to go on.
        """
        results = ClientModel.by_next_status_change.query(
            shard,
            ClientModel.next_status_at <= stored_time(now),
            limit=None,
            page_size=page_size,
            last_evaluated_key=start_key,
        )
        for item in results:
            key = {
                "status_shard": {"S": shard},
                "next_status_at": {"S": item.next_status_at},
                "account_id": {"S": item.account_id},
                "client_id": {"S": item.client_id},
            }
            yield (item.account_id, item.client_id), key
