"""The send worker: one SQS message = one batch of a campaign's recipients.

For each message the worker reads the account (suspended → the campaign is
paused, nothing is sent) and the campaign (cancelled → what is still queued
is settled as ``failed``/``cancelled``; paused → the message is dropped and
``resume`` re-enqueues every delivery still waiting). Then, per recipient:

1. read the client (fresh consent and suppression) and classify it again;
2. take the batch from the account's daily and hourly caps (warm-up cap for
   new accounts) and book send slots in two shared GCRA buckets — the
   account's rate and the platform's SES rate — with conditional writes, so
   any number of concurrent workers together stay under both rates;
3. per recipient, wait for its slot, win the conditional ``queued →
   sending`` (only one worker can), render, send through SES with the
   List-Unsubscribe headers and message tags, and record ``sending → sent``
   with the SES message id.

A message whose slots are too far ahead, or whose recipients met a cap, SES
throttling or a transient SES error, is never dropped: what is left goes
back on the queue as one continuation message with a delay. SES throttling
puts the delivery back to ``queued`` (SES certainly did not send it) and is
never counted as a failure. A delivery found in ``sending`` (a worker died
around the SES call) is never sent again: it waits for the SES event that
reconciles it, and after ``send_unconfirmed_after_seconds`` is settled as
``failed``/``unconfirmed`` (see docs/ARCHITECTURE.md, "Exactly once").

When the last message of a batch finishes, the batch is counted done once
(marker item + counter in one transaction); when all batches of a finished
fan-out are done, the campaign becomes ``sent`` (reactivation:
``awaiting_responses``).
"""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import (
    CampaignKind,
    CampaignStatus,
    DeliveryStatus,
    finished_sending,
)
from chalicelib.domain.campaigns import NOT_TARGETED, Campaign, Delivery, classify
from chalicelib.domain.records import Account, Client
from chalicelib.domain.throttle import Deferred, Reservation
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics

SEND_QUEUE = "send"
MAX_DELAY = 900  # SQS's longest DelaySeconds
UNSUBSCRIBE_PATH = "/p/unsubscribe/"
PLATFORM_BUCKET = "platform#ses"
SEND_WINDOW_SECONDS = 10.0  # a message books at most this much of its account's rate
LOOKAHEAD = 3  # deliveries claimed ahead of the SES call (see _paced_sends)
SLOT_LEAD_SECONDS = 0.1
MAX_SLOT_LEAD_SECONDS = 5.0


def enqueue_batches(
    deps: Deps,
    campaign: Campaign,
    groups: list[tuple[int, list[str]]],
    *,
    delay: int = 0,
    attempt: int = 0,
    lead: float | None = None,
) -> None:
    bodies = [
        {
            "account_id": campaign.account_id,
            "campaign_id": campaign.campaign_id,
            "batch": batch,
            "client_ids": ids,
            "attempt": attempt,
            **({"lead": lead} if lead is not None else {}),
        }
        for batch, ids in groups
        if ids
    ]
    if bodies:
        deps.queue.send_many(SEND_QUEUE, bodies, delay_seconds=max(0, min(MAX_DELAY, delay)))


@dataclass
class BatchRun:
    """What one message did, and what is left for its continuation."""

    counts: dict[str, int] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    delay: float = 0.0
    retry: bool = False  # SES refused some sends: the continuation counts an attempt
    # How far ahead of now the continuation books its first slot. A message that was late for
    # every slot it booked (its claims took longer than the lead) books further ahead next
    # time, so slow storage delays a batch instead of starving it.
    lead: float | None = None

    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def keep(self, client_id: str, delay: float, *, retry: bool = False) -> None:
        with self.lock:
            if client_id not in self.left:
                self.left.append(client_id)
            self.delay = max(self.delay, delay)
            self.retry = self.retry or retry


def handle_sqs_event(deps: Deps, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``handle_send``'s body: one batch per record; failed records are reported back
    (partial batch response), so only they are redelivered."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def record_handler(record: Any) -> str:
        return process_message(deps, json.loads(record.body))

    processor = BatchProcessor(event_type=EventType.SQS)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


def process_message(deps: Deps, body: dict[str, Any]) -> str:
    account_id, campaign_id = str(body["account_id"]), str(body["campaign_id"])
    batch, attempt = int(body["batch"]), int(body.get("attempt", 0))
    lead = min(MAX_SLOT_LEAD_SECONDS, max(SLOT_LEAD_SECONDS, float(body.get("lead", SLOT_LEAD_SECONDS))))
    ids = [str(i) for i in body["client_ids"]]
    ids_log = {"account_id": account_id, "campaign_id": campaign_id, "batch": batch}
    try:
        account = deps.accounts.get(account_id)
        campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
    except NotFound:
        logger.warning("send message for an unknown campaign", extra=ids_log)
        return "unknown"
    now = deps.clock()
    if account.suspended:
        if campaign.status in (CampaignStatus.SENDING, CampaignStatus.ACTIVE):
            deps.campaigns.move(campaign, CampaignStatus.PAUSED, now, paused_reason="account_suspended")
        logger.info("send stopped: account suspended", extra=ids_log)
        return "suspended"
    if campaign.status is CampaignStatus.CANCELLED:
        run = BatchRun()
        for client_id in ids:
            _settle(deps, campaign, client_id, DeliveryStatus.FAILED, run, reason="cancelled")
        return _finish_message(deps, campaign, batch, attempt, run)
    if campaign.status in (CampaignStatus.PAUSED, CampaignStatus.DRAFT):
        return "paused"  # resume re-enqueues every delivery still queued
    run = BatchRun()
    # A message sends at most one send window of its rate: the rest of a large batch
    # continues at once, unread (it is read, fresh, by the message that sends it).
    window = _window(deps, account)
    for client_id in ids[window:]:
        run.keep(client_id, 0)
    ids = ids[:window]
    clients = deps.client_index.get_many(account_id, ids)
    sendable: list[Client] = []
    consent_only = account.settings.consent_only_campaigns
    for client_id in ids:
        client = clients.get(client_id)
        if client is None:
            _settle(deps, campaign, client_id, DeliveryStatus.FAILED, run, reason="client_erased")
            continue
        status = classify(
            campaign.kind, client.consent_state, client.suppressed, consent_only, pending=client.pending
        )
        if status == NOT_TARGETED:
            _settle(deps, campaign, client_id, DeliveryStatus.SUPPRESSED, run, reason="consent_changed")
        elif status is DeliveryStatus.QUEUED:
            sendable.append(client)
        else:
            assert isinstance(status, DeliveryStatus)
            _settle(deps, campaign, client_id, status, run)
    if sendable:
        _send_all(deps, account, campaign, sendable, attempt, run, lead)
    return _finish_message(deps, campaign, batch, attempt, run)


def _finish_message(deps: Deps, campaign: Campaign, batch: int, attempt: int, run: BatchRun) -> str:
    now = deps.clock()
    if run.counts.get("sent"):
        _count_sent(deps, campaign, run.counts["sent"], now)
    if run.left:
        delay = int(run.delay + 0.999)
        enqueue_batches(
            deps,
            campaign,
            [(batch, run.left)],
            delay=delay,
            attempt=attempt + 1 if run.retry else attempt,
            lead=run.lead,
        )
        deps.campaigns.add(campaign.account_id, campaign.campaign_id, **_report_counts(run.counts))
        return "continued"
    if deps.campaigns.batch_done(campaign, batch, _report_counts(run.counts), now):
        maybe_finish(deps, campaign.account_id, campaign.campaign_id)
    return "done"


def _report_counts(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k in ("sent", "failed", "suppressed", "excluded_no_consent")}


def _count_sent(deps: Deps, campaign: Campaign, sent: int, now: datetime) -> None:
    from chalicelib.services.suspension import after_sends

    totals = deps.stats.add(campaign.account_id, now.date(), sent=sent)
    after_sends(deps, campaign.account_id, sent, totals.get("sent", sent), now)


def _settle(
    deps: Deps,
    campaign: Campaign,
    client_id: str,
    to: DeliveryStatus,
    run: BatchRun,
    *,
    reason: str | None = None,
) -> None:
    """``queued → to``; when the delivery is not queued, find out where it is."""
    queued = Delivery(campaign.campaign_id, client_id, campaign.account_id, DeliveryStatus.QUEUED)
    if deps.deliveries.move(queued, to, deps.clock(), reason=reason):
        run.count(to.value)
        return
    _not_queued(deps, campaign, client_id, run)


def _not_queued(deps: Deps, campaign: Campaign, client_id: str, run: BatchRun) -> None:
    """A delivery this message expected ``queued``: already settled (a duplicate message),
    absent (never fanned out), or stuck in ``sending`` by a worker that died around SES."""
    current = deps.deliveries.get(campaign.campaign_id, client_id)
    if current is None or current.status is not DeliveryStatus.SENDING:
        return
    now = deps.clock()
    started = current.sending_at or now
    unconfirmed_after = timedelta(seconds=deps.settings.send_unconfirmed_after_seconds)
    if now - started < unconfirmed_after:
        # Never send again; wait for the SES event that would reconcile it.
        run.keep(client_id, (started + unconfirmed_after - now).total_seconds())
        return
    if deps.deliveries.move(current, DeliveryStatus.FAILED, now, reason="unconfirmed"):
        run.count("failed")
        logger.warning(
            "delivery outcome unconfirmed",
            extra={"campaign_id": campaign.campaign_id, "client_id": client_id},
        )


def daily_cap(deps: Deps, account: Account, now: datetime) -> int:
    cap = account.settings.daily_send_cap
    if now - account.created_at < timedelta(days=deps.settings.warmup_days):
        cap = min(cap, deps.settings.warmup_daily_cap)
    return cap


def _cap_buckets(account: Account, now: datetime) -> tuple[str, datetime, str, datetime]:
    day_end = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return (
        f"account#{account.account_id}#day#{now:%Y%m%d}",
        day_end,
        f"account#{account.account_id}#hour#{now:%Y%m%d%H}",
        hour_end,
    )


def _window(deps: Deps, account: Account) -> int:
    """How many sends one message books at most: ``SEND_WINDOW_SECONDS`` of its rate."""
    settings = deps.settings
    platform_rate = settings.platform_send_rate_per_second * settings.platform_rate_safety
    return max(1, int(min(account.settings.send_rate_per_second, platform_rate) * SEND_WINDOW_SECONDS))


def _send_all(
    deps: Deps,
    account: Account,
    campaign: Campaign,
    sendable: list[Client],
    attempt: int,
    run: BatchRun,
    lead: float = SLOT_LEAD_SECONDS,
) -> None:
    settings = deps.settings
    now = deps.clock()
    day_key, day_end, hour_key, hour_end = _cap_buckets(account, now)
    account_rate = account.settings.send_rate_per_second
    platform_rate = settings.platform_send_rate_per_second * settings.platform_rate_safety
    wanted = min(len(sendable), _window(deps, account))
    for client in sendable[wanted:]:
        run.keep(client.client_id, 0)  # the rest of a large batch continues at once
    by_day = deps.throttle.take_from_cap(
        day_key, wanted, daily_cap(deps, account, now), day_end + timedelta(days=1)
    )
    admitted = deps.throttle.take_from_cap(
        hour_key, by_day, account.settings.hourly_send_cap, hour_end + timedelta(hours=1)
    )
    deps.throttle.give_back(day_key, by_day - admitted)
    if admitted < wanted:
        wait = (day_end if by_day < wanted else hour_end) - now
        for client in sendable[admitted:wanted]:
            run.keep(client.client_id, wait.total_seconds())
        metrics.add_metric(name="SendCapped", unit="Count", value=wanted - admitted)
    if admitted == 0:
        return
    batch = sendable[:admitted]
    # Book from a moment slightly ahead: the first delivery is claimed and its message built
    # before its slot, so an idle bucket's first slot is not already past when it is used.
    epoch = deps.clock().timestamp() + lead
    wait_limit = settings.send_max_wait_seconds
    # The account's own bucket matters only when its rate is below the platform's: above
    # it, the platform bucket already holds every worker of every account to less.
    mine: Reservation | Deferred | None = None
    if account_rate < platform_rate:
        mine = deps.throttle.reserve_rate(
            f"account#{account.account_id}#rate", admitted, account_rate, epoch, wait_limit
        )
    shared = mine
    if not isinstance(mine, Deferred):
        shared = deps.throttle.reserve_rate(PLATFORM_BUCKET, admitted, platform_rate, epoch, wait_limit)
    if not isinstance(shared, Reservation):
        retry_at = shared.retry_at if isinstance(shared, Deferred) else epoch + 1
        _give_back(deps, day_key, hour_key, admitted)
        for client in batch:
            run.keep(client.client_id, max(1.0, retry_at - epoch))
        metrics.add_metric(name="SendDeferred", unit="Count", value=admitted)
        return

    def slot(index: int) -> float:
        own = mine.slot(index) if isinstance(mine, Reservation) else 0.0
        return max(own, shared.slot(index))

    unused = _paced_sends(deps, account, campaign, batch, slot, attempt, run, lead)
    _give_back(deps, day_key, hour_key, unused)


def late_tolerance(settings: Any) -> float:
    """How late a send may be for its slot. Slots are ``1/(safety·R)`` apart, so a 1-second
    window holds at most ``ceil(safety·R·(1 + T))`` sends that are at most ``T`` late:
    that stays within ``R`` while ``T <= 1/safety - 1`` (0.042 s at 0.96); keep half of it
    for the jitter between the check and SES receiving the call."""
    bound = 0.5 * (1.0 / settings.platform_rate_safety - 1.0)
    return (
        min(settings.send_late_tolerance_seconds, bound)
        if bound > 0
        else settings.send_late_tolerance_seconds
    )


def sent_before_return(run: BatchRun, before: int) -> int:
    return run.counts.get("sent", 0) - before


def _pool() -> ThreadPoolExecutor:
    """Threads that record outcomes (``sending → sent``) and release unsent claims."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="send-io")
    return _POOL


def _claim_pool() -> ThreadPoolExecutor:
    """Threads that only claim and build the next deliveries, so a claim never waits in line
    behind the recording of earlier sends."""
    global _CLAIM_POOL
    if _CLAIM_POOL is None:
        _CLAIM_POOL = ThreadPoolExecutor(max_workers=LOOKAHEAD, thread_name_prefix="send-claim")
    return _CLAIM_POOL


_POOL: ThreadPoolExecutor | None = None
_CLAIM_POOL: ThreadPoolExecutor | None = None


def _paced_sends(
    deps: Deps,
    account: Account,
    campaign: Campaign,
    batch: list[Client],
    slot: Any,
    attempt: int,
    run: BatchRun,
    lead: float = SLOT_LEAD_SECONDS,
) -> int:
    """Send ``batch`` at its booked slots; how many of the slots' cap admissions went unused.

    DynamoDB work runs beside the SES calls: the next ``LOOKAHEAD`` deliveries are
    claimed (``queued → sending``) and their MIME built while the worker waits for the
    current slot, and ``sending → sent`` is recorded after the call, so one worker
    keeps its slots however slow the table is (claims have threads of their own, so they
    never wait in line behind the recording of earlier sends). At most ``LOOKAHEAD`` deliveries are
    claimed ahead of the SES call — the most a crash can leave ``sending`` unsent.
    """
    claim_pool = _claim_pool()
    sent_at_start = run.counts.get("sent", 0)
    claims: dict[int, Future[Prepared | None]] = {}
    records: list[Future[Any]] = []
    tolerance = late_tolerance(deps.settings)

    def claim(index: int) -> None:
        if index < len(batch):
            claims[index] = claim_pool.submit(_prepare, deps, account, campaign, batch[index], run)

    for index in range(LOOKAHEAD):
        claim(index)
    booked = len(batch)
    next_slot = 0
    try:
        for index in range(len(batch)):
            prepared = claims.pop(index).result()
            claim(index + LOOKAHEAD)
            if prepared is None:
                continue
            now = deps.clock().timestamp()
            # A slot we are already late for by more than the tolerance is skipped (left
            # unused): sending in it would bunch sends into other workers' slots.
            while next_slot < booked and now - slot(next_slot) > tolerance:
                next_slot += 1
                run.count("slots_skipped")
            if next_slot == booked:
                late = [prepared] + [f.result() for f in claims.values()]
                claims.clear()
                for item in late:
                    if item is not None:
                        deps.deliveries.move(item.sending, DeliveryStatus.QUEUED, deps.clock(), reason="late")
                # Nothing sent at all means this worker is too slow right now: pause a second
                # rather than book and miss slots again at once.
                pause = 0.0 if sent_before_return(run, sent_at_start) else 1.0
                if not sent_before_return(run, sent_at_start):
                    # Its claims take longer than the lead: book further ahead next time.
                    run.lead = min(MAX_SLOT_LEAD_SECONDS, 2 * (lead + max(0.0, now - slot(0))))
                for rest in batch[index:]:
                    run.keep(rest.client_id, pause)
                metrics.add_metric(name="SendLate", unit="Count", value=len(batch) - index)
                break
            wait = slot(next_slot) - now
            if wait > 0:
                deps.sleep(wait)
            else:
                run.count("slots_late")
            next_slot += 1
            _send_prepared(deps, prepared, attempt, run, records)
    finally:
        # Deliveries claimed ahead but not sent (the loop ended early, e.g. on an error) go
        # back to the queue: SES was never called for them.
        for future in claims.values():
            try:
                item = future.result()
            except Exception:  # noqa: BLE001 — the claim itself failed; nothing to undo
                logger.exception("claiming a delivery failed")
                continue
            if item is not None:
                deps.deliveries.move(item.sending, DeliveryStatus.QUEUED, deps.clock(), reason="released")
        for future in records:
            try:
                future.result()
            except Exception:  # noqa: BLE001 — logged; the delivery waits for its SES event
                logger.exception("recording a send failed")
    return booked - sent_before_return(run, sent_at_start)


def _give_back(deps: Deps, day_key: str, hour_key: str, count: int) -> None:
    if count > 0:
        deps.throttle.give_back(day_key, count)
        deps.throttle.give_back(hour_key, count)


@dataclass(frozen=True)
class Prepared:
    sending: Delivery
    raw: bytes
    sender: str
    to: str
    tags: dict[str, str]


def _prepare(
    deps: Deps, account: Account, campaign: Campaign, client: Client, run: BatchRun
) -> Prepared | None:
    """Win ``queued → sending`` and build the MIME message; ``None`` when the delivery is not
    ours (another worker has it) or the message cannot be built (then it failed)."""
    from chalicelib.domain.campaign_content import TemplateProblem
    from chalicelib.mail.mime import InvalidMail, build_mime

    queued = Delivery(campaign.campaign_id, client.client_id, campaign.account_id, DeliveryStatus.QUEUED)
    now = deps.clock()
    if not deps.deliveries.move(queued, DeliveryStatus.SENDING, now, count_attempt=True):
        _not_queued(deps, campaign, client.client_id, run)
        return None
    sending = replace(queued, status=DeliveryStatus.SENDING)
    tags = {
        "account_id": campaign.account_id,
        "campaign_id": campaign.campaign_id,
        "client_id": client.client_id,
    }
    try:
        mail = compose(deps, account, campaign, client)
        raw = build_mime(mail, now)
    except (InvalidMail, TemplateProblem) as exc:
        deps.deliveries.move(sending, DeliveryStatus.FAILED, deps.clock(), reason=type(exc).__name__)
        run.count("failed")
        metrics.add_metric(name="SendErrors", unit="Count", value=1)
        logger.warning("message could not be built", extra={**tags, "code": type(exc).__name__})
        return None
    return Prepared(sending=sending, raw=raw, sender=mail.sender_email, to=mail.to, tags=tags)


def _send_prepared(
    deps: Deps, prepared: Prepared, attempt: int, run: BatchRun, records: list[Future[Any]] | None = None
) -> bool:
    """Call SES; ``True`` if it accepted the e-mail."""
    from chalicelib.mail.ses import MailRejected, MailThrottled, MailTransient

    sending, ids = prepared.sending, prepared.tags
    try:
        message_id = deps.mailer.send_raw(prepared.raw, sender=prepared.sender, to=[prepared.to], tags=ids)
    except MailThrottled:
        # SES refused the call: it certainly did not send, so the delivery may wait again.
        deps.deliveries.move(sending, DeliveryStatus.QUEUED, deps.clock(), reason="ses_throttled")
        run.keep(sending.client_id, _backoff(attempt), retry=True)
        run.count("throttled")
        metrics.add_metric(name="SendThrottled", unit="Count", value=1)
        return False
    except MailTransient as exc:
        errors = deps.deliveries.requeue_after_transient(sending, deps.clock())
        if errors is not None and errors >= deps.settings.send_max_transient_attempts:
            queued = replace(sending, status=DeliveryStatus.QUEUED)
            deps.deliveries.move(queued, DeliveryStatus.FAILED, deps.clock(), reason=f"ses_{exc.code}"[:64])
            run.count("failed")
            metrics.add_metric(name="SendErrors", unit="Count", value=1)
        elif errors is not None:
            run.keep(sending.client_id, _backoff(attempt), retry=True)
        logger.warning("SES transient error", extra={**ids, "code": exc.code})
        return False
    except MailRejected as exc:
        deps.deliveries.move(sending, DeliveryStatus.FAILED, deps.clock(), reason=str(exc.code)[:64])
        run.count("failed")
        metrics.add_metric(name="SendErrors", unit="Count", value=1)
        logger.warning("send refused by SES", extra={**ids, "code": exc.code})
        return False
    if records is None:
        deps.deliveries.move(sending, DeliveryStatus.SENT, deps.clock(), ses_message_id=message_id)
    else:
        records.append(
            _pool().submit(
                deps.deliveries.move, sending, DeliveryStatus.SENT, deps.clock(), ses_message_id=message_id
            )
        )
    run.count("sent")
    metrics.add_metric(name="EmailsSent", unit="Count", value=1)
    return True


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, 1 s to 60 s."""
    return random.uniform(1.0, min(60.0, 2.0 ** (attempt + 1)))


def unsubscribe_url(deps: Deps, campaign: Campaign, client_id: str) -> str:
    from chalicelib.domain.unsubscribe import mint_unsubscribe

    token = mint_unsubscribe(deps.key_ring, campaign.account_id, campaign.campaign_id, client_id)
    return f"{deps.settings.public_base_url}{UNSUBSCRIBE_PATH}{token}"


def recipient_links(deps: Deps, campaign: Campaign, client_id: str) -> dict[str, str]:
    """The signed links of one recipient's e-mail: unsubscribe, and confirm/decline for a
    reactivation campaign."""
    links = {"unsubscribe_url": unsubscribe_url(deps, campaign, client_id)}
    if campaign.kind is CampaignKind.REACTIVATION:
        from chalicelib.services.reactivation import cta_urls

        links.update(cta_urls(deps, campaign, client_id))
    return links


def compose(
    deps: Deps, account: Account, campaign: Campaign, client: Client, links: dict[str, str] | None = None
) -> Any:
    """The marketing e-mail for one recipient: rendered templates, a visible unsubscribe
    link (the template's own anchor to the recipient's URL, else a ``data-cta="unsubscribe"``
    footer inside the body) and the RFC 8058 headers. ``links`` replaces the recipient's
    signed links (a test send's links record nothing)."""
    from html import escape

    from chalicelib.domain.business import business_context, footer_lines
    from chalicelib.domain.campaign_content import render_message
    from chalicelib.domain.unsubscribe_link import shows_link, with_footer
    from chalicelib.mail.mime import OutgoingMail
    from chalicelib.mail.rendering import Translator, pick_language

    language = pick_language(campaign.language, client.language, account.settings.language)
    links = links or recipient_links(deps, campaign, client.client_id)
    url = links["unsubscribe_url"]
    context = {
        "first_name": client.first_name,
        "last_name": client.last_name,
        "email": client.email,
        "phone": client.phone,
        "language": client.language,
        "status": client.status,
        "auto_status": client.auto_status,
        "fields": dict(client.fields),
        **business_context(account.name, account.settings),
        "unsubscribe_url": url,
        "terms_url": campaign.terms_url,
        "legitimate_interest_url": campaign.legitimate_interest_url,
    }
    if campaign.kind is CampaignKind.REACTIVATION:
        context.update({name: links[name] for name in ("confirm_url", "decline_url")})
    subject_source, html_source = campaign.subject, campaign.html
    if campaign.kind is CampaignKind.REACTIVATION and campaign.language is None:
        from chalicelib.mail.reactivation import localised_default

        subject_source, html_source = localised_default(campaign.subject, campaign.html, language)
    if not html_source.strip():
        # A text-only campaign: its HTML part shows the same text, escaped.
        from chalicelib.domain.campaign_content import render

        text = render(campaign.text or "", context, html=False)
        html_source = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
        html_source = html_source.replace("{", "&#123;").replace("}", "&#125;")
    message = render_message(subject_source, html_source, campaign.text, context)
    t = Translator(language)
    footer_text = t("mail.footer", business=account.name)
    identity = footer_lines(account.settings)
    html = message.html
    if not shows_link(html, url):  # parsed: a marker, a hidden or a foreign link does not count
        # Inside the business's <body> when it wrote a whole document, else at the end.
        details = "".join(f"<br>{escape(line)}" for line in identity)
        html = with_footer(
            html,
            f'<p style="font-size:12px;color:#595959">{escape(footer_text)}{details}<br>'
            f'<a href="{escape(url)}" data-cta="unsubscribe">{escape(t("mail.unsubscribe"))}</a></p>',
        )
    text = message.text
    if url not in text:
        lines = "".join(f"{line}\n" for line in identity)
        text = f"{text.rstrip()}\n\n--\n{footer_text}\n{lines}{t('mail.unsubscribe')}: {url}\n"
    return OutgoingMail(
        sender_email=account.settings.sender_email,
        sender_name=account.settings.sender_name or account.name,
        to=client.email,
        subject=message.subject,
        text=text,
        html=html,
        language=language,
        list_unsubscribe_url=url,
    )


def maybe_finish(deps: Deps, account_id: str, campaign_id: str) -> bool:
    """``sending → sent`` (or ``awaiting_responses``) once the fan-out is done, every batch
    counted done, and — checked by a Query of the campaign's partition — no delivery waits."""
    campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
    if campaign.status is not CampaignStatus.SENDING or not campaign.fanout_done:
        return False
    if campaign.n_batches_done < campaign.n_batches:
        return False
    for status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
        if next(deps.deliveries.of_campaign(campaign_id, status=status), None) is not None:
            logger.info("campaign batches done but deliveries wait", extra={"campaign_id": campaign_id})
            return False
    now = deps.clock()
    target = finished_sending(campaign.kind)
    segment_after = (
        now + timedelta(days=campaign.wait_days or 0) if campaign.kind is CampaignKind.REACTIVATION else None
    )
    if deps.campaigns.finish(campaign, target, now, segment_after):
        logger.info("campaign finished", extra={"campaign_id": campaign_id, "status": target.value})
        metrics.add_metric(name="CampaignsFinished", unit="Count", value=1)
        return True
    return False
