"""Campaigns and deliveries: the records, who may receive what, and the report (pure).

A campaign's audience is a list, a tag, a filter or an automatic status.
Each recipient gets exactly one delivery, classified when it is written
(``classify``) and again just before sending, because consent and
suppression may change while a large campaign is under way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus, DeliveryStatus
from chalicelib.domain.consent import (
    ConsentState,
    Eligibility,
    marketing_eligibility,
    reactivation_targetable,
)

# Not a DeliveryStatus: recipients the audience named but the campaign may never reach.
NOT_TARGETED = "not_targeted"


@dataclass(frozen=True)
class Campaign:
    account_id: str
    campaign_id: str
    name: str
    kind: CampaignKind
    status: CampaignStatus
    subject: str
    html: str
    audience: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    text: str | None = None
    language: str | None = None
    terms_url: str | None = None
    legitimate_interest_url: str | None = None
    wait_days: int | None = None
    cooldown_days: int | None = None  # automatic campaigns: a client may get it again after this
    segment_after: datetime | None = None
    segment_list_id: str | None = None
    paused_from: CampaignStatus | None = None
    paused_reason: str | None = None
    job_id: str | None = None
    count_job_id: str | None = None  # the latest count of its audience (services/audience_counts)
    fanout_done: bool = False
    n_recipients: int = 0
    n_batches: int = 0
    n_batches_done: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    send_at: datetime | None = None  # while scheduled
    acknowledged_non_consented: bool = False  # given when it was scheduled
    schedule_error: str | None = None  # why a scheduled send did not start (back to draft)
    scheduled_by: str | None = None  # the actor (key or user id) who scheduled it


@dataclass(frozen=True)
class Delivery:
    campaign_id: str
    client_id: str
    account_id: str
    status: DeliveryStatus
    batch: int | None = None
    reason: str | None = None
    ses_message_id: str | None = None
    attempts: int = 0
    response: str | None = None
    bounce: str | None = None
    unsubscribed: bool = False
    responded_at: datetime | None = None  # when ``response`` was last set
    queued_at: datetime | None = None
    sending_at: datetime | None = None
    sent_at: datetime | None = None
    updated_at: datetime | None = None
    step: str | None = None  # the send message that last moved it (counting exactly once)


def classify(
    kind: CampaignKind, consent_state: str, suppressed: bool, consent_only: bool, *, pending: bool = False
) -> DeliveryStatus | str:
    """The first status of a recipient's delivery, or ``NOT_TARGETED``.

    A ``pending`` client (the public form's, its address not confirmed yet) is in no
    campaign of any kind.

    Standard and automatic campaigns: suppressed or denied → ``suppressed``;
    not granted while ``consent_only_campaigns`` is on → ``excluded_no_consent``;
    else ``queued``. A reactivation campaign asks only ``unknown`` clients: a
    suppressed one is recorded as ``suppressed``, one who already chose
    (granted or denied) is simply not part of it.
    """
    if pending:
        return NOT_TARGETED
    state = ConsentState(consent_state)
    if kind is CampaignKind.REACTIVATION:
        if suppressed:
            return DeliveryStatus.SUPPRESSED
        return DeliveryStatus.QUEUED if reactivation_targetable(state, suppressed) else NOT_TARGETED
    eligibility = marketing_eligibility(state, suppressed, consent_only)
    if eligibility in (Eligibility.SUPPRESSED, Eligibility.DENIED):
        return DeliveryStatus.SUPPRESSED
    if eligibility is Eligibility.EXCLUDED_NO_CONSENT:
        return DeliveryStatus.EXCLUDED_NO_CONSENT
    return DeliveryStatus.QUEUED


@dataclass
class AudienceCounts:
    """The numbers of ``preview`` (API.md)."""

    recipients: int = 0
    consented: int = 0
    not_consented: int = 0  # reachable clients without granted consent (unknown)
    suppressed: int = 0  # suppressed or denied: never reached
    will_send: int = 0

    def add(
        self,
        kind: CampaignKind,
        consent_state: str,
        suppressed: bool,
        consent_only: bool,
        *,
        pending: bool = False,
    ) -> None:
        if pending:
            return  # not part of any audience
        self.recipients += 1
        denied = consent_state == ConsentState.DENIED.value
        if suppressed or denied:
            self.suppressed += 1
        elif consent_state == ConsentState.GRANTED.value:
            self.consented += 1
        else:
            self.not_consented += 1
        if classify(kind, consent_state, suppressed, consent_only) == DeliveryStatus.QUEUED:
            self.will_send += 1

    def needs_acknowledgement(self, kind: CampaignKind, consent_only: bool) -> bool:
        """API.md: the send call needs ``acknowledge_non_consented`` when it would reach
        clients without granted consent (never for reactivation or with consent-only on)."""
        return kind is not CampaignKind.REACTIVATION and not consent_only and self.not_consented > 0


REPORT_FIELDS = (
    "recipients",
    "sent",
    "suppressed",
    "excluded_no_consent",
    "failed",
    "bounced",
    "complained",
    "unsubscribed",
    "confirmed",
    "declined",
    "no_response",
)


def report(deliveries: Iterable[Delivery]) -> dict[str, int]:
    """API.md's report from the campaign's deliveries. ``recipients`` equals
    ``sent + suppressed + excluded_no_consent + failed + queued + sending`` (the last
    two are zero once the campaign is finished)."""
    counts = dict.fromkeys((*REPORT_FIELDS, "queued", "sending"), 0)
    for delivery in deliveries:
        counts["recipients"] += 1
        counts[delivery.status.value] += 1
        if delivery.bounce == "hard":
            counts["bounced"] += 1
        elif delivery.bounce == "complaint":
            counts["complained"] += 1
        # Each recipient once, by the outcome that stands: an unsubscribe is permanent (a later
        # confirm cannot lift it), so it outranks a confirm or decline given through the campaign.
        if delivery.unsubscribed:
            counts["unsubscribed"] += 1
        elif delivery.response == "confirmed":
            counts["confirmed"] += 1
        elif delivery.response == "declined":
            counts["declined"] += 1
        elif delivery.status is DeliveryStatus.SENT and delivery.bounce != "hard":
            counts["no_response"] += 1
    return counts


def report_from_counters(counters: Mapping[str, int], recipients: int | None = None) -> dict[str, int]:
    """API.md's report from the counters a campaign keeps (atomic ``ADD``s as the recipients
    were settled and as bounces, complaints, unsubscribes and answers came), whatever the
    campaign's size and after its deliveries expired. ``recipients``: the fan-out's total
    once it is known; what is not settled yet is reported ``queued`` (the counters do not
    tell a delivery being sent from one waiting). ``no_response`` is what is left of
    ``sent`` after the bounces and answers."""
    counts = dict.fromkeys((*REPORT_FIELDS, "queued", "sending"), 0)
    for name in REPORT_FIELDS:
        counts[name] = int(counters.get(name, 0))
    settled = sum(counts[k] for k in ("sent", "suppressed", "excluded_no_consent", "failed"))
    counts["recipients"] = max(settled, recipients or 0)
    counts["queued"] = counts["recipients"] - settled
    answered = sum(counts[k] for k in ("bounced", "unsubscribed", "confirmed", "declined"))
    counts["no_response"] = max(0, counts["sent"] - answered)
    return counts


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def is_finished(status: CampaignStatus) -> bool:
    return status in (
        CampaignStatus.SENT,
        CampaignStatus.AWAITING_RESPONSES,
        CampaignStatus.SEGMENTED,
        CampaignStatus.CANCELLED,
    )
