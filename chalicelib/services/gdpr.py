"""GDPR rights over one client: export everything held (Art. 15/20) and erase (Art. 17).

Both walk the same list of ``Section``s — one per kind of personal data the
product holds about a client. A feature that starts holding a new kind adds
one ``Section`` to ``SECTIONS`` and is covered by export and erasure at once:

    Section("list_memberships",
            export=lambda deps, c: deps.lists.lists_of_client(c.account_id, c.client_id),
            erase=lambda deps, c: deps.lists.remove_client_from_all_lists(c.account_id, c.client_id)),

Erasure order makes it safe to repeat after any failure: first every
section's idempotent ``erase`` step (the ledger is pseudonymised, memberships
removed), then one transaction that appends the ``erased`` event, adds the
address's keyed hash to the suppression list and deletes the client item, its
e-mail claim and its tag memberships — conditional on the client version read
at the start, so a consent event recorded meanwhile (not yet pseudonymised)
makes the whole erasure start over. Until that last transaction the client
exists, so a failed erasure is simply retried by calling it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.consent import (
    ConsentEvent,
    EventType,
    Source,
    SuppressionReason,
    next_event_id,
    stronger_suppression,
)
from chalicelib.domain.contact import email_hash
from chalicelib.domain.documents import client_view, consent_event_view, iso
from chalicelib.domain.records import Account, Client
from chalicelib.domain.redaction import redaction_marker
from chalicelib.errors import ConcurrentModification
from chalicelib.observability import logger, metrics
from chalicelib.storage.suppressions import Suppression

EXPORT_FORMAT = "permesso.client-export.v1"
_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Section:
    """One kind of personal data about a client: how to export it, how to erase it.

    ``erase`` is ``None`` for data the final erasure transaction removes itself
    (the client item, e-mail claim and tag memberships; the suppression entry,
    which by design outlives the client and holds no personal data). ``export`` is
    ``None`` for data that is the business's, not the client's (a filter that names them).
    """

    key: str
    export: Callable[[Deps, Client], Any] | None
    erase: Callable[[Deps, Client], None] | None = None


def _profile(deps: Deps, client: Client) -> Any:
    return client_view(client)


def _tags(deps: Deps, client: Client) -> Any:
    return list(client.tags)


def _consent_events(deps: Deps, client: Client) -> Any:
    return [consent_event_view(e) for e in deps.consent.events(client.account_id, client.client_id)]


def _actors(deps: Deps, client: Client) -> dict[str, dict[str, Any]]:
    """Who made the consent changes: each ``actor`` of the ledger, resolved to what it is (a
    console user and their role, or a named API key). Staff addresses are not shown."""
    from chalicelib.errors import NotFound

    found: dict[str, dict[str, Any]] = {}
    for event in deps.consent.events(client.account_id, client.client_id):
        actor = event.actor
        if not actor or actor in found:
            continue
        if actor.startswith("usr_"):
            try:
                user = deps.users.get(client.account_id, actor)
                found[actor] = {"type": "user", "role": user.role}
            except NotFound:
                found[actor] = {"type": "user", "removed": True}
        elif actor.startswith("key_"):
            try:
                key = deps.api_keys.record(client.account_id, actor)
                found[actor] = {"type": "api_key", "name": key.name, "revoked": key.revoked_at is not None}
            except NotFound:
                found[actor] = {"type": "api_key"}
        else:
            found[actor] = {"type": "other"}
    return found


def _pseudonymise_ledger(deps: Deps, client: Client) -> None:
    address_hash = email_hash(deps.email_hash_key, client.email)
    deps.consent.pseudonymise_for_erasure(client.account_id, client.client_id, address_hash, deps.clock())


def _suppression(deps: Deps, client: Client) -> Any:
    entry = deps.suppressions.get(client.account_id, email_hash(deps.email_hash_key, client.email))
    if entry is None:
        return None
    return {"reason": entry.reason, "created_at": iso(entry.created_at), "campaign_id": entry.campaign_id}


def _list_memberships(deps: Deps, client: Client) -> list[dict[str, Any]]:
    return [
        {"list_id": lst.list_id, "name": lst.name, "created_at": iso(lst.created_at)}
        for lst in deps.lists.lists_of_client(client.account_id, client.client_id)
    ]


def _remove_list_memberships(deps: Deps, client: Client) -> None:
    deps.lists.remove_client_from_all_lists(client.account_id, client.client_id)


def _redact_stored_filters(deps: Deps, client: Client) -> None:
    """The address named in saved list sources and campaign audiences becomes
    ``erased:<keyed hash>`` (``domain/redaction.py``)."""
    marker = redaction_marker(email_hash(deps.email_hash_key, client.email))
    deps.lists.redact_address(client.account_id, client.email, marker)
    deps.campaigns.redact_address(client.account_id, client.email, marker)


SECTIONS: tuple[Section, ...] = (
    Section("client", export=_profile),
    Section("tags", export=_tags),
    Section("consent_events", export=_consent_events, erase=_pseudonymise_ledger),
    Section("actors", export=_actors),
    Section("suppression", export=_suppression),
    Section("list_memberships", export=_list_memberships, erase=_remove_list_memberships),
    Section("stored_filters", export=None, erase=_redact_stored_filters),
    # Deliveries hold no personal data beyond the client id (the campaign's accounting): exported,
    # kept after erasure, like the pseudonymised ledger.
    Section("deliveries", export=lambda deps, client: _deliveries(deps, client)),
)


def _deliveries(deps: Deps, client: Client) -> list[dict[str, Any]]:
    return [
        {
            "campaign_id": d.campaign_id,
            "status": d.status.value,
            "reason": d.reason,
            "bounce": d.bounce,
            "unsubscribed": d.unsubscribed,
            "response": d.response,
            "queued_at": iso(d.queued_at),
            "sent_at": iso(d.sent_at),
        }
        for page in deps.campaigns.mailed_newest_first(client.account_id)
        for d in deps.deliveries.of_client(client.client_id, page)
    ]


def export_client(deps: Deps, account: Account, client_id: str) -> dict[str, Any]:
    """Everything held about one client, as one JSON document."""
    client = deps.clients.get(account.account_id, client_id, consistent=True)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": iso(deps.clock()),
        "account": {"account_id": account.account_id, "name": account.name},
        "client_id": client.client_id,
    }
    for section in SECTIONS:
        if section.export is not None:
            document[section.key] = section.export(deps, client)
    logger.info("client exported", extra={"account_id": account.account_id, "client_id": client_id})
    return document


def erase_client(deps: Deps, account: Account, client_id: str, *, source: Source, actor: str | None) -> None:
    """Erase a client's personal data, keep its address suppressed and its evidence pseudonymised."""
    for _ in range(_MAX_ATTEMPTS):
        client = deps.clients.get(account.account_id, client_id, consistent=True)
        for section in SECTIONS:
            if section.erase is not None:
                section.erase(deps, client)
        now = deps.clock()
        address_hash = email_hash(deps.email_hash_key, client.email)
        event = ConsentEvent(
            event_id=next_event_id(client.consent_event_id, now),
            type=EventType.ERASED,
            at=now,
            source=source,
            actor=actor,
            email_hash=address_hash,
        )
        existing = deps.suppressions.get(account.account_id, address_hash, consistent=True)
        current = SuppressionReason(existing.reason) if existing else None
        stages = [partial(deps.clients.stage_delete, client=client)]
        if stronger_suppression(current, SuppressionReason.ERASED):
            entry = Suppression(
                account_id=account.account_id,
                email_hash=address_hash,
                reason=SuppressionReason.ERASED.value,
                created_at=now,
            )
            stages.append(partial(deps.suppressions.stage_put, entry=entry, expected=existing))
        try:
            deps.consent.close_for_erasure(client, event, stages)
        except ConcurrentModification:
            continue
        logger.info("client erased", extra={"account_id": account.account_id, "client_id": client_id})
        metrics.add_metric(name="ClientsErased", unit="Count", value=1)
        return
    raise ConcurrentModification("the client is being changed concurrently; retry the erasure")
