"""The records services work with: plain data, independent of storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.account_settings import AccountSettings
from chalicelib.domain.limits import AccountLimits


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    public_slug: str
    settings: AccountSettings
    created_at: datetime
    updated_at: datetime
    status: str = "active"  # active | suspended
    suspension_reason: str | None = None
    suspended_at: datetime | None = None
    reinstated_at: datetime | None = None
    version: int | None = None
    # The operator's ceilings; ``None`` for an account stored before limits existed (the
    # platform's new-account limits then apply: ``services.limits.limits_of``).
    limits: AccountLimits | None = None

    @property
    def suspended(self) -> bool:
        return self.status == "suspended"


@dataclass(frozen=True)
class ApiKey:
    key_hash: str
    account_id: str
    key_id: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class Client:
    account_id: str
    client_id: str
    email: str
    created_at: datetime
    updated_at: datetime
    auto_status: str
    next_status_at: datetime | None = None
    # When the client entered its current automatic status (the incremental automatic round's
    # index); None for a client whose status has not changed since this was first recorded.
    status_since: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    language: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    last_visit_at: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    consent_state: str = "unknown"
    consent_confirmed_at: datetime | None = None
    consent_source: str | None = None
    consent_event_id: str | None = None
    suppressed: bool = False
    version: int | None = None
    # The bulk-tag job whose change of ``tags`` is the latest: a chunk run again after its
    # worker died counts a client that job already changed as updated, not unchanged.
    tagged_by_job: str | None = None
    # Created by the public intake form, its address not confirmed by its owner yet: in no
    # audience (campaigns, lists, searches) until the double opt-in or staff accept it.
    pending: bool = False


@dataclass(frozen=True)
class Page:
    """One page of a paginated read; ``next_key`` is storage's opaque continuation."""

    items: list[Any]
    next_key: dict[str, Any] | None
