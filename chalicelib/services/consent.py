"""Consent: the one entry point that records any consent change, and the ledger's reads.

Every consent change in the product — staff on the client card, a double
opt-in confirmation, a reactivation confirm or decline, a one-click
unsubscribe, a bounce or complaint, an import with proof — goes through
``record_consent``. It appends the ledger event and sets the client's
consent fields (and the suppression list and ``suppressed`` flag, where the
event calls for it) in one DynamoDB transaction, re-reading and retrying
when the client changed meanwhile, so no event is ever lost and the client
always shows the state its newest event proves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from chalicelib.bootstrap import Deps
from chalicelib.domain.consent import (
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    EventType,
    Source,
    SuppressionReason,
    apply_event,
    denied_by_client,
    lifts_suppression,
    next_event_id,
    stronger_suppression,
    suppression_for,
)
from chalicelib.domain.contact import email_hash
from chalicelib.domain.records import Account, Client
from chalicelib.domain.text import Text
from chalicelib.errors import ConcurrentModification, InvalidInput
from chalicelib.observability import logger, metrics
from chalicelib.services.retry import MAX_ATTEMPTS, pause
from chalicelib.storage.consent import Stage
from chalicelib.storage.suppressions import Suppression

if TYPE_CHECKING:
    from chalicelib.storage.transactions import Transaction

MAX_USER_AGENT = 512
MAX_NOTE = 1000


class StaffConsentInput(BaseModel):
    """``PUT /v1/clients/{id}/consent``."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    granted: bool
    note: Annotated[str, Text(MAX_NOTE, multiline=True)] | None = None

    @field_validator("note")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


@dataclass(frozen=True)
class ConsentChange:
    """What happened and its evidence; the time and the event id are the service's."""

    type: EventType
    source: Source
    ip: str | None = None
    user_agent: str | None = None
    campaign_id: str | None = None
    terms_url: str | None = None
    legitimate_interest_url: str | None = None
    actor: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ConsentRecord:
    client: Client
    event: ConsentEvent


def current_status(client: Client) -> ConsentStatus:
    return ConsentStatus(
        state=ConsentState(client.consent_state),
        confirmed_at=client.consent_confirmed_at,
        source=Source(client.consent_source) if client.consent_source else None,
    )


def _suppression_stage(
    deps: Deps, client: Client, change: ConsentChange, address_hash: str, now: datetime
) -> tuple[Stage | None, bool]:
    """The suppression write this change needs (if any) and the client's new flag."""
    existing = deps.suppressions.get(client.account_id, address_hash, consistent=True)
    reason = suppression_for(change.type, change.source)
    if reason is not None:
        current = SuppressionReason(existing.reason) if existing else None
        if not stronger_suppression(current, reason):
            return None, True
        entry = Suppression(
            account_id=client.account_id,
            email_hash=address_hash,
            reason=reason.value,
            created_at=now,
            campaign_id=change.campaign_id,
        )
        return partial(deps.suppressions.stage_put, entry=entry, expected=existing), True
    if existing is not None and lifts_suppression(
        change.type, change.source, SuppressionReason(existing.reason), documented=bool(change.note)
    ):
        return partial(deps.suppressions.stage_delete, expected=existing), False
    return None, client.suppressed or existing is not None


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def _both(first: Stage | None, second: Stage | None) -> Stage | None:
    if first is None or second is None:
        return first or second

    def stage(tx: Transaction) -> None:
        first(tx)
        second(tx)

    return stage


def record_consent(
    deps: Deps,
    account: Account,
    client_id: str,
    change: ConsentChange,
    *,
    profile: dict[str, str] | None = None,
    stage: Stage | None = None,
) -> ConsentRecord:
    """Append ``change`` to the client's ledger and apply it to the client, atomically.

    ``stage``: further items written in the same transaction (an import job's receipt of the
    row, so a row that ran again never records its claim twice).

    ``profile``: details confirmed together with the consent (the double opt-in's), set in
    the same transaction. A granted consent also ends a ``pending`` client's pending state:
    the address's owner (or staff, recording their consent) vouched for it.

    Raises ``NotFound`` for a client that is not the account's, and
    ``ConcurrentModification`` only if the client kept changing through every retry.
    """
    for attempt in range(MAX_ATTEMPTS):
        client = deps.clients.get(account.account_id, client_id, consistent=True)
        now = deps.clock()
        status = apply_event(current_status(client), change.type, change.source, now)
        event = ConsentEvent(
            event_id=next_event_id(client.consent_event_id, now),
            type=change.type,
            at=now,
            source=change.source,
            ip=change.ip,
            user_agent=_clip(change.user_agent, MAX_USER_AGENT),
            campaign_id=change.campaign_id,
            terms_url=change.terms_url,
            legitimate_interest_url=change.legitimate_interest_url,
            actor=change.actor,
            note=_clip(change.note, MAX_NOTE),
        )
        address_hash = email_hash(deps.email_hash_key, client.email)
        suppression, suppressed = _suppression_stage(deps, client, change, address_hash, now)
        try:
            updated = deps.consent.record(
                client,
                status,
                event,
                suppressed=suppressed,
                now=now,
                stage=_both(suppression, stage),
                profile=profile,
                activate=status.state is ConsentState.GRANTED,
            )
        except ConcurrentModification:
            pause(attempt)
            continue
        logger.info(
            "consent recorded",
            extra={
                "account_id": account.account_id,
                "client_id": client_id,
                "event_id": event.event_id,
                "type": event.type.value,
                "source": event.source.value,
            },
        )
        metrics.add_metric(name=f"Consent{event.type.value.capitalize()}", unit="Count", value=1)
        return ConsentRecord(client=updated, event=event)
    raise ConcurrentModification("the client's consent is being changed concurrently; retry")


def set_staff_consent(
    deps: Deps, account: Account, actor: str, client_id: str, granted: bool, note: str | None
) -> ConsentRecord:
    """The client card's consent switch: a ``staff`` event whose actor is the API key's id or
    the signed-in user's id.

    Consent never returns to ``unknown``. Granting it over the client's own refusal (a
    decline, unsubscribe or complaint) needs a ``note`` saying how the client gave it
    (400 ``note_required``); with it, the refusal's suppression is lifted too."""
    if granted and not note:
        client = deps.clients.get(account.account_id, client_id, consistent=True)
        existing = deps.suppressions.get(
            account.account_id, email_hash(deps.email_hash_key, client.email), consistent=True
        )
        reason = SuppressionReason(existing.reason) if existing is not None else None
        source = Source(client.consent_source) if client.consent_source else None
        if denied_by_client(ConsentState(client.consent_state), source, reason):
            raise InvalidInput(
                "the client refused marketing themselves; record how they gave consent again in note",
                code="note_required",
                details=[
                    {"field": "note", "message": "required to grant consent over the client's own refusal"}
                ],
            )
    change = ConsentChange(
        type=EventType.GRANTED if granted else EventType.DENIED,
        source=Source.STAFF,
        actor=actor,
        note=note,
    )
    return record_consent(deps, account, client_id, change)


def consent_history(deps: Deps, account: Account, client_id: str) -> tuple[Client, list[ConsentEvent]]:
    """The client (tenant-checked) and its ledger, oldest first."""
    client = deps.clients.get(account.account_id, client_id, consistent=True)
    return client, deps.consent.events(account.account_id, client_id)


def history_page(
    deps: Deps, account: Account, client_id: str, limit: int | None, cursor: str | None
) -> tuple[Client, list[ConsentEvent], str | None]:
    """The client (tenant-checked) and one page of its ledger, newest first: what the client
    card shows, never the whole ledger at once."""
    from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

    client = deps.clients.get(account.account_id, client_id, consistent=True)
    listing = f"consent:{client_id}"
    start = decode_cursor(deps.key_ring, account.account_id, listing, cursor)
    page = deps.consent.events_page(account.account_id, client_id, limit=check_limit(limit), start_key=start)
    return client, page.items, encode_cursor(deps.key_ring, account.account_id, listing, page.next_key)
