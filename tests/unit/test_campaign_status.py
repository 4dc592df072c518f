from __future__ import annotations

import pytest

from chalicelib.domain.campaign_status import (
    TERMINAL,
    CampaignAction,
    CampaignKind,
    CampaignStatus,
    DeliveryStatus,
    TransitionRefused,
    can_move,
    finished_sending,
    next_status,
)

K, S, A = CampaignKind, CampaignStatus, CampaignAction


@pytest.mark.parametrize(
    ("kind", "status", "action", "paused_from", "expected"),
    [
        (K.STANDARD, S.DRAFT, A.SEND, None, S.SENDING),
        (K.REACTIVATION, S.DRAFT, A.SEND, None, S.SENDING),
        (K.AUTOMATIC, S.DRAFT, A.SEND, None, S.ACTIVE),
        (K.STANDARD, S.SENDING, A.PAUSE, None, S.PAUSED),
        (K.AUTOMATIC, S.ACTIVE, A.PAUSE, None, S.PAUSED),
        (K.STANDARD, S.PAUSED, A.RESUME, S.SENDING, S.SENDING),
        (K.AUTOMATIC, S.PAUSED, A.RESUME, S.ACTIVE, S.ACTIVE),
        (K.STANDARD, S.PAUSED, A.CANCEL, S.SENDING, S.CANCELLED),
        (K.STANDARD, S.DRAFT, A.CANCEL, None, S.CANCELLED),
    ],
)
def test_allowed(kind: K, status: S, action: A, paused_from: S | None, expected: S) -> None:
    assert next_status(kind, status, action, paused_from) is expected


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.SENT, A.SEND),
        (S.SENDING, A.SEND),
        (S.SENDING, A.RESUME),
        (S.DRAFT, A.PAUSE),
        (S.SENT, A.CANCEL),
        (S.CANCELLED, A.RESUME),
        (S.SEGMENTED, A.PAUSE),
    ],
)
def test_refused(status: S, action: A) -> None:
    with pytest.raises(TransitionRefused):
        next_status(K.STANDARD, status, action, None)


def test_finished_sending() -> None:
    assert finished_sending(K.STANDARD) is S.SENT
    assert finished_sending(K.REACTIVATION) is S.AWAITING_RESPONSES


def test_delivery_moves() -> None:
    D = DeliveryStatus
    assert can_move(D.QUEUED, D.SENDING)
    assert can_move(D.SENDING, D.SENT)
    # Back to the queue only when SES explicitly refused the call (throttling): it did not send.
    assert can_move(D.SENDING, D.QUEUED)
    assert not can_move(D.SENT, D.SENDING)
    assert all(not can_move(t, D.SENDING) for t in TERMINAL)
