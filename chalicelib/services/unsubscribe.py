"""Unsubscribing from a marketing e-mail: the RFC 8058 one-click POST and the visible link.

Both use the same signed token (``domain.unsubscribe``). Opening the link
(GET) only shows a page with a button — mail scanners open every link — and
only a POST unsubscribes: the ledger records ``unsubscribed`` with source
``one_click_unsubscribe`` and the request's own evidence, the address is
suppressed (both through ``record_consent``), and the delivery is marked so
the campaign report counts it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.bootstrap import Deps
from chalicelib.domain.consent import EventType, Source
from chalicelib.domain.records import Account, Client
from chalicelib.domain.unsubscribe import UnsubscribeClaim, read_unsubscribe
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services.consent import ConsentChange, record_consent


@dataclass(frozen=True)
class UnsubscribeTarget:
    account: Account
    client: Client
    claim: UnsubscribeClaim


def open_unsubscribe(deps: Deps, token: str) -> UnsubscribeTarget:
    """What a link is for; ``NotFound`` for a tampered or foreign token or an erased client."""
    claim = read_unsubscribe(deps.key_ring, token)
    if claim is None:
        raise NotFound("link not valid")
    account = deps.accounts.get(claim.account_id)
    client = deps.clients.get(claim.account_id, claim.client_id, consistent=True)
    return UnsubscribeTarget(account=account, client=client, claim=claim)


def unsubscribe(
    deps: Deps, token: str, *, source_ip: str | None, user_agent: str | None
) -> UnsubscribeTarget:
    found = open_unsubscribe(deps, token)
    change = ConsentChange(
        type=EventType.UNSUBSCRIBED,
        source=Source.ONE_CLICK_UNSUBSCRIBE,
        ip=source_ip,
        user_agent=user_agent,
        campaign_id=found.claim.campaign_id,
    )
    record = record_consent(deps, found.account, found.client.client_id, change)
    marked = deps.deliveries.mark(found.claim.campaign_id, found.client.client_id, unsubscribed=True)
    if marked is not None:
        # Each recipient once in the report: an unsubscribe outranks an answer given before.
        changes = {"unsubscribed": 1}
        if marked.response in ("confirmed", "declined"):
            changes[marked.response] = -1
        deps.campaigns.add(found.account.account_id, found.claim.campaign_id, **changes)
    logger.info(
        "unsubscribed",
        extra={
            "account_id": found.account.account_id,
            "campaign_id": found.claim.campaign_id,
            "client_id": found.client.client_id,
        },
    )
    metrics.add_metric(name="Unsubscribes", unit="Count", value=1)
    return UnsubscribeTarget(account=found.account, client=record.client, claim=found.claim)
