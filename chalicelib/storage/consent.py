"""The consent ledger: append-only events, written with the client's consent fields.

Append-only by construction: ``record`` and ``close_for_erasure`` only *put*
events (``attribute_not_exists``); the single method that changes an existing
event is ``pseudonymise_for_erasure``, which only removes personal evidence
(IP, user agent, note) and marks the event. Nothing here deletes an event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.consent import ConsentEvent, ConsentStatus, EventType, Source
from chalicelib.domain.records import Client, Page
from chalicelib.errors import ConcurrentModification
from chalicelib.storage.clients import ClientRepository
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import ClientModel, ConsentEventModel
from chalicelib.storage.transactions import Transaction, TransactionFailed

Stage = Callable[[Transaction], None]
# The profile fields a consent change may carry (the double opt-in's confirmed details).
PROFILE_FIELDS = frozenset({"first_name", "last_name", "phone", "language"})


def ledger_partition(account_id: str, client_id: str) -> str:
    return f"{account_id}#{client_id}"


def _to_event(item: ConsentEventModel) -> ConsentEvent:
    return ConsentEvent(
        event_id=item.event_id,
        type=EventType(item.type),
        at=loaded_time(item.at),  # type: ignore[arg-type]
        source=Source(item.source),
        ip=item.ip,
        user_agent=item.user_agent,
        campaign_id=item.campaign_id,
        terms_url=item.terms_url,
        legitimate_interest_url=item.legitimate_interest_url,
        actor=item.actor,
        note=item.note,
        email_hash=item.email_hash,
    )


def _to_item(account_id: str, client_id: str, event: ConsentEvent) -> ConsentEventModel:
    return ConsentEventModel(
        ledger_partition(account_id, client_id),
        event.event_id,
        type=event.type.value,
        at=stored_time(event.at),
        source=event.source.value,
        ip=event.ip,
        user_agent=event.user_agent,
        campaign_id=event.campaign_id,
        terms_url=event.terms_url,
        legitimate_interest_url=event.legitimate_interest_url,
        actor=event.actor,
        note=event.note,
        email_hash=event.email_hash,
    )


def _connection() -> Any:
    return ConsentEventModel._get_connection().connection


def _commit(tx: Transaction, what: str) -> None:
    """Commit; any lost race (a condition, or DynamoDB's own transaction conflict)
    becomes ``ConcurrentModification`` so the service re-reads and retries."""
    try:
        tx.commit()
    except TransactionFailed as exc:
        raise ConcurrentModification(
            f"{what}: {', '.join(sorted(exc.labels)) or 'items'} changed meanwhile"
        ) from exc


class ConsentLedgerRepository:
    def record(
        self,
        client: Client,
        status: ConsentStatus,
        event: ConsentEvent,
        *,
        suppressed: bool,
        now: datetime,
        stage: Stage | None = None,
        profile: dict[str, str] | None = None,
        activate: bool = False,
    ) -> Client:
        """Append ``event`` and set the client's consent to ``status`` — both or neither.

        The client update is conditional on the version ``client`` was read at,
        so the event that sorts last is always the one whose state the client
        shows. ``stage`` adds further items (the suppression) to the same
        transaction; ``profile`` sets profile fields the consent came with (the
        double opt-in's confirmed details), and ``activate`` ends a pending client's
        pending state (indexes included). Raises ``ConcurrentModification`` if
        anything changed.
        """
        target = ClientModel(client.account_id, client.client_id)
        target.version = client.version
        confirmed = stored_time(status.confirmed_at)
        actions: list[Any] = [
            ClientModel.consent_state.set(status.state.value),
            ClientModel.consent_event_id.set(event.event_id),
            ClientModel.suppressed.set(suppressed),
            ClientModel.updated_at.set(stored_time(now)),
            ClientModel.consent_confirmed_at.set(confirmed)
            if confirmed
            else ClientModel.consent_confirmed_at.remove(),
            ClientModel.consent_source.set(status.source.value)
            if status.source
            else ClientModel.consent_source.remove(),
        ]
        tx = Transaction(_connection())
        tx.save(
            _to_item(client.account_id, client.client_id, event),
            "event",
            condition=ConsentEventModel.event_id.does_not_exist(),
        )
        changes = {name: value for name, value in (profile or {}).items() if name in PROFILE_FIELDS}
        actions += [getattr(ClientModel, name).set(value) for name, value in changes.items()]
        if activate and client.pending:
            actions += ClientRepository.stage_activation(tx, client, now)
        elif not client.pending and status.state.value == "granted" and client.consent_state != "granted":
            # Newly reachable: an incremental automatic round looks at the client again
            # (by-status-since), as it would look at one who just entered the status.
            actions.append(ClientModel.status_since.set(stored_time(now)))
        tx.update(target, actions, "client")  # PynamoDB adds: version == read version, version + 1
        if stage is not None:
            stage(tx)
        _commit(tx, "consent change")
        return replace(
            client,
            **changes,
            consent_state=status.state.value,
            consent_confirmed_at=status.confirmed_at,
            consent_source=status.source.value if status.source else None,
            consent_event_id=event.event_id,
            suppressed=suppressed,
            updated_at=now,
            version=(client.version or 0) + 1,
            pending=client.pending and not activate,
        )

    def events(self, account_id: str, client_id: str) -> list[ConsentEvent]:
        """A client's ledger, oldest first (event ids grow in commit order)."""
        partition = ledger_partition(account_id, client_id)
        return [
            _to_event(item)
            for item in ConsentEventModel.query(partition, scan_index_forward=True, consistent_read=True)
        ]

    def events_page(
        self, account_id: str, client_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> Page:
        """One page of a client's ledger, newest first (the client card's history)."""
        partition = ledger_partition(account_id, client_id)
        results = ConsentEventModel.query(
            partition,
            scan_index_forward=False,
            consistent_read=True,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start_key,
        )
        items = [_to_event(item) for item in results]
        return Page(items, results.last_evaluated_key)

    # --- erasure: the only code that changes or ends anything in the ledger's partition ----

    def pseudonymise_for_erasure(
        self, account_id: str, client_id: str, email_hash: str, now: datetime
    ) -> int:
        """Remove the personal evidence (IP, user agent, free-text note) from every event of
        the client, keeping what, when, how, campaign and the URLs shown; link each event to
        the suppression entry by the address's keyed hash. Idempotent. Returns the count."""
        partition = ledger_partition(account_id, client_id)
        count = 0
        for item in ConsentEventModel.query(partition, consistent_read=True):
            try:
                item.update(
                    actions=[
                        ConsentEventModel.ip.remove(),
                        ConsentEventModel.user_agent.remove(),
                        ConsentEventModel.note.remove(),
                        ConsentEventModel.email_hash.set(email_hash),
                        ConsentEventModel.pseudonymised_at.set(stored_time(now)),
                    ],
                    condition=ConsentEventModel.event_id.exists(),
                )
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
                continue
            count += 1
        return count

    def close_for_erasure(self, client: Client, event: ConsentEvent, stages: Sequence[Stage]) -> None:
        """Append the ``erased`` event in the transaction that deletes the client's
        personal items (``stages``: the client, its e-mail claim and tag memberships, the
        suppression entry). Conditional on the client version, so an event recorded during
        erasure (and thus not yet pseudonymised) makes the caller start over."""
        tx = Transaction(_connection())
        tx.save(
            _to_item(client.account_id, client.client_id, event),
            "event",
            condition=ConsentEventModel.event_id.does_not_exist(),
        )
        for stage in stages:
            stage(tx)
        _commit(tx, "erasure")
