"""Reactivation campaigns: the confirm/decline links and the choices they record.

Opening a link (GET) records only an ``opened`` ledger event — mail
scanners open every link — at most once per link per hour, and shows a page
with a button. Only the POST
of that button records the choice through ``record_consent`` (the ledger
event and the client's consent in one transaction): confirm → ``granted``
with source ``reactivation_campaign``; decline → ``denied``, which also
suppresses the address. The evidence is the request's own: the source IP
API Gateway saw (never a header), the user agent, the campaign, and the
terms and legitimate-interest URLs the e-mail showed. The delivery keeps
the latest choice (``response``) for the report and the segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind
from chalicelib.domain.campaigns import Campaign, Delivery
from chalicelib.domain.consent import EventType, Source
from chalicelib.domain.reactivation import (
    OPENED_PERIOD_SECONDS,
    Action,
    CtaClaim,
    mint_cta,
    opened_marker,
    read_cta,
)
from chalicelib.domain.records import Account, Client
from chalicelib.domain.time import to_storage
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services.consent import ConsentChange, record_consent

CTA_PATH = "/p/reactivation/"


def cta_url(deps: Deps, account_id: str, campaign_id: str, client_id: str, action: Action) -> str:
    token = mint_cta(deps.key_ring, account_id, campaign_id, client_id, action)
    return f"{deps.settings.public_base_url}{CTA_PATH}{token}"


def cta_urls(deps: Deps, campaign: Campaign, client_id: str) -> dict[str, str]:
    """The ``confirm_url`` and ``decline_url`` of one recipient's e-mail."""
    return {
        f"{action.value}_url": cta_url(deps, campaign.account_id, campaign.campaign_id, client_id, action)
        for action in Action
    }


@dataclass(frozen=True)
class CtaTarget:
    account: Account
    campaign: Campaign
    client: Client
    claim: CtaClaim

    def other_url(self, deps: Deps) -> str:
        """The link of the other choice (the thank-you page's change-of-mind form)."""
        claim = self.claim
        return cta_url(deps, claim.account_id, claim.campaign_id, claim.client_id, claim.action.other)


def _open(deps: Deps, token: str) -> CtaTarget:
    """What a link is for; ``NotFound`` (the uniform 404) for a forged or foreign token —
    rejected before any database read — and for an erased client or a campaign gone."""
    claim = read_cta(deps.key_ring, token)
    if claim is None:
        raise NotFound("link not valid")
    account = deps.accounts.get(claim.account_id)
    campaign = deps.campaigns.get(claim.account_id, claim.campaign_id)
    if campaign.kind is not CampaignKind.REACTIVATION:
        raise NotFound("link not valid")
    client = deps.clients.get(claim.account_id, claim.client_id, consistent=True)
    return CtaTarget(account=account, campaign=campaign, client=client, claim=claim)


def open_link(deps: Deps, token: str, *, source_ip: str | None, user_agent: str | None) -> CtaTarget:
    """GET of a CTA link: an ``opened`` event (evidence only: it changes no choice), at most
    one per link per ``OPENED_PERIOD_SECONDS`` — a conditional marker write decides which GET
    records it, so a scanner or a reload cannot grow the append-only ledger without limit."""
    found = _open(deps, token)
    if not deps.throttle.mark_once(opened_marker(found.claim), deps.clock(), OPENED_PERIOD_SECONDS):
        metrics.add_metric(name="ReactivationOpenedRepeated", unit="Count", value=1)
        return found
    change = ConsentChange(
        type=EventType.OPENED,
        source=Source.REACTIVATION_CAMPAIGN,
        ip=source_ip,
        user_agent=user_agent,
        campaign_id=found.campaign.campaign_id,
        terms_url=found.campaign.terms_url,
        legitimate_interest_url=found.campaign.legitimate_interest_url,
    )
    record_consent(deps, found.account, found.client.client_id, change)
    return found


def choose(deps: Deps, token: str, *, source_ip: str | None, user_agent: str | None) -> CtaTarget:
    """POST of a CTA link: the client's explicit choice, recorded with its evidence.
    Every POST is logged in the ledger; the latest explicit choice wins."""
    found = _open(deps, token)
    action = found.claim.action
    change = ConsentChange(
        type=EventType.GRANTED if action is Action.CONFIRM else EventType.DENIED,
        source=Source.REACTIVATION_CAMPAIGN,
        ip=source_ip,
        user_agent=user_agent,
        campaign_id=found.campaign.campaign_id,
        terms_url=found.campaign.terms_url,
        legitimate_interest_url=found.campaign.legitimate_interest_url,
    )
    record = record_consent(deps, found.account, found.client.client_id, change)
    before = deps.deliveries.get(found.campaign.campaign_id, found.client.client_id)
    if deps.deliveries.mark(
        found.campaign.campaign_id,
        found.client.client_id,
        response=action.response,
        responded_at=to_storage(record.event.at),
    ):
        # The campaign's counters follow the latest answer, so the report outlives the
        # deliveries' retention (services.campaigns.campaign_report).
        # Each recipient once: an unsubscribed recipient is counted as such, whatever it answers.
        if before is None or not before.unsubscribed:
            changes = {action.response: 1}
            if before is not None and before.response in ("confirmed", "declined"):
                changes[before.response] = -1
            changes.update(
                _late_confirmations(deps, found.campaign, before, action.response, record.event.at)
            )
            deps.campaigns.add(found.account.account_id, found.campaign.campaign_id, **changes)
    logger.info(
        "reactivation choice recorded",
        extra={
            "account_id": found.account.account_id,
            "campaign_id": found.campaign.campaign_id,
            "client_id": found.client.client_id,
            "action": action.value,
        },
    )
    metrics.add_metric(name=f"Reactivation{action.value.capitalize()}", unit="Count", value=1)
    return CtaTarget(account=found.account, campaign=found.campaign, client=record.client, claim=found.claim)


def _late_confirmations(
    deps: Deps, campaign: Campaign, before: Delivery | None, response: str, at: datetime
) -> dict[str, int]:
    """The change to ``confirmed_after_segment`` (the report's count of those who confirmed
    after the segment's list was made): +1 for a confirmation after it, -1 when such a
    confirmation is replaced by a decline."""
    if campaign.segment_list_id is None:
        return {}
    try:
        made_at = deps.lists.get(campaign.account_id, campaign.segment_list_id).created_at
    except NotFound:
        return {}
    change = 1 if response == "confirmed" and at > made_at else 0
    if (
        before is not None
        and before.response == "confirmed"
        and before.responded_at is not None
        and before.responded_at > made_at
    ):
        change -= 1
    return {"confirmed_after_segment": change} if change else {}
