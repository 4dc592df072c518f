"""Campaign and delivery lifecycles: which transitions are allowed (pure rules)."""

from __future__ import annotations

from enum import StrEnum


class CampaignKind(StrEnum):
    STANDARD = "standard"
    REACTIVATION = "reactivation"
    AUTOMATIC = "automatic"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # a draft with a send time; cancel returns it to draft
    SENDING = "sending"
    SENT = "sent"
    AWAITING_RESPONSES = "awaiting_responses"
    SEGMENTED = "segmented"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    ACTIVE = "active"  # automatic campaigns, while they send to new matches


class CampaignAction(StrEnum):
    SEND = "send"
    SCHEDULE = "schedule"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class TransitionRefused(ValueError):
    """The action makes no sense in the campaign's current status."""


def next_status(
    kind: CampaignKind, status: CampaignStatus, action: CampaignAction, paused_from: CampaignStatus | None
) -> CampaignStatus:
    """The status after ``action``; raises ``TransitionRefused`` when not allowed.

    A scheduled campaign may be sent at once or scheduled again; cancelling it before its
    time returns it to draft (it sent nothing)."""
    if action is CampaignAction.SEND and status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return CampaignStatus.ACTIVE if kind is CampaignKind.AUTOMATIC else CampaignStatus.SENDING
    if action is CampaignAction.SCHEDULE and status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return CampaignStatus.SCHEDULED
    if action is CampaignAction.CANCEL and status is CampaignStatus.SCHEDULED:
        return CampaignStatus.DRAFT
    if action is CampaignAction.PAUSE and status in (CampaignStatus.SENDING, CampaignStatus.ACTIVE):
        return CampaignStatus.PAUSED
    if action is CampaignAction.RESUME and status is CampaignStatus.PAUSED:
        return paused_from or CampaignStatus.SENDING
    if action is CampaignAction.CANCEL and status in (
        CampaignStatus.DRAFT,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
        CampaignStatus.ACTIVE,
    ):
        return CampaignStatus.CANCELLED
    raise TransitionRefused(f"cannot {action.value} a campaign that is {status.value}")


def finished_sending(kind: CampaignKind) -> CampaignStatus:
    """Where a campaign goes when every recipient reached a terminal delivery state."""
    return CampaignStatus.AWAITING_RESPONSES if kind is CampaignKind.REACTIVATION else CampaignStatus.SENT


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    EXCLUDED_NO_CONSENT = "excluded_no_consent"


TERMINAL = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.EXCLUDED_NO_CONSENT,
    }
)

_ALLOWED = {
    DeliveryStatus.QUEUED: {
        DeliveryStatus.SENDING,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.EXCLUDED_NO_CONSENT,
        DeliveryStatus.FAILED,
    },
    # A worker that crashed mid-send leaves ``sending``; only the recorded SES
    # outcome (or an explicit failure) may finish it — never a second send.
    # ``sending → queued`` is allowed only when SES certainly did not send: it refused
    # the call (throttling, a 5xx before acceptance) or was never called (the caller's duty).
    DeliveryStatus.SENDING: {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.QUEUED},
}


def can_move(current: DeliveryStatus, target: DeliveryStatus) -> bool:
    return target in _ALLOWED.get(current, set())
