"""SES bounce, complaint and delivery events (SES → SNS → SQS → ``handle_ses_events``).

Both shapes SES publishes are understood: identity notifications
(``notificationType``) and configuration-set events (``eventType``), inside
an SNS envelope or delivered raw. Every marketing e-mail carries the message
tags ``account_id``, ``campaign_id`` and ``client_id``, so an event finds its
delivery by ``GetItem``:

- hard bounce / complaint → the delivery is marked (once), the address is
  suppressed with a ledger event through ``record_consent`` (source
  ``bounce`` / ``complaint``), the day's counters get an ``ADD``, then the
  account's reputation (suspension) and the campaign's circuit breaker are
  checked;
- soft bounce → marked and counted; 3 soft bounces among the client's last 5
  sent messages suppress the address;
- send (published for every e-mail the configuration set sends) / delivery (identity
  notifications) → reconciles a delivery a worker left in ``sending``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import DeliveryStatus
from chalicelib.domain.campaigns import Delivery
from chalicelib.domain.consent import EventType, Source
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics

SOFT_WINDOW = 5
SOFT_LIMIT = 3
# The soft-bounce rule looks through the account's latest campaigns for the client's last
# SOFT_WINDOW sent messages: SOFT_PAGE campaigns a read, at most SOFT_LOOKBACK of them.
SOFT_PAGE = 10
SOFT_LOOKBACK = 50
# How long a transactional e-mail's SES event is remembered as counted (SNS redelivers within hours).
SES_EVENT_MARK_SECONDS = 30 * 86400


@dataclass(frozen=True)
class SesEvent:
    kind: str  # hard_bounce | soft_bounce | complaint | delivery | send | other
    message_id: str | None
    account_id: str | None
    campaign_id: str | None
    client_id: str | None


def _tag(tags: dict[str, Any], name: str) -> str | None:
    value = tags.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def parse_event(body: str) -> SesEvent | None:
    """The SES event in an SQS message body (SNS envelope or raw); ``None`` if not one."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    name = str(data.get("eventType") or data.get("notificationType") or "")
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    kind = "other"
    if name == "Bounce":
        bounce_type = str((data.get("bounce") or {}).get("bounceType") or "")
        kind = "hard_bounce" if bounce_type == "Permanent" else "soft_bounce"
    elif name == "Complaint":
        kind = "complaint"
    elif name in ("Delivery", "Send"):
        kind = name.lower()
    return SesEvent(
        kind=kind,
        message_id=str(mail.get("messageId")) if mail.get("messageId") else None,
        account_id=_tag(tags, "account_id"),
        campaign_id=_tag(tags, "campaign_id"),
        client_id=_tag(tags, "client_id"),
    )


def handle_sqs_event(deps: Deps, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.batch import (
        EventType as BatchEventType,
    )

    def record_handler(record: Any) -> str:
        return handle_event(deps, record.body)

    processor = BatchProcessor(event_type=BatchEventType.SQS)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


def handle_event(deps: Deps, body: str) -> str:
    event = parse_event(body)
    if event is None:
        logger.warning("SES event not understood")
        return "ignored"
    if event.account_id and not event.campaign_id:
        return _transactional(deps, event)
    if not (event.account_id and event.campaign_id and event.client_id):
        logger.info(
            "SES event without campaign tags", extra={"kind": event.kind, "ses_message_id": event.message_id}
        )
        return "untagged"
    ids = {"account_id": event.account_id, "campaign_id": event.campaign_id, "client_id": event.client_id}
    delivery = deps.deliveries.get(event.campaign_id, event.client_id)
    if delivery is None or delivery.account_id != event.account_id:
        logger.warning("SES event for an unknown delivery", extra=ids)
        return "unknown"
    if event.kind in ("send", "delivery"):
        return _reconcile(deps, delivery, event)
    if event.kind == "hard_bounce":
        return _hard(deps, delivery, "hard", EventType.BOUNCED, Source.BOUNCE, ids)
    if event.kind == "complaint":
        return _hard(deps, delivery, "complaint", EventType.COMPLAINED, Source.COMPLAINT, ids)
    if event.kind == "soft_bounce":
        return _soft(deps, delivery, ids)
    return "ignored"


def _transactional(deps: Deps, event: SesEvent) -> str:
    """A bounce or complaint of a transactional e-mail (double opt-in, invitation, test send:
    tagged with the account, no campaign) counts in the account's reputation like a
    campaign's — once per SES message (a marker item) — and suppresses the client it was
    for, if any."""
    from chalicelib.services.suspension import check_reputation

    assert event.account_id is not None
    if event.kind not in ("hard_bounce", "complaint", "soft_bounce"):
        return "noted"
    ids = {"account_id": event.account_id, "kind": event.kind, "ses_message_id": event.message_id}
    marker = f"ses#{event.message_id}#{event.kind}"
    if event.message_id and not deps.throttle.mark_once(marker, deps.clock(), SES_EVENT_MARK_SECONDS):
        return "duplicate"
    now = deps.clock()
    if event.kind == "soft_bounce":
        deps.stats.add(event.account_id, now.date(), soft_bounces=1)
        metrics.add_metric(name="SoftBounces", unit="Count", value=1)
        return "soft"
    hard = event.kind == "hard_bounce"
    if event.client_id:
        try:
            _record(
                deps,
                event.account_id,
                event.client_id,
                EventType.BOUNCED if hard else EventType.COMPLAINED,
                Source.BOUNCE if hard else Source.COMPLAINT,
                None,
            )
        except NotFound:
            pass  # the account is gone
    deps.stats.add(event.account_id, now.date(), **({"hard_bounces": 1} if hard else {"complaints": 1}))
    metrics.add_metric(name="Bounces" if hard else "Complaints", unit="Count", value=1)
    logger.info("SES event of a transactional e-mail", extra=ids)
    check_reputation(deps, event.account_id)
    return "transactional_" + event.kind


def _reconcile(deps: Deps, delivery: Any, event: SesEvent) -> str:
    """A worker died after SES accepted the e-mail: SES's own event proves it was sent."""
    if delivery.status is DeliveryStatus.SENDING:
        from chalicelib.services.sending import SES_EVENT_STEP

        # Won here, counted here (the step id tells the worker's redelivered message it is not
        # its own to count).
        if deps.deliveries.move(
            delivery, DeliveryStatus.SENT, deps.clock(), ses_message_id=event.message_id, step=SES_EVENT_STEP
        ):
            deps.campaigns.add(delivery.account_id, delivery.campaign_id, sent=1)
            logger.info(
                "delivery reconciled from an SES event",
                extra={"campaign_id": delivery.campaign_id, "client_id": delivery.client_id},
            )
            return "reconciled"
    return "noted"


def _record(
    deps: Deps,
    account_id: str,
    client_id: str,
    event_type: EventType,
    source: Source,
    campaign_id: str | None,
    note: str | None = None,
) -> None:
    from chalicelib.services.consent import ConsentChange, record_consent

    account = deps.accounts.get(account_id)
    try:
        record_consent(
            deps,
            account,
            client_id,
            ConsentChange(type=event_type, source=source, campaign_id=campaign_id, note=note),
        )
    except NotFound:
        logger.info("bounce for an erased client", extra={"account_id": account_id, "client_id": client_id})


def _hard(
    deps: Deps, delivery: Any, mark: str, event_type: EventType, source: Source, ids: dict[str, str]
) -> str:
    from chalicelib.services.suspension import check_breaker, check_reputation

    # Ledger + suppression first: a redelivered event may log the evidence twice, but a
    # crash can never leave an address unsuppressed. The mark then counts the event once.
    _record(deps, delivery.account_id, delivery.client_id, event_type, source, delivery.campaign_id)
    first = deps.deliveries.mark(delivery.campaign_id, delivery.client_id, bounce=mark)
    if first:
        now = deps.clock()
        if mark == "hard":
            deps.stats.add(delivery.account_id, now.date(), hard_bounces=1)
            deps.campaigns.add(delivery.account_id, delivery.campaign_id, bounced=1)
            metrics.add_metric(name="Bounces", unit="Count", value=1)
        else:
            deps.stats.add(delivery.account_id, now.date(), complaints=1)
            deps.campaigns.add(delivery.account_id, delivery.campaign_id, complained=1)
            metrics.add_metric(name="Complaints", unit="Count", value=1)
        logger.info(f"SES {mark} processed", extra=ids)
    check_reputation(deps, delivery.account_id)
    if mark == "hard":
        check_breaker(deps, delivery.account_id, delivery.campaign_id)
    return mark


def _latest_sent(deps: Deps, account_id: str, client_id: str) -> list[Delivery]:
    """The client's latest ``SOFT_WINDOW`` sent messages, newest first. The deliveries have no
    index by client: they are looked up in the account's campaigns, newest first (campaign ids
    are ULIDs), ``SOFT_PAGE`` at a time, through at most ``SOFT_LOOKBACK`` campaigns — a Query
    page of campaign keys and one ``BatchGetItem`` a page, only when a soft bounce arrives."""
    sent: list[Delivery] = []
    looked = 0
    for page in deps.campaigns.mailed_newest_first(account_id, page_size=SOFT_PAGE):
        sent += [d for d in deps.deliveries.of_client(client_id, page) if d.status is DeliveryStatus.SENT]
        looked += len(page)
        if len(sent) >= SOFT_WINDOW or looked >= SOFT_LOOKBACK:
            break
    return sent[:SOFT_WINDOW]


def _soft(deps: Deps, delivery: Any, ids: dict[str, str]) -> str:
    if not deps.deliveries.mark(delivery.campaign_id, delivery.client_id, bounce="soft"):
        return "duplicate"
    deps.stats.add(delivery.account_id, deps.clock().date(), soft_bounces=1)
    metrics.add_metric(name="SoftBounces", unit="Count", value=1)
    sent = _latest_sent(deps, delivery.account_id, delivery.client_id)
    soft = sum(1 for d in sent if d.bounce == "soft")
    if soft >= SOFT_LIMIT:
        _record(
            deps,
            delivery.account_id,
            delivery.client_id,
            EventType.BOUNCED,
            Source.BOUNCE,
            delivery.campaign_id,
            note=f"{soft} soft bounces in the last {len(sent)} messages",
        )
        logger.info("address suppressed after soft bounces", extra=ids)
        return "soft_suppressed"
    return "soft"
