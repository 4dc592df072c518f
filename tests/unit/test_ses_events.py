"""Parsing of SES events in both of SES's formats, with or without the SNS envelope."""

from __future__ import annotations

import json

from chalicelib.services.ses_events import parse_event

TAGS = {"account_id": ["acc_1"], "campaign_id": ["cmp_2"], "client_id": ["cl_3"]}


def _sns(message: dict[str, object]) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": json.dumps(message)})


def test_notification_format_hard_bounce_in_sns_envelope() -> None:
    body = _sns(
        {
            "notificationType": "Bounce",
            "bounce": {"bounceType": "Permanent"},
            "mail": {"messageId": "x1", "tags": TAGS},
        }
    )
    event = parse_event(body)
    assert event is not None
    assert (event.kind, event.account_id, event.campaign_id, event.client_id) == (
        "hard_bounce",
        "acc_1",
        "cmp_2",
        "cl_3",
    )


def test_event_format_soft_bounce_and_complaint_raw() -> None:
    soft = parse_event(
        json.dumps({"eventType": "Bounce", "bounce": {"bounceType": "Transient"}, "mail": {"tags": TAGS}})
    )
    complaint = parse_event(json.dumps({"eventType": "Complaint", "complaint": {}, "mail": {"tags": TAGS}}))
    delivery = parse_event(json.dumps({"eventType": "Delivery", "mail": {"messageId": "x", "tags": TAGS}}))
    assert soft is not None and soft.kind == "soft_bounce"
    assert complaint is not None and complaint.kind == "complaint"
    assert delivery is not None and delivery.kind == "delivery" and delivery.message_id == "x"


def test_garbage_is_not_an_event() -> None:
    assert parse_event("not json") is None
    assert parse_event(json.dumps([1, 2])) is None
    untagged = parse_event(json.dumps({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent"}}))
    assert untagged is not None and untagged.account_id is None
