"""Campaigns and their deliveries.

Campaign status changes are conditional updates on the status read. The
report's counters live apart from the campaign item (``CampaignCounterModel``:
small sharded items, atomic ``ADD``s), so a counter update never pays for the
campaign's HTML body and never conflicts with a status change.
Deliveries are written once per (campaign, client) with
``attribute_not_exists`` and then moved by conditional updates on their
current status: of two workers racing for the same delivery, exactly one
wins each step.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus, DeliveryStatus
from chalicelib.domain.campaigns import Campaign, Delivery
from chalicelib.domain.redaction import names_an_address, redact_address
from chalicelib.errors import NotFound
from chalicelib.storage.conversions import Position, loaded_time, position_of, start_after, stored_time
from chalicelib.storage.models import (
    COUNTER_SHARDS,
    CampaignCounterModel,
    CampaignModel,
    DeliveryModel,
    ThrottleModel,
    shard_of,
)
from chalicelib.storage.transactions import Transaction, TransactionFailed

COUNTERS = (
    "sent",
    "failed",
    "suppressed",
    "excluded_no_consent",
    "bounced",
    "complained",
    "unsubscribed",
    "confirmed",
    "declined",
)
# What the counter items hold (``CampaignCounterModel``), besides the fan-out's totals.
COUNTER_FIELDS = (*COUNTERS, "confirmed_after_segment", "batches_done", "recipients")
SETTLED = ("sent", "failed", "suppressed", "excluded_no_consent")
IN_FLIGHT = "sending"
MARKER_DAYS = 30  # how long a step's or batch's "counted" marker is kept
SEGMENT_DUE = "due"
SEND_DUE = "due"
AUTOMATIC_ACTIVE = "active"
# Key attributes of the sparse indexes' items (index key, then table key): a Query's position.
_ACTIVE_KEYS = ("automatic_active", "campaign_id", "account_id")
_SEND_DUE_KEYS = ("send_due", "send_at", "account_id", "campaign_id")
_SEGMENT_DUE_KEYS = ("segment_due", "segment_after", "account_id", "campaign_id")
_UNSENT = (CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value)  # never held a delivery
# What a draft's edit may change (PATCH /v1/campaigns/{id}): its content, never its state.
CONTENT_FIELDS = (
    "name",
    "kind",
    "subject",
    "html",
    "text",
    "language",
    "audience",
    "terms_url",
    "legitimate_interest_url",
    "wait_days",
    "cooldown_days",
)


def _lost(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _campaign(item: CampaignModel) -> Campaign:
    return Campaign(
        account_id=item.account_id,
        campaign_id=item.campaign_id,
        name=item.name,
        kind=CampaignKind(item.kind),
        status=CampaignStatus(item.status),
        subject=item.subject,
        html=item.html,
        text=item.text,
        language=item.language,
        audience=item.audience.as_dict() if item.audience is not None else {},
        terms_url=item.terms_url,
        legitimate_interest_url=item.legitimate_interest_url,
        wait_days=int(item.wait_days) if item.wait_days is not None else None,
        cooldown_days=int(item.cooldown_days) if item.cooldown_days is not None else None,
        segment_after=loaded_time(item.segment_after),
        segment_list_id=item.segment_list_id,
        paused_from=CampaignStatus(item.paused_from) if item.paused_from else None,
        paused_reason=item.paused_reason,
        job_id=item.job_id,
        count_job_id=item.count_job_id,
        fanout_done=bool(item.fanout_done),
        n_recipients=int(item.n_recipients or 0),
        n_batches=int(item.n_batches or 0),
        n_batches_done=int(item.n_batches_done or 0),
        counters={name: int(getattr(item, f"n_{name}") or 0) for name in COUNTERS},
        started_at=loaded_time(item.started_at),
        finished_at=loaded_time(item.finished_at),
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        send_at=loaded_time(item.send_at),
        acknowledged_non_consented=bool(item.acknowledged_non_consented),
        schedule_error=item.schedule_error,
        scheduled_by=item.scheduled_by,
    )


def _delivery(item: DeliveryModel) -> Delivery:
    return Delivery(
        campaign_id=item.campaign_id,
        client_id=item.client_id,
        account_id=item.account_id,
        status=DeliveryStatus(item.status),
        batch=int(item.batch) if item.batch is not None else None,
        reason=item.reason,
        ses_message_id=item.ses_message_id,
        attempts=int(item.attempts or 0),
        response=item.response,
        bounce=item.bounce,
        unsubscribed=bool(item.unsubscribed),
        step=item.step,
        responded_at=loaded_time(item.responded_at),
        queued_at=loaded_time(item.queued_at),
        sending_at=loaded_time(item.sending_at),
        sent_at=loaded_time(item.sent_at),
        updated_at=loaded_time(item.updated_at),
    )


class CampaignRepository:
    def create(self, campaign: Campaign) -> Campaign:
        item = CampaignModel(
            campaign.account_id,
            campaign.campaign_id,
            name=campaign.name,
            kind=campaign.kind.value,
            status=campaign.status.value,
            subject=campaign.subject,
            html=campaign.html,
            text=campaign.text,
            language=campaign.language,
            audience=campaign.audience,
            terms_url=campaign.terms_url,
            legitimate_interest_url=campaign.legitimate_interest_url,
            wait_days=campaign.wait_days,
            cooldown_days=campaign.cooldown_days,
            created_at=stored_time(campaign.created_at),
            updated_at=stored_time(campaign.updated_at),
            names_address=campaign.account_id if names_an_address(campaign.audience) else None,
        )
        item.save(condition=CampaignModel.campaign_id.does_not_exist())
        return _campaign(item)

    def redact_address(self, account_id: str, address: str, marker: str) -> int:
        """Replace ``address`` by ``marker`` in the audiences of the account's campaigns (GDPR
        erasure). Reads only the campaigns whose audience may name an address (sparse index).
        Only the audience changes: a status change or a counter meanwhile is not disturbed.
        Idempotent; returns how many campaigns changed."""
        changed = 0
        for key in CampaignModel.by_address_filter.query(account_id):
            try:
                item = CampaignModel.get(account_id, key.campaign_id, consistent_read=True)
            except DoesNotExist:
                continue
            audience, hit = redact_address(
                item.audience.as_dict() if item.audience is not None else {}, address, marker
            )
            if not hit:
                continue
            flag = CampaignModel.names_address.set(account_id) if names_an_address(audience) else None
            try:
                item.update(
                    actions=[
                        CampaignModel.audience.set(audience),
                        flag or CampaignModel.names_address.remove(),
                    ],
                    condition=CampaignModel.campaign_id.exists(),
                )
            except UpdateError as exc:
                if not _lost(exc):
                    raise
                continue  # deleted meanwhile
            changed += 1
        return changed

    def get(self, account_id: str, campaign_id: str, *, consistent: bool = False) -> Campaign:
        if not campaign_id.startswith("cmp_") or len(campaign_id) > 64:
            raise NotFound("campaign not found")
        try:
            return _campaign(CampaignModel.get(account_id, campaign_id, consistent_read=consistent))
        except DoesNotExist:
            raise NotFound("campaign not found") from None

    def page(
        self, account_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Campaign], dict[str, Any] | None]:
        results = CampaignModel.query(
            account_id, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start_key
        )
        items = [_campaign(item) for item in results]
        return items, results.last_evaluated_key

    def mailed_newest_first(self, account_id: str, *, page_size: int = 100) -> Iterator[list[str]]:
        """The ids of the account's campaigns that may hold deliveries (every one but drafts and
        scheduled ones), newest first (campaign ids are ULIDs), in pages of ``page_size``: one
        ``Query`` of the account's partition asking for the key and the status only (DynamoDB
        still bills each item's whole size). A client's deliveries are found through these
        (``DeliveryRepository.of_client``): the deliveries table has no index by client."""
        results = CampaignModel.query(
            account_id,
            scan_index_forward=False,
            page_size=page_size,
            attributes_to_get=["campaign_id", "status"],
        )
        page: list[str] = []
        for item in results:
            if item.status not in _UNSENT:
                page.append(item.campaign_id)
                if len(page) == page_size:
                    yield page
                    page = []
        if page:
            yield page

    def active_automatic(self, *, after: Position | None = None) -> Iterator[tuple[str, str, Position]]:
        """``(account_id, campaign_id, position)`` of every active automatic campaign (sparse
        index), after the ``position`` of an earlier one."""
        results = CampaignModel.by_automatic_active.query(
            AUTOMATIC_ACTIVE, page_size=100, last_evaluated_key=start_after(after)
        )
        for item in results:
            yield item.account_id, item.campaign_id, position_of(item, _ACTIVE_KEYS)

    def move(
        self,
        campaign: Campaign,
        to: CampaignStatus,
        now: datetime,
        *,
        expected: tuple[CampaignStatus, ...] | None = None,
        extra: list[Any] | None = None,
        paused_reason: str | None = None,
    ) -> bool:
        """Conditional status change from the status read (or one of ``expected``)."""
        item = CampaignModel(campaign.account_id, campaign.campaign_id)
        actions = [CampaignModel.status.set(to.value), CampaignModel.updated_at.set(stored_time(now))]
        if to is CampaignStatus.PAUSED:
            actions.append(CampaignModel.paused_from.set(campaign.status.value))
            actions.append(CampaignModel.paused_reason.set(paused_reason or "staff"))
        elif campaign.status is CampaignStatus.PAUSED:
            actions.append(CampaignModel.paused_from.remove())
            actions.append(CampaignModel.paused_reason.remove())
        if campaign.status is CampaignStatus.SCHEDULED:
            actions.append(CampaignModel.send_due.remove())  # it leaves the schedule's index
        if to is CampaignStatus.SENDING and campaign.started_at is None:
            actions.append(CampaignModel.started_at.set(stored_time(now)))
        if to is CampaignStatus.SENDING:
            actions.append(CampaignModel.in_flight.set(IN_FLIGHT))  # the completion sweep sees it
        elif campaign.status is CampaignStatus.SENDING:
            actions.append(CampaignModel.in_flight.remove())
        if to is CampaignStatus.ACTIVE:
            actions.append(CampaignModel.automatic_active.set(AUTOMATIC_ACTIVE))
        elif campaign.status is CampaignStatus.ACTIVE or to is CampaignStatus.CANCELLED:
            actions.append(CampaignModel.automatic_active.remove())
        actions.extend(extra or [])
        statuses = [s.value for s in (expected or (campaign.status,))]
        try:
            item.update(actions=actions, condition=CampaignModel.status.is_in(*statuses))
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def finish(
        self, campaign: Campaign, to: CampaignStatus, now: datetime, segment_after: datetime | None
    ) -> bool:
        """``sending → sent`` (or ``awaiting_responses``), only once the fan-out is done."""
        item = CampaignModel(campaign.account_id, campaign.campaign_id)
        actions = [
            CampaignModel.status.set(to.value),
            CampaignModel.finished_at.set(stored_time(now)),
            CampaignModel.updated_at.set(stored_time(now)),
            CampaignModel.in_flight.remove(),
        ]
        if segment_after is not None:
            actions += [
                CampaignModel.segment_after.set(stored_time(segment_after)),
                CampaignModel.segment_due.set(SEGMENT_DUE),
            ]
        try:
            item.update(
                actions=actions,
                condition=(CampaignModel.status == CampaignStatus.SENDING.value)
                & (CampaignModel.fanout_done == True),  # noqa: E712 — a DynamoDB condition
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    # ---------------------------------------------------------------- drafts and schedules

    def update_content(self, campaign: Campaign, now: datetime) -> bool:
        """Replace a draft's content (``CONTENT_FIELDS``); ``False`` when it is no longer a draft."""
        actions = []
        for name in CONTENT_FIELDS:
            value = getattr(campaign, name)
            if name == "kind":
                value = value.value
            attribute = getattr(CampaignModel, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        # The erasure index follows the audience: set while it may name an address, else removed.
        if names_an_address(campaign.audience):
            actions.append(CampaignModel.names_address.set(campaign.account_id))
        else:
            actions.append(CampaignModel.names_address.remove())
        actions.append(CampaignModel.updated_at.set(stored_time(now)))
        actions.append(CampaignModel.schedule_error.remove())
        try:
            CampaignModel(campaign.account_id, campaign.campaign_id).update(
                actions=actions, condition=CampaignModel.status == CampaignStatus.DRAFT.value
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def delete_draft(self, account_id: str, campaign_id: str) -> bool:
        """Delete a draft; ``False`` when it is not one (any more)."""
        try:
            CampaignModel(account_id, campaign_id).delete(
                condition=CampaignModel.status == CampaignStatus.DRAFT.value
            )
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def schedule(
        self,
        campaign: Campaign,
        send_at: datetime,
        acknowledged: bool,
        now: datetime,
        actor: str | None = None,
    ) -> bool:
        """``draft|scheduled → scheduled`` at ``send_at`` (in the sparse ``by-send-due`` index)."""
        try:
            CampaignModel(campaign.account_id, campaign.campaign_id).update(
                actions=[
                    CampaignModel.status.set(CampaignStatus.SCHEDULED.value),
                    CampaignModel.send_at.set(stored_time(send_at)),
                    CampaignModel.send_due.set(SEND_DUE),
                    CampaignModel.acknowledged_non_consented.set(1 if acknowledged else 0),
                    CampaignModel.scheduled_by.set(actor) if actor else CampaignModel.scheduled_by.remove(),
                    CampaignModel.schedule_error.remove(),
                    CampaignModel.updated_at.set(stored_time(now)),
                ],
                condition=CampaignModel.status == campaign.status.value,
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def unschedule(self, campaign: Campaign, now: datetime, error: str | None = None) -> bool:
        """``scheduled → draft`` (cancelled, or the send could not start: ``error`` says why)."""
        actions = [
            CampaignModel.status.set(CampaignStatus.DRAFT.value),
            CampaignModel.send_at.remove(),
            CampaignModel.send_due.remove(),
            CampaignModel.acknowledged_non_consented.remove(),
            CampaignModel.scheduled_by.remove(),
            CampaignModel.updated_at.set(stored_time(now)),
        ]
        actions.append(
            CampaignModel.schedule_error.set(error) if error else CampaignModel.schedule_error.remove()
        )
        try:
            CampaignModel(campaign.account_id, campaign.campaign_id).update(
                actions=actions, condition=CampaignModel.status == CampaignStatus.SCHEDULED.value
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def due_to_send(
        self, now: datetime, *, limit: int, after: Position | None = None
    ) -> list[tuple[str, str, Position]]:
        """``(account_id, campaign_id, position)`` of scheduled campaigns whose time has come
        (after ``after``): a Query of the sparse ``by-send-due`` index (no scan), earliest first."""
        results = CampaignModel.by_send_due.query(
            SEND_DUE,
            CampaignModel.send_at <= stored_time(now),
            limit=limit,
            page_size=min(limit, 100),
            last_evaluated_key=start_after(after),
        )
        return [(item.account_id, item.campaign_id, position_of(item, _SEND_DUE_KEYS)) for item in results]

    def set_job(self, account_id: str, campaign_id: str, job_id: str) -> None:
        CampaignModel(account_id, campaign_id).update(actions=[CampaignModel.job_id.set(job_id)])

    def set_count_job(self, account_id: str, campaign_id: str, job_id: str) -> None:
        """Name the campaign's latest audience count (only while the campaign exists)."""
        try:
            CampaignModel(account_id, campaign_id).update(
                actions=[CampaignModel.count_job_id.set(job_id)],
                condition=CampaignModel.campaign_id.exists(),
            )
        except UpdateError as exc:
            if not _lost(exc):
                raise

    # ---------------------------------------------------------------- segmentation (reactivation)

    def due_for_segment(
        self, now: datetime, *, limit: int, after: Position | None = None
    ) -> list[tuple[str, str, Position]]:
        """``(account_id, campaign_id, position)`` of campaigns awaiting responses whose wait is
        over (after ``after``): a Query of the sparse ``by-segment-due`` index (no scan), oldest first."""
        results = CampaignModel.by_segment_due.query(
            SEGMENT_DUE,
            CampaignModel.segment_after <= stored_time(now),
            limit=limit,
            page_size=min(limit, 100),
            last_evaluated_key=start_after(after),
        )
        return [(item.account_id, item.campaign_id, position_of(item, _SEGMENT_DUE_KEYS)) for item in results]

    def set_segment_list(self, campaign: Campaign, list_id: str, now: datetime) -> bool:
        """Name the segment's list (the same id on every run), only while awaiting responses."""
        try:
            CampaignModel(campaign.account_id, campaign.campaign_id).update(
                actions=[
                    CampaignModel.segment_list_id.set(list_id),
                    CampaignModel.updated_at.set(stored_time(now)),
                ],
                condition=CampaignModel.status == CampaignStatus.AWAITING_RESPONSES.value,
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def segmented(self, campaign: Campaign, now: datetime) -> bool:
        """``awaiting_responses → segmented``; the campaign leaves the sparse index."""
        try:
            CampaignModel(campaign.account_id, campaign.campaign_id).update(
                actions=[
                    CampaignModel.status.set(CampaignStatus.SEGMENTED.value),
                    CampaignModel.segment_due.remove(),
                    CampaignModel.updated_at.set(stored_time(now)),
                ],
                condition=CampaignModel.status == CampaignStatus.AWAITING_RESPONSES.value,
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def fanout_finished(
        self,
        account_id: str,
        campaign_id: str,
        recipients: int,
        batches: int,
        *,
        suppressed: int = 0,
        excluded_no_consent: int = 0,
    ) -> None:
        """The fan-out is done: its totals on the campaign item and (``SET``, so a re-run
        changes nothing) on the counters' shard 0, beside what it settled itself."""
        CampaignModel(account_id, campaign_id).update(
            actions=[
                CampaignModel.fanout_done.set(True),
                CampaignModel.n_recipients.set(recipients),
                CampaignModel.n_batches.set(batches),
            ]
        )
        CampaignCounterModel(_counts_key(campaign_id), "0").update(
            actions=[
                CampaignCounterModel.fanout_recipients.set(recipients),
                CampaignCounterModel.fanout_suppressed.set(suppressed),
                CampaignCounterModel.fanout_excluded_no_consent.set(excluded_no_consent),
            ]
        )

    def add(self, account_id: str, campaign_id: str, **counts: int) -> None:
        """Atomic ``ADD`` of report counters (``bounced=1``, ``confirmed=1, declined=-1``…) on
        one shard of the campaign's counter items (a random one: each shard takes a share)."""
        actions = [
            getattr(CampaignCounterModel, name).add(value)
            for name, value in counts.items()
            if value and name in COUNTER_FIELDS
        ]
        if actions:
            shard = str(random.randrange(COUNTER_SHARDS))  # nosec B311 — load spreading, not security
            CampaignCounterModel(_counts_key(campaign_id), shard).update(actions=actions)

    def counters(self, campaign_id: str) -> dict[str, int]:
        """The campaign's counters summed over their shards: one consistent Query of at most
        ``COUNTER_SHARDS`` small items, whatever the campaign's size. ``fanout_done`` is 1 once
        the fan-out's totals are in; ``updated_at`` is the last counted step's time."""
        totals: dict[str, Any] = dict.fromkeys(COUNTER_FIELDS, 0)
        fanout = dict.fromkeys(("fanout_recipients", "fanout_suppressed", "fanout_excluded_no_consent"), 0)
        totals["fanout_done"] = 0
        latest = ""
        for item in CampaignCounterModel.query(_counts_key(campaign_id), consistent_read=True):
            for name in COUNTER_FIELDS:
                totals[name] += int(getattr(item, name) or 0)
            if item.fanout_recipients is not None:
                totals["fanout_done"] = 1
                for name in fanout:
                    fanout[name] = int(getattr(item, name) or 0)
            latest = max(latest, item.updated_at or "")
        totals["suppressed"] += fanout["fanout_suppressed"]
        totals["excluded_no_consent"] += fanout["fanout_excluded_no_consent"]
        totals["fanout_recipients"] = fanout["fanout_recipients"]
        totals["updated_at"] = latest
        return totals

    def with_counters(self, campaign: Campaign) -> Campaign:
        """The campaign with its report counters (the counter items, plus what an older
        campaign kept on its own item)."""
        totals = self.counters(campaign.campaign_id)
        counters = {name: campaign.counters.get(name, 0) + totals[name] for name in COUNTERS}
        counters["confirmed_after_segment"] = totals["confirmed_after_segment"]
        recipients = campaign.n_recipients
        if campaign.kind is CampaignKind.AUTOMATIC:
            recipients += totals["recipients"]
        return replace(
            campaign,
            counters=counters,
            n_recipients=recipients,
            n_batches_done=campaign.n_batches_done + totals["batches_done"],
        )

    def step_counted(self, campaign_id: str, step: str) -> bool:
        """Whether the send message ``step`` has counted its work already (its marker)."""
        try:
            ThrottleModel.get(_step_marker(campaign_id, step), consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def commit_step(
        self,
        campaign: Campaign,
        step: str,
        counts: Mapping[str, int],
        now: datetime,
        *,
        batch: int | None = None,
    ) -> bool:
        """Count what one send message (``step``) settled, exactly once: the step's marker
        (``attribute_not_exists``) and an ``ADD`` on one counter shard in one transaction, so a
        redelivered message adds nothing. ``batch``: the message finished its batch, which is
        counted done once (its own marker: of two messages finishing the same batch, the
        second still counts its deliveries). ``False`` when the step was counted already."""
        expires = now + timedelta(days=MARKER_DAYS)
        shard = shard_of(step, COUNTER_SHARDS)
        for with_batch in (True, False) if batch is not None else (False,):
            tx = Transaction(CampaignModel._get_connection().connection)
            tx.save(
                ThrottleModel(_step_marker(campaign.campaign_id, step), count=1, expires_at=expires),
                "step",
                condition=ThrottleModel.bucket.does_not_exist(),
            )
            actions: list[Any] = [CampaignCounterModel.updated_at.set(stored_time(now))]
            actions += [
                getattr(CampaignCounterModel, name).add(value) for name, value in counts.items() if value
            ]
            if with_batch:
                tx.save(
                    ThrottleModel(
                        f"campaign#{campaign.campaign_id}#batch#{batch}", count=1, expires_at=expires
                    ),
                    "batch",
                    condition=ThrottleModel.bucket.does_not_exist(),
                )
                actions.append(CampaignCounterModel.batches_done.add(1))
            tx.update(CampaignCounterModel(_counts_key(campaign.campaign_id), shard), actions, "counters")
            try:
                tx.commit()
            except TransactionFailed as exc:
                if "step" in exc.labels:
                    return False
                if with_batch and "batch" in exc.labels:
                    continue  # the batch was counted done by another message: count the rest
                raise
            return True
        return False

    def repair(self, campaign_id: str, differences: Mapping[str, int], now: datetime) -> None:
        """Add what the counters lack (the completion sweep found more settled deliveries
        than they hold: a message's count was lost with its worker)."""
        actions: list[Any] = [CampaignCounterModel.updated_at.set(stored_time(now))]
        actions += [getattr(CampaignCounterModel, n).add(v) for n, v in differences.items() if v]
        CampaignCounterModel(_counts_key(campaign_id), "0").update(actions=actions)

    def in_flight(self) -> list[tuple[str, str]]:
        """``(account_id, campaign_id)`` of every campaign now ``sending`` (sparse index)."""
        return [(item.account_id, item.campaign_id) for item in CampaignModel.by_in_flight.query(IN_FLIGHT)]


def new_step() -> str:
    """A send message's own id: what it counts is counted once under it."""
    return uuid.uuid4().hex[:16]


def _counts_key(campaign_id: str) -> str:
    return f"counts#{campaign_id}"


def _step_marker(campaign_id: str, step: str) -> str:
    return f"campaign#{campaign_id}#step#{step}"


class DeliveryRepository:
    def put_new(self, deliveries: list[Delivery], *, expires_at: datetime | None = None) -> list[Delivery]:
        """Write the deliveries that do not exist yet; returns those written.

        Each put is conditional (``attribute_not_exists``): a re-run of the same
        fan-out chunk writes nothing twice and reports only the new ones. ``expires_at``:
        when DynamoDB's TTL deletes them (``None``: kept).
        """
        from concurrent.futures import ThreadPoolExecutor

        def put(delivery: Delivery) -> Delivery | None:
            item = DeliveryModel(
                delivery.campaign_id,
                delivery.client_id,
                account_id=delivery.account_id,
                status=delivery.status.value,
                batch=delivery.batch,
                reason=delivery.reason,
                queued_at=stored_time(delivery.queued_at),
                updated_at=stored_time(delivery.updated_at),
                expires_at=expires_at,
            )
            try:
                item.save(condition=DeliveryModel.client_id.does_not_exist())
            except PutError as exc:
                if _lost(exc):
                    return None
                raise
            return delivery

        # Conditional puts cannot be batched; a few in parallel keep a chunk fast.
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [d for d in pool.map(put, deliveries) if d is not None]

    def get(self, campaign_id: str, client_id: str, *, consistent: bool = True) -> Delivery | None:
        try:
            return _delivery(DeliveryModel.get(campaign_id, client_id, consistent_read=consistent))
        except DoesNotExist:
            return None

    def get_many(self, campaign_id: str, client_ids: list[str]) -> dict[str, Delivery]:
        found: dict[str, Delivery] = {}
        keys = [(campaign_id, client_id) for client_id in dict.fromkeys(client_ids)]
        for i in range(0, len(keys), 100):
            for item in DeliveryModel.batch_get(keys[i : i + 100], consistent_read=True):
                found[item.client_id] = _delivery(item)
        return found

    def of_campaign(self, campaign_id: str, *, status: DeliveryStatus | None = None) -> Iterator[Delivery]:
        """Every delivery of a campaign (a Query of its own partition), optionally by status."""
        condition = (DeliveryModel.status == status.value) if status is not None else None
        for item in DeliveryModel.query(campaign_id, filter_condition=condition, page_size=1000):
            yield _delivery(item)

    def page(
        self, campaign_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Delivery], dict[str, Any] | None]:
        """One page of a campaign's deliveries (a Query of its own partition) and where the
        next page starts (``None`` at the end)."""
        results = DeliveryModel.query(
            campaign_id, limit=limit, page_size=limit, last_evaluated_key=start_key, consistent_read=True
        )
        items = [_delivery(item) for item in results]
        return items, results.last_evaluated_key

    def move(
        self,
        delivery: Delivery,
        to: DeliveryStatus,
        now: datetime,
        *,
        reason: str | None = None,
        ses_message_id: str | None = None,
        count_attempt: bool = False,
        step: str | None = None,
    ) -> bool:
        """Conditional ``delivery.status → to``; ``False`` if the delivery was elsewhere.
        ``step``: the send message moving it (what it settles, it counts)."""
        actions: list[Any] = [
            DeliveryModel.status.set(to.value),
            DeliveryModel.updated_at.set(stored_time(now)),
        ]
        if reason is not None:
            actions.append(DeliveryModel.reason.set(reason))
        if ses_message_id is not None:
            actions.append(DeliveryModel.ses_message_id.set(ses_message_id))
        if to is DeliveryStatus.SENDING:
            actions.append(DeliveryModel.sending_at.set(stored_time(now)))
        if to is DeliveryStatus.SENT:
            actions.append(DeliveryModel.sent_at.set(stored_time(now)))
        if count_attempt:
            actions.append(DeliveryModel.attempts.add(1))
        if step is not None:
            actions.append(DeliveryModel.step.set(step))
        try:
            DeliveryModel(delivery.campaign_id, delivery.client_id).update(
                actions=actions, condition=DeliveryModel.status == delivery.status.value
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def rearm(self, delivery: Delivery, now: datetime) -> bool:
        """Automatic campaigns with a cooldown: ``sent → queued`` again for a new send, only
        if the delivery is still the one read (same ``sent_at``), so one round re-arms it once."""
        assert delivery.sent_at is not None
        try:
            DeliveryModel(delivery.campaign_id, delivery.client_id).update(
                actions=[
                    DeliveryModel.status.set(DeliveryStatus.QUEUED.value),
                    DeliveryModel.queued_at.set(stored_time(now)),
                    DeliveryModel.updated_at.set(stored_time(now)),
                    DeliveryModel.ses_message_id.remove(),
                ],
                condition=(DeliveryModel.status == DeliveryStatus.SENT.value)
                & (DeliveryModel.sent_at == stored_time(delivery.sent_at)),
            )
        except UpdateError as exc:
            if _lost(exc):
                return False
            raise
        return True

    def requeue_after_transient(self, delivery: Delivery, now: datetime) -> int | None:
        """``sending → queued`` after a transient SES failure, counting it; the new count
        (``None`` if the delivery was not ``sending``)."""
        item = DeliveryModel(delivery.campaign_id, delivery.client_id)
        try:
            item.update(
                actions=[
                    DeliveryModel.status.set(DeliveryStatus.QUEUED.value),
                    DeliveryModel.reason.set("ses_transient"),
                    DeliveryModel.updated_at.set(stored_time(now)),
                    DeliveryModel.transient_errors.add(1),
                ],
                condition=DeliveryModel.status == DeliveryStatus.SENDING.value,
            )
        except UpdateError as exc:
            if _lost(exc):
                return None
            raise
        return int(item.transient_errors or 0)

    def mark(self, campaign_id: str, client_id: str, **values: Any) -> Delivery | None:
        """Set event marks (``bounce``, ``unsubscribed``, ``response``) on an existing delivery:
        the delivery as it now is, or ``None`` when the first mark already had that value (so
        counters are added once)."""
        actions = [getattr(DeliveryModel, name).set(value) for name, value in values.items()]
        name, value = next(iter(values.items()))
        attribute = getattr(DeliveryModel, name)
        condition = DeliveryModel.client_id.exists() & (attribute.does_not_exist() | (attribute != value))
        item = DeliveryModel(campaign_id, client_id)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _lost(exc):
                return None
            raise
        return _delivery(item)

    def of_client(self, client_id: str, campaign_ids: list[str]) -> list[Delivery]:
        """The client's deliveries of these campaigns, in their order (``BatchGetItem``, 100
        keys a call, eventually consistent; a key with no delivery is billed as a read)."""
        found: dict[str, Delivery] = {}
        keys = [(campaign_id, client_id) for campaign_id in dict.fromkeys(campaign_ids)]
        for i in range(0, len(keys), 100):
            for item in DeliveryModel.batch_get(keys[i : i + 100]):
                found[item.campaign_id] = _delivery(item)
        return [found[campaign_id] for campaign_id in campaign_ids if campaign_id in found]
