"""Recipient lists: the record (a snapshot of clients taken from a tag, a filter or ids)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

BUILDING, READY = "building", "ready"


@dataclass(frozen=True)
class RecipientList:
    account_id: str
    list_id: str
    name: str
    source: dict[str, Any]  # {"tag": t} | {"filter": F} | {"client_ids": [..]} | {"campaign_id": c}
    created_at: datetime
    updated_at: datetime
    size: int = 0
    status: str = READY
    job_id: str | None = None
