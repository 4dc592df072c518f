"""The sparse, sharded index of clients whose automatic status changes by time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.storage.clients import status_shard
from chalicelib.storage.conversions import Position, loaded_time, position_of, start_after, stored_time
from chalicelib.storage.models import STATUS_SHARDS, ClientModel, shard_names


@dataclass(frozen=True)
class DueClient:
    """What the index holds about a client whose status is due: enough to recompute it."""

    account_id: str
    client_id: str
    created_at: datetime
    last_visit_at: datetime | None
    auto_status: str
    version: int
    # Where the index Query resumes after this client (a continuation's cursor).
    position: Position = field(default_factory=dict, compare=False)


_KEYS = ("status_shard", "next_status_at", "account_id", "client_id")


class StatusIndexRepository:
    shards = shard_names(STATUS_SHARDS)

    def due(
        self, shard: str, now: datetime, *, after: Position | None = None, page_size: int = 100
    ) -> Iterator[DueClient]:
        """Each client in ``shard`` whose ``next_status_at`` is at or before ``now``,
        oldest change first (after the ``position`` of an earlier one), read from the index alone."""
        results = ClientModel.by_next_status_change.query(
            shard,
            ClientModel.next_status_at <= stored_time(now),
            page_size=page_size,
            last_evaluated_key=start_after(after),
        )
        for item in results:
            yield DueClient(
                account_id=item.account_id,
                client_id=item.client_id,
                created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
                last_visit_at=loaded_time(item.last_visit_at),
                auto_status=item.auto_status,
                version=int(item.version),
                position=position_of(item, _KEYS),
            )

    def set_status(self, due: DueClient, status: str, next_at: datetime | None, now: datetime) -> bool:
        """One conditional ``UpdateItem``: the new status and next change, if the client is
        still at the version the index showed (else a concurrent change wins: False)."""
        item = ClientModel(due.account_id, due.client_id, version=due.version)
        actions = [
            ClientModel.auto_status.set(status),
            ClientModel.account_auto_status.set(f"{due.account_id}#{status}"),
            ClientModel.updated_at.set(stored_time(now)),
        ]
        if status != due.auto_status:
            actions.append(ClientModel.status_since.set(stored_time(now)))
        if next_at is None:
            actions += [ClientModel.next_status_at.remove(), ClientModel.status_shard.remove()]
        else:
            actions += [
                ClientModel.next_status_at.set(stored_time(next_at)),
                ClientModel.status_shard.set(status_shard(due.client_id)),
            ]
        try:
            item.update(actions=actions, condition=ClientModel.client_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def entered_since(
        self, account_id: str, status: str, since: datetime, *, after: Position | None, limit: int
    ) -> tuple[list[str], Position | None]:
        """The ids of ``account_id``'s clients who entered automatic ``status`` after ``since``
        (``by-status-since``, keys only), at most ``limit``, from ``after``; and the position
        the next page starts from (``None``: no more)."""
        results = ClientModel.by_status_since.query(
            f"{account_id}#{status}",
            ClientModel.status_since > stored_time(since),
            limit=limit,
            page_size=limit,
            last_evaluated_key=start_after(after),
        )
        ids = [item.client_id for item in results]
        key = results.last_evaluated_key
        return ids, None if not key else {name: value["S"] for name, value in key.items()}
