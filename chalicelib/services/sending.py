"""The send worker: one SQS message = one batch of a campaign's recipients.

For each message the worker reads the account (suspended → the campaign is
paused, nothing is sent) and the campaign (cancelled → what is still queued
is settled as ``failed``/``cancelled``; paused → the message is dropped and
``resume`` re-enqueues every delivery still waiting), and checks that the
account's sender address is on one of its verified sender domains (else the
campaign pauses with ``paused_reason: sender_not_verified``). Then:

1. the message takes its place in the account's queue (``Pacer.admit``): a
   message whose turn is more than a moment away goes back to the queue with
   a delay until then, its clients unread; so does one whose send slots are
   not to be had within a worker's wait (``Pacer.blocked``: the account's or
   the platform's bucket booked too far ahead — one read of both, before any
   client is read or delivery claimed);
2. it reads its clients (fresh consent and suppression), classifies them
   again, and takes them from the account's daily and hourly caps (the
   warm-up cap of a young account included: ``services.limits``);
3. it sends them group by group (``services.pacing``): the account's slots at
   its fair share of the platform, then — just in time — as many platform
   slots; each delivery is won with the conditional ``queued → sending``
   (only one worker can), rendered, sent through SES at its platform slot
   (or its slot skipped, never sent late) and recorded ``sending → sent``.

A message whose slots are too far ahead, or whose recipients met a cap, SES
throttling or a transient SES error, is never dropped: what is left goes
back on the queue as one continuation message with a delay. SES throttling
puts the delivery back to ``queued`` (SES certainly did not send it) and is
never counted as a failure. An SES refusal that concerns the whole account
or sender (``MailAccountProblem``: unverified sender, paused sending, MAIL
FROM not verified, configuration set missing) puts the delivery back to
``queued`` and pauses the campaign with that reason (metric
``SendingBlocked``, alarmed): nobody fails, and ``resume`` after the fix
sends each waiting recipient once. A delivery found in ``sending`` (a worker
died around the SES call, or SES's answer was lost) is never sent again: it
waits for the SES event that reconciles it, and after
``send_unconfirmed_after_seconds`` is settled as ``failed``/``unconfirmed``
(see docs/ARCHITECTURE.md, "Exactly once").

One invocation handles up to ``MESSAGES_PER_INVOCATION`` messages at once (a
thread each): a worker mostly waits for its slots, so one Lambda paces the
messages of several accounts side by side.

Counting, exactly once. Every message has a step id of its own (a
continuation gets a new one). What a message settles (sent, failed,
suppressed, excluded) is counted in memory, each delivery it moves carrying
the step id, and added to the campaign's counter items when the message ends:
the step's marker (``attribute_not_exists``) and one ``ADD`` in one
transaction (``CampaignRepository.commit_step``), so a redelivered message
adds nothing; one that died before its count recovers, from the deliveries
that carry its own step id, what it had settled. Completion comes from the
counters: once the fan-out's total is in and the settled deliveries reach it,
the message that finished last (or the fan-out, or the completion sweep when
that message died: ``finish_stalled_campaigns``) moves the campaign
``sending → sent`` (reactivation: ``awaiting_responses``), conditionally, once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_calls
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import (
    CampaignKind,
    CampaignStatus,
    DeliveryStatus,
    finished_sending,
)
from chalicelib.domain.campaigns import NOT_TARGETED, Campaign, Delivery, classify
from chalicelib.domain.limits import InForce
from chalicelib.domain.pacing import late_tolerance as _late_tolerance
from chalicelib.domain.records import Account, Client
from chalicelib.domain.throttle import Deferred
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.queue import Received
from chalicelib.storage.campaigns import SETTLED, new_step

if TYPE_CHECKING:  # imported where it is used, to keep it out of cold start
    from chalicelib.services.pacing import Pacer

SEND_QUEUE = "send"
MAX_DELAY = 900  # SQS's longest DelaySeconds
UNSUBSCRIBE_PATH = "/p/unsubscribe/"
SEND_WINDOW_SECONDS = 10.0  # a message sends at most this much of its account's pace
# A message whose turn is further off waits on the queue instead; one within it waits in its
# worker, so an account's next message is in hand when the current one ends (see process_message).
ADMIT_AHEAD_SECONDS = 6.0
# A message stops booking this long after its worker got it, whatever its window says: its wait
# for its turn, its window and the last answers fit in the Lambda's 30 s.
MESSAGE_LIFETIME_SECONDS = 22.0
# A message waiting in hand for its turn looks at its account's share this often; a rise of more
# than this share brings its turn nearer (``_wait_for_turn``).
TURN_CHECK_SECONDS = 0.5
TURN_PACE_CHANGE = 0.05
# A message that ends this much before its estimate in the account's queue hands the rest back
# (one conditional write); less is not worth the write.
QUEUE_RELEASE_MIN_SECONDS = 0.5
LOOKAHEAD = 3  # deliveries claimed ahead of the SES call (see _paced_sends)
IN_FLIGHT = 4  # SES calls one message may have outstanding at once (see _paced_sends)
# A call is made on the message's own thread only while this many of SES's answer times (a
# moving average) fit before the next slot; else on the pool (see _paced_sends).
INLINE_MARGIN = 2.0
MESSAGES_PER_INVOCATION = 10  # handle_send's SQS batch size: messages paced side by side
# An invocation that takes more messages itself (``Feed``) ends by a share of its timeout drawn
# between these two (under the duration alarm's 80 %)…
FEED_TIMEOUT_SHARE = 0.75
FEED_END_SPREAD = 0.7
FEED_FINISH_SECONDS = 5.0  # …its messages booking nothing in the last seconds (last answers, counts)
# A message is taken only while it can run its whole lifetime before ``send_until``: the messages
# of an invocation end one by one, as they began (each one's successor is taken by an invocation
# still taking), not all at once at its end — which stopped a worker's sending for seconds.
FEED_LAST_TAKE_SECONDS = MESSAGE_LIFETIME_SECONDS
# How often free slots look at the queue while messages run (also each time one ends).
FEED_POLL_SECONDS = 2.0
UNKNOWN_OUTCOME_RECHECK = 60.0  # seconds before a delivery whose SES answer was lost is looked at
STALLED_CAMPAIGN = timedelta(minutes=15)  # no step counted this long: the sweep looks at the deliveries
SES_EVENT_STEP = "ses-event"  # the step id of a delivery SES's own Send event moved to sent (counted there)


def enqueue_batches(
    deps: Deps, campaign: Campaign, groups: list[tuple[int, list[str]]], *, delay: int = 0, attempt: int = 0
) -> None:
    bodies = [
        {
            "account_id": campaign.account_id,
            "campaign_id": campaign.campaign_id,
            "batch": batch,
            "client_ids": ids,
            "attempt": attempt,
            "step": new_step(),
        }
        for batch, ids in groups
        if ids
    ]
    if bodies:
        deps.queue.send_many(SEND_QUEUE, bodies, delay_seconds=max(0, min(MAX_DELAY, delay)))


@dataclass
class BatchRun:
    """What one message did, and what is left for its continuation."""

    step: str = ""  # the message's step id: the deliveries it moves carry it
    # ``sent``: e-mails SES accepted (pacing, the account's day); ``recorded``: the ``sending →
    # sent`` this message won (the campaign's report). The other names are settled statuses.
    counts: dict[str, int] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    delay: float = 0.0
    retry: bool = False  # SES refused some sends: the continuation counts an attempt
    stop: str | None = None  # an account-level SES refusal: the campaign pauses with this reason
    deadline: float = float("inf")  # no group is booked after this (epoch seconds)

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


@dataclass(frozen=True)
class Feed:
    """How an invocation takes more messages from the send queue itself, while it has time.

    A worker is free only when its whole invocation ends; with messages that each run up to
    ``MESSAGE_LIFETIME_SECONDS``, an account's next message often sat on the queue while every
    worker's invocation still had a long message running. So an invocation whose function has
    the time (the prod stage's send function: 120 s) keeps its slots full: when one of its
    messages ends, it takes the next ones itself until ``take_until``, early enough for a
    message taken then to run its whole lifetime before ``send_until`` (which every message of
    the invocation is also given as its deadline: nothing books after it). Its messages then end
    one by one, as they began, their successors taken by invocations still taking. The end is
    drawn at random between ``FEED_END_SPREAD`` and 1 of ``FEED_TIMEOUT_SHARE`` of the timeout,
    so the workers' invocations, started together, do not all stop taking at the same moment.
    What it took it deletes once handled; one that failed stays on the queue and comes back
    after its visibility timeout, as a batch item failure does (and counts toward the
    dead-letter queue's ``maxReceiveCount`` the same way)."""

    receive: Callable[[int], list[Received]]
    delete: Callable[[list[str]], None]  # receipt handles, up to 10
    send_until: float  # on ``clock``: no message of the invocation books a group after this
    take_until: float  # on ``clock``: nothing is taken from the queue after this
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_lambda(
        cls, deps: Deps, context: Any, draw: Callable[[float, float], float] = random.uniform
    ) -> Feed | None:
        """The feed of a Lambda invocation from its ``context``; ``None`` when the function's
        timeout is not longer than what one message may take (the 30 s of the other stages'
        functions): its messages then run ``MESSAGE_LIFETIME_SECONDS`` each, as before."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return None
        budget = remaining() / 1000.0
        if budget * FEED_TIMEOUT_SHARE * FEED_END_SPREAD - FEED_FINISH_SECONDS <= FEED_LAST_TAKE_SECONDS:
            return None
        now = time.monotonic()
        send_until = now + budget * FEED_TIMEOUT_SHARE * draw(FEED_END_SPREAD, 1.0) - FEED_FINISH_SECONDS
        queue = deps.queue
        return cls(
            receive=lambda n: queue.receive(SEND_QUEUE, n),
            delete=lambda handles: queue.delete(SEND_QUEUE, handles),
            send_until=send_until,
            take_until=send_until - FEED_LAST_TAKE_SECONDS,
        )

    def deadline(self, now: float) -> float:
        """``send_until`` on the epoch clock whose ``now`` is given."""
        return now + (self.send_until - self.clock())


def handle_sqs_event(deps: Deps, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``handle_send``'s body: its messages processed side by side (a thread each: they mostly
    wait for their send slots), more taken from the queue while the invocation has time
    (``Feed``); failed records of the event are reported back (partial batch response), so only
    they are redelivered."""
    records = list(event.get("Records") or [])
    messages = [(str(r.get("messageId")), str(r.get("body"))) for r in records]
    return process_bodies(deps, messages, Feed.for_lambda(deps, context))


def process_bodies(deps: Deps, messages: list[tuple[str, str]], feed: Feed | None = None) -> dict[str, Any]:
    """Process ``(message_id, body)`` pairs side by side; the partial batch response. With a
    ``feed``, each slot a message frees is filled from the queue while ``feed.take_until`` allows
    and another message still runs (an invocation with nothing left running ends: Lambda's poller
    starts the next one when there is work)."""

    def attempt(message: tuple[str, str]) -> bool:
        try:
            deadline = None if feed is None else feed.deadline(deps.clock().timestamp())
            process_message(deps, json.loads(message[1]), deadline)
        except Exception:  # noqa: BLE001 — reported as a batch item failure; SQS redelivers it
            logger.exception("send message failed", extra={"message_id": message[0]})
            return False
        return True

    if feed is None and len(messages) <= 1:
        outcomes = {m[0]: attempt(m) for m in messages}  # on this thread: nothing to pace beside it
    else:
        outcomes = _side_by_side(messages, feed, attempt)
    # Every failed message is listed (all of them, if all failed): SQS redelivers exactly those.
    return {"batchItemFailures": [{"itemIdentifier": m[0]} for m in messages if not outcomes[m[0]]]}


def _side_by_side(
    messages: list[tuple[str, str]], feed: Feed | None, attempt: Callable[[tuple[str, str]], bool]
) -> dict[str, bool]:
    """The event's messages and those ``feed`` brings (if any), ``MESSAGES_PER_INVOCATION`` at a
    time; the event's outcomes (the fed ones are deleted here when they succeed)."""
    outcomes: dict[str, bool] = {}
    taken = 0
    with ThreadPoolExecutor(max_workers=MESSAGES_PER_INVOCATION, thread_name_prefix="send-message") as pool:
        running: dict[Future[bool], tuple[str, str | None]] = {
            pool.submit(attempt, m): (m[0], None) for m in messages
        }
        while running:
            ended, _ = wait_for_calls(list(running), timeout=FEED_POLL_SECONDS, return_when=FIRST_COMPLETED)
            handled: list[str] = []
            for future in ended:
                message_id, handle = running.pop(future)
                ok = future.result()
                if handle is None:
                    outcomes[message_id] = ok
                elif ok:
                    handled.append(handle)
            if handled and feed is not None:
                try:
                    feed.delete(handled)
                except Exception:  # noqa: BLE001 — they come back later: duplicate steps, harmless
                    logger.exception("could not delete handled send messages")
            free = MESSAGES_PER_INVOCATION - len(running)
            if feed is None or not running or free <= 0 or feed.clock() >= feed.take_until:
                continue
            try:
                received = feed.receive(free)
            except Exception:  # noqa: BLE001 — the queue is unwell: finish what runs, take nothing more
                logger.exception("could not take more send messages")
                feed = replace(feed, take_until=float("-inf"))
                continue
            for message in received:
                running[pool.submit(attempt, (message.message_id, message.body))] = (
                    message.message_id,
                    message.receipt_handle,
                )
            taken += len(received)
    if taken:
        metrics.add_metric(name="SendMessagesTaken", unit="Count", value=taken)
    return outcomes


def process_message(deps: Deps, body: dict[str, Any], deadline: float | None = None) -> str:
    """Send one message's recipients (see the module's docstring); ``deadline`` (epoch seconds):
    its invocation's ``send_until`` — it books nothing after it, nor after its own lifetime."""
    account_id, campaign_id = str(body["account_id"]), str(body["campaign_id"])
    batch, attempt = int(body["batch"]), int(body.get("attempt", 0))
    ids = [str(i) for i in body["client_ids"]]
    step = str(body.get("step") or _legacy_step(batch, attempt, ids))
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
        run = BatchRun(step=step)
        for client_id in ids:
            _settle(deps, campaign, client_id, DeliveryStatus.FAILED, run, reason="cancelled")
        return _finish_message(deps, campaign, batch, attempt, run)
    if campaign.status in (CampaignStatus.PAUSED, CampaignStatus.DRAFT):
        return "paused"  # resume re-enqueues every delivery still queued
    from chalicelib.services.limits import limits_in_force
    from chalicelib.services.pacing import Pacer, queue_bucket
    from chalicelib.services.sender_domains import sender_problem

    problem = sender_problem(deps, account)
    if problem is not None:
        # Defence in depth: settings accept only a verified domain of the account, but a
        # domain can be removed or lose its verification; nothing goes out as another sender.
        pause_for_sending_problem(deps, campaign, problem)
        return "paused"
    limits = limits_in_force(deps, account, now)
    pacer = Pacer(deps, account_id, limits.send_rate_per_second)
    # It books nothing after its lifetime, nor after its invocation's ``send_until`` (``Feed``).
    lifetime = now.timestamp() + MESSAGE_LIFETIME_SECONDS
    run = BatchRun(step=step, deadline=lifetime if deadline is None else min(lifetime, deadline))
    pace = pacer.share()
    # A message sends at most one window of its pace: the rest of a large batch continues
    # at once, unread (it is read, fresh, by the message that sends it).
    window = max(1, int(pace * SEND_WINDOW_SECONDS))
    place = pacer.admit(min(len(ids), window), ADMIT_AHEAD_SECONDS)
    if isinstance(place, Deferred):
        # The account's earlier messages fill its next moments: back to the queue until its
        # turn, nothing read.
        delay = max(1.0, place.retry_at - deps.clock().timestamp())
        for client_id in ids:
            run.keep(client_id, delay)
        metrics.add_metric(name="SendDeferred", unit="Count", value=len(ids))
        return _finish_message(deps, campaign, batch, attempt, run)
    wait = place.start - deps.clock().timestamp()
    if wait > 0:
        # Its turn is near: the message waits for it here, in hand, instead of going back to the
        # queue — a worker is free only when its whole invocation ends, so a message sent back
        # would start whenever one happens to be, its account idle until then.
        _wait_for_turn(deps, pacer, place.start, pace)
    rest, ids = ids[window:], ids[:window]
    blocked = pacer.blocked(deps.settings.send_max_wait_seconds)
    if blocked is not None:
        # No slots within a worker's wait (other tenants hold the platform, or this account's
        # pace): back to the queue until then, its clients unread and nothing claimed; its
        # place in the account's queue is handed back.
        delay = max(1.0, blocked.retry_at - deps.clock().timestamp())
        for client_id in ids + rest:
            run.keep(client_id, delay)
        deps.throttle.release_rate(queue_bucket(account_id), place.new_tat, place.start)
        metrics.add_metric(name="SendDeferred", unit="Count", value=len(ids))
        return _finish_message(deps, campaign, batch, attempt, run)
    if deps.campaigns.step_counted(campaign_id, step):
        # A redelivered message that had counted its work: nothing left to do but the check
        # its first delivery may have died before.
        maybe_finish(deps, account_id, campaign_id, campaign=campaign)
        return "duplicate"
    if rest:
        # What does not fit in this message's window goes on now, not when the message ends: it
        # comes back from the queue in time to wait for its turn in a worker (this message's
        # estimated end), so the account's sending has no gap between the two. (Should this
        # message die and be redelivered, the rest is enqueued twice: the ``queued → sending``
        # claim still sends each e-mail once.)
        back_in = place.new_tat - ADMIT_AHEAD_SECONDS - deps.clock().timestamp()
        enqueue_batches(deps, campaign, [(batch, rest)], delay=max(0, int(back_in)), attempt=attempt)
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
    sent_before = run.counts.get("sent", 0)
    if sendable:
        _send_all(deps, account, campaign, sendable, limits, pacer, attempt, run)
    unsent = len(ids) - (run.counts.get("sent", 0) - sent_before)
    # The account's queue expected this message to end at ``place.new_tat`` (its window at the
    # pace it was admitted at). It ended now, or left ``unsent`` recipients to a continuation:
    # hand back the rest of the estimate if it is still the account's last booking, so the
    # next message does not wait for nothing — also when the account's pace rose meanwhile
    # (the accounts it shared the platform with finished, and its groups went at their
    # rate): the next message then starts now, not when this one was expected to end.
    end = max(place.start, min(deps.clock().timestamp(), place.new_tat - unsent * place.interval))
    if place.new_tat - end > QUEUE_RELEASE_MIN_SECONDS:
        deps.throttle.release_rate(queue_bucket(account_id), place.new_tat, end)
    return _finish_message(deps, campaign, batch, attempt, run)


def _legacy_step(batch: int, attempt: int, ids: list[str]) -> str:
    """The step id of a message enqueued before messages carried one: the same for a
    redelivery of it, another for its continuations (fewer ids)."""
    import hashlib

    digest = hashlib.sha256("|".join([str(batch), str(attempt), *ids]).encode()).hexdigest()
    return f"legacy-{digest[:16]}"


def pause_for_sending_problem(deps: Deps, campaign: Campaign, reason: str) -> bool:
    """Pause a campaign that SES (or the sender check) will not send for, whoever the
    recipient: its deliveries stay ``queued`` for ``resume``. Metric ``SendingBlocked``."""
    current = deps.campaigns.get(campaign.account_id, campaign.campaign_id, consistent=True)
    if current.status not in (CampaignStatus.SENDING, CampaignStatus.ACTIVE):
        return False
    moved = deps.campaigns.move(current, CampaignStatus.PAUSED, deps.clock(), paused_reason=reason)
    if moved:
        logger.warning(
            "campaign paused: the account's sender cannot send",
            extra={"account_id": campaign.account_id, "campaign_id": campaign.campaign_id, "reason": reason},
        )
        metrics.add_metric(name="SendingBlocked", unit="Count", value=1)
    return moved


def _wait_for_turn(deps: Deps, pacer: Pacer, start: float, pace: float) -> None:
    """Sleep until ``start``, the account's turn as its queue estimated it at ``pace``.

    The messages ahead of this one send at the account's share of the platform; when it rises
    meanwhile (other accounts finished: at the end of a busy moment every remaining account's
    share grows several times over), they end sooner by the same factor, and so does the wait —
    else the account would sit idle until the old estimate, alone on the platform, while its
    next message slept in hand (seen as the last seconds of a 10-account run going at a third
    of the rate). The share comes from this process's copy of the registry (``Pacer.share``):
    looking costs nothing more than the sends already pay for."""
    left = start - deps.clock().timestamp()
    while left > 0:  # counted by what was slept, whatever the clock does meanwhile
        step = min(left, TURN_CHECK_SECONDS)
        deps.sleep(step)
        left -= step
        current = pacer.share(deps.clock().timestamp())
        if left > 0 and current > pace * (1 + TURN_PACE_CHANGE):
            left *= pace / current
            pace = current


def _finish_message(deps: Deps, campaign: Campaign, batch: int, attempt: int, run: BatchRun) -> str:
    now = deps.clock()
    if run.counts.get("sent"):
        _count_sent(deps, campaign, run.counts["sent"], now)
    counts = _report_counts(run.counts)
    if run.stop is not None:
        # SES refuses this sender: the campaign pauses; what is left stays queued for resume.
        pause_for_sending_problem(deps, campaign, run.stop)
        _commit(deps, campaign, run, counts, now)
        return "paused"
    if run.left:
        delay = int(run.delay + 0.999)
        enqueue_batches(
            deps, campaign, [(batch, run.left)], delay=delay, attempt=attempt + 1 if run.retry else attempt
        )
        _commit(deps, campaign, run, counts, now)
        return "continued"
    deps.campaigns.commit_step(campaign, run.step, counts, now, batch=batch)
    maybe_finish(deps, campaign.account_id, campaign.campaign_id, campaign=campaign)
    return "done"


def _commit(deps: Deps, campaign: Campaign, run: BatchRun, counts: dict[str, int], now: datetime) -> None:
    """Count what the message settled (nothing to write when it settled nothing: a deferred
    message only goes back to the queue)."""
    if any(counts.values()):
        deps.campaigns.commit_step(campaign, run.step, counts, now)


def _report_counts(counts: dict[str, int]) -> dict[str, int]:
    """The campaign counters of what a message settled (``recorded``: its ``sending → sent``)."""
    report = {k: v for k, v in counts.items() if k in ("failed", "suppressed", "excluded_no_consent")}
    report["sent"] = counts.get("recorded", 0)
    return {k: v for k, v in report.items() if v}


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
    if deps.deliveries.move(queued, to, deps.clock(), reason=reason, step=run.step):
        run.count(to.value)
        return
    _not_queued(deps, campaign, client_id, run)


def _not_queued(deps: Deps, campaign: Campaign, client_id: str, run: BatchRun) -> None:
    """A delivery this message expected ``queued``: already settled (a duplicate message),
    absent (never fanned out), or stuck in ``sending`` by a worker that died around SES.
    Settled by this very step (its first delivery died before counting): counted now."""
    current = deps.deliveries.get(campaign.campaign_id, client_id)
    if current is None:
        return
    if current.status is not DeliveryStatus.SENDING:
        if current.step == run.step and current.status.value in SETTLED:
            run.count("recorded" if current.status is DeliveryStatus.SENT else current.status.value)
        return
    now = deps.clock()
    started = current.sending_at or now
    unconfirmed_after = timedelta(seconds=deps.settings.send_unconfirmed_after_seconds)
    if now - started < unconfirmed_after:
        # Never send again; wait for the SES event that would reconcile it.
        run.keep(client_id, (started + unconfirmed_after - now).total_seconds())
        return
    if deps.deliveries.move(current, DeliveryStatus.FAILED, now, reason="unconfirmed", step=run.step):
        run.count("failed")
        logger.warning(
            "delivery outcome unconfirmed",
            extra={"campaign_id": campaign.campaign_id, "client_id": client_id},
        )


def cap_buckets(account_id: str, now: datetime) -> tuple[str, datetime, str, datetime]:
    """The account's daily and hourly cap windows at ``now``: keys and ends."""
    day_end = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return (
        f"account#{account_id}#day#{now:%Y%m%d}",
        day_end,
        f"account#{account_id}#hour#{now:%Y%m%d%H}",
        hour_end,
    )


def take_caps(deps: Deps, account_id: str, limits: InForce, wanted: int, now: datetime) -> tuple[int, float]:
    """Take up to ``wanted`` sends from the account's daily and hourly caps: how many were
    admitted, and in how many seconds the cap that refused the rest opens again."""
    day_key, day_end, hour_key, hour_end = cap_buckets(account_id, now)
    by_day = deps.throttle.take_from_cap(day_key, wanted, limits.daily_send_cap, day_end + timedelta(days=1))
    admitted = deps.throttle.take_from_cap(
        hour_key, by_day, limits.hourly_send_cap, hour_end + timedelta(hours=1)
    )
    deps.throttle.give_back(day_key, by_day - admitted)
    reopens = ((day_end if by_day < wanted else hour_end) - now).total_seconds()
    return admitted, reopens


def give_back_caps(deps: Deps, account_id: str, now: datetime, count: int) -> None:
    """Return cap admissions of sends that did not happen after all."""
    if count > 0:
        day_key, _, hour_key, _ = cap_buckets(account_id, now)
        deps.throttle.give_back(day_key, count)
        deps.throttle.give_back(hour_key, count)


def _send_all(
    deps: Deps,
    account: Account,
    campaign: Campaign,
    sendable: list[Client],
    limits: InForce,
    pacer: Any,
    attempt: int,
    run: BatchRun,
) -> None:
    now = deps.clock()
    admitted, reopens = take_caps(deps, account.account_id, limits, len(sendable), now)
    if admitted < len(sendable):
        for client in sendable[admitted:]:
            run.keep(client.client_id, reopens)
        metrics.add_metric(name="SendCapped", unit="Count", value=len(sendable) - admitted)
    if admitted == 0:
        return
    unused = _paced_sends(deps, account, campaign, sendable[:admitted], pacer, attempt, run)
    give_back_caps(deps, account.account_id, now, unused)


def late_tolerance(settings: Any) -> float:
    """How late a send may be for its platform slot (``domain.pacing.late_tolerance``)."""
    return _late_tolerance(settings.platform_rate_safety, settings.send_late_tolerance_seconds)


def _pool() -> ThreadPoolExecutor:
    """Threads that record outcomes (``sending → sent``) and release unsent claims."""
    global _POOL
    with _POOLS_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="send-io")
        return _POOL


def _claim_pool() -> ThreadPoolExecutor:
    """Threads that only claim and build the next deliveries, so a claim never waits in line
    behind the recording of earlier sends (``LOOKAHEAD`` per message of an invocation)."""
    global _CLAIM_POOL
    with _POOLS_LOCK:
        if _CLAIM_POOL is None:
            _CLAIM_POOL = ThreadPoolExecutor(
                max_workers=LOOKAHEAD * MESSAGES_PER_INVOCATION, thread_name_prefix="send-claim"
            )
        return _CLAIM_POOL


def _ses_pool() -> ThreadPoolExecutor:
    """Threads that make the SES calls, so a message goes on to its next slot while SES answers
    (``IN_FLIGHT`` per message of an invocation)."""
    global _SES_POOL
    with _POOLS_LOCK:
        if _SES_POOL is None:
            _SES_POOL = ThreadPoolExecutor(
                max_workers=IN_FLIGHT * MESSAGES_PER_INVOCATION, thread_name_prefix="send-ses"
            )
        return _SES_POOL


def _booking_pool() -> ThreadPoolExecutor:
    """Threads that book a message's next group while its current one is being sent."""
    global _BOOKING_POOL
    with _POOLS_LOCK:
        if _BOOKING_POOL is None:
            _BOOKING_POOL = ThreadPoolExecutor(
                max_workers=MESSAGES_PER_INVOCATION, thread_name_prefix="send-book"
            )
        return _BOOKING_POOL


def _timed_book(pacer: Any, remaining: int, max_wait: float) -> Any:
    return pacer.book(remaining, max_wait)


_POOLS_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_CLAIM_POOL: ThreadPoolExecutor | None = None
_BOOKING_POOL: ThreadPoolExecutor | None = None
_SES_POOL: ThreadPoolExecutor | None = None


def _paced_sends(
    deps: Deps,
    account: Account,
    campaign: Campaign,
    batch: list[Client],
    pacer: Any,
    attempt: int,
    run: BatchRun,
) -> int:
    """Send ``batch`` group by group at platform slots; how many cap admissions went unused.

    Each group is booked when the worker is ready for it (``Pacer.book``: the account's
    slots at its share, then the platform's), and each e-mail goes out at its own platform
    slot or the slot is skipped: a slot the worker is later for than the tolerance is left
    unused rather than crowding the next booking's slots. An e-mail whose group ran out of
    slots waits for the next group.

    DynamoDB work runs beside the SES calls: the next ``LOOKAHEAD`` deliveries are claimed
    (``queued → sending``) and their MIME built while the worker waits for the current
    slot, and ``sending → sent`` is recorded after the call, so one worker keeps its slots
    however slow the table is. While SES answers before the next slot is due (a moving
    average of its answer times), each call is made on the message's thread at its slot. Once
    SES is slower than the slots (40 ms against 20 ms at 50/s), the calls run on a pool, up
    to ``IN_FLIGHT`` at once: the message waits for an answer only until its next slot is
    due, then starts the next call, so it does not skip every other slot. At most ``LOOKAHEAD``
    deliveries, the one in hand and the ``IN_FLIGHT`` calls are claimed ahead of SES's
    answer — the most a crash can leave ``sending`` unsent.
    """
    claim_pool = _claim_pool()
    sent_at_start = run.counts.get("sent", 0)
    claims: dict[int, Future[Prepared | None]] = {}
    records: list[Future[Any]] = []
    tolerance = late_tolerance(deps.settings)
    max_wait = deps.settings.send_max_wait_seconds

    def claim(index: int) -> None:
        if index < len(batch):
            claims[index] = claim_pool.submit(_prepare, deps, account, campaign, batch[index], run)

    for index in range(LOOKAHEAD):
        claim(index)
    index = 0  # the next delivery of the batch to take from the claims
    in_hand: Prepared | None = None

    def next_ready() -> Prepared | None:
        """The next delivery won and built (``None`` once the batch is used up)."""
        nonlocal index
        while index < len(batch):
            prepared = claims.pop(index).result()
            claim(index + LOOKAHEAD)
            index += 1
            if prepared is not None:
                return prepared
        return None

    # A message sends for at most ``SEND_WINDOW_SECONDS`` of wall time, whatever its pace does
    # meanwhile: its window was counted at the pace when it started, and when more accounts
    # start sending, its share — and its pace — can fall tenfold, which would hold its worker
    # (and every message of the same invocation) for minutes and past the Lambda's timeout,
    # while other accounts' first messages wait on the queue for a free worker. The rest goes
    # on in a continuation, at once: the account's queue decides when it starts. The window
    # opens at the first slot (which may be up to ``send_max_wait_seconds`` away).
    ends_at = float("inf")
    next_group: Future[Any] | None = None  # the following group, booked while this one is sent
    booking_took = 0.0  # how long the last booking took (the next one starts that much earlier)
    ses_pool = _ses_pool()
    calls: list[Future[bool]] = []  # every SES call of this message, in slot order
    round_trip = _RoundTrip()  # how long SES takes to answer, lately (this message's calls)

    def room_for_a_call() -> None:
        """Wait until fewer than ``IN_FLIGHT`` of this message's calls are outstanding."""
        pending = [call for call in calls[-IN_FLIGHT:] if not call.done()]  # calls: in slot order
        if len(pending) >= IN_FLIGHT:
            wait_for_calls(pending, return_when=FIRST_COMPLETED)

    try:
        while run.stop is None:
            # A group is booked only once a delivery is ready to go in its first slot.
            in_hand = in_hand or next_ready()
            if in_hand is None:
                break
            remaining = len(batch) - index + 1
            started = deps.clock().timestamp()
            if next_group is None and started >= min(ends_at, run.deadline):
                _keep_rest(batch, index, in_hand, run, 0.0)
                index = len(batch)
                run.count("message_time_up")
                break
            if next_group is not None:
                group, next_group = next_group.result(), None
            else:
                group = pacer.book(remaining, max_wait)
                booking_took = deps.clock().timestamp() - started
            if isinstance(group, Deferred):
                delay = max(1.0, group.retry_at - deps.clock().timestamp())
                _keep_rest(batch, index, in_hand, run, delay)
                index = len(batch)
                metrics.add_metric(name="SendDeferred", unit="Count", value=remaining)
                break
            if ends_at == float("inf"):
                ends_at = min(group.slots[0] + SEND_WINDOW_SECONDS, run.deadline)
            group_calls: list[Future[bool]] = []
            slot = 0
            while slot < len(group.slots) and run.stop is None:
                in_hand = in_hand or next_ready()
                if in_hand is None:
                    break
                room_for_a_call()
                now = deps.clock().timestamp()
                while slot < len(group.slots) and now - group.slots[slot] > tolerance:
                    slot += 1
                    run.count("slots_skipped")
                if slot == len(group.slots):
                    break  # every slot left is past: the delivery in hand waits for the next group
                after = len(batch) - index + 1 - (len(group.slots) - slot)
                if (
                    next_group is None
                    and after > 0
                    and group.slots[-1] < ends_at
                    and group.slots[-1] - now <= max(0.3, 2 * booking_took)
                ):
                    # Book the next group now, beside the sends, so its first platform slot follows
                    # this group's last one (the booking itself takes time).
                    next_group = _booking_pool().submit(_timed_book, pacer, after, max_wait)
                wait = group.slots[slot] - now
                if wait > 0:
                    deps.sleep(wait)
                    if deps.clock().timestamp() - group.slots[slot] > tolerance:
                        # The sleep overran (a busy worker wakes late): the slot is past now, so
                        # it is skipped at the top of the loop and the e-mail in hand takes the
                        # next one.
                        continue
                slot += 1
                prepared, in_hand = in_hand, None
                upcoming = group.slots[slot] if slot < len(group.slots) else group.slots[-1] + tolerance
                if INLINE_MARGIN * round_trip.seconds < upcoming - deps.clock().timestamp():
                    # SES answers well before the next slot is due: the call is made here, at its
                    # slot to the millisecond, as when every call was made one at a time.
                    call = Future()
                    call.set_result(round_trip.timed(_send_prepared, deps, prepared, attempt, run, records))
                    group_calls.append(call)
                    calls.append(call)
                    continue
                start = _Start(latest=group.slots[slot - 1] + tolerance)
                call = ses_pool.submit(_call_ses, start, round_trip, deps, prepared, attempt, run, records)
                # SES is not quick enough to wait for here: the call begins at its slot on the pool
                # (a free thread always exists: ``_ses_pool``) — or not at all, when that thread
                # got going later than the tolerance (the e-mail then takes the next slot) — and
                # its answer is awaited until the next slot is due, and no longer.
                start.event.wait()
                if start.declined:
                    in_hand = prepared
                    run.count("slots_skipped")
                    continue
                group_calls.append(call)
                calls.append(call)
                wait_for_calls([call], timeout=max(0.0, upcoming - deps.clock().timestamp()))
            if slot < len(group.slots):
                run.count("slots_unused", len(group.slots) - slot)
            if in_hand is not None and not _any_accepted(group_calls):
                # A whole group missed: this worker is too slow right now. Let the rest wait a
                # second on the queue rather than book and miss slots again at once.
                _keep_rest(batch, index, in_hand, run, 1.0)
                index = len(batch)
                metrics.add_metric(name="SendLate", unit="Count", value=1)
                break
    finally:
        # Every SES call of the message is answered before its outcome is reported; a call that
        # raised fails the message (SQS redelivers it) once the claims are released.
        wait_for_calls(calls)
        failure = next((call.exception() for call in calls if call.exception() is not None), None)
        if next_group is not None:
            try:
                unused = next_group.result()
                if not isinstance(unused, Deferred):
                    run.count("slots_unused", len(unused.slots))  # booked ahead, not needed after all
            except Exception:  # noqa: BLE001 — a booking that failed books nothing
                logger.exception("booking the next group failed")
        # Deliveries claimed but not sent (the loop ended early: deferred, paused, an error) go
        # back to the queue: SES was never called for them.
        leftovers = [in_hand] if in_hand is not None else []
        for future in claims.values():
            try:
                leftovers.append(future.result())
            except Exception:  # noqa: BLE001 — the claim itself failed; nothing to undo
                logger.exception("claiming a delivery failed")
        for item in leftovers:
            if item is not None:
                deps.deliveries.move(item.sending, DeliveryStatus.QUEUED, deps.clock(), reason="released")
        for future in records:
            try:
                future.result()
            except Exception:  # noqa: BLE001 — logged; the delivery waits for its SES event
                logger.exception("recording a send failed")
        if failure is not None:
            raise failure
    return len(batch) - (run.counts.get("sent", 0) - sent_at_start)


class _RoundTrip:
    """A moving average of SES's answer time (wall clock) over one message's calls: a call is
    made on the message's own thread while SES answers before the next slot, on the pool
    (overlapping) once it does not."""

    WEIGHT = 0.3

    def __init__(self) -> None:
        self.seconds = 0.0
        self.lock = threading.Lock()

    def timed(self, function: Any, *args: Any) -> Any:
        started = time.monotonic()
        try:
            return function(*args)
        finally:
            took = time.monotonic() - started
            with self.lock:
                self.seconds += self.WEIGHT * (took - self.seconds)


@dataclass
class _Start:
    """How a call handed to the SES pool began: at once, or declined because its thread got
    going after ``latest`` (its slot plus the late tolerance)."""

    latest: float
    declined: bool = False
    event: threading.Event = field(default_factory=threading.Event)


def _call_ses(
    start: _Start,
    round_trip: _RoundTrip,
    deps: Deps,
    prepared: Prepared,
    attempt: int,
    run: BatchRun,
    records: list[Future[Any]],
) -> bool:
    if deps.clock().timestamp() > start.latest:
        start.declined = True
        start.event.set()
        return False
    start.event.set()
    return bool(round_trip.timed(_send_prepared, deps, prepared, attempt, run, records))


def _any_accepted(group_calls: list[Future[bool]]) -> bool:
    """Whether SES accepted an e-mail of the group (waiting for its calls only when none of the
    answered ones was accepted). A group without any accepted e-mail — no slot used, or every
    call refused — means this worker cannot send right now."""
    if any(call.done() and call.exception() is None and call.result() for call in group_calls):
        return True
    wait_for_calls(group_calls)
    return any(call.exception() is None and call.result() for call in group_calls)


def _keep_rest(
    batch: list[Client], index: int, in_hand: Prepared | None, run: BatchRun, delay: float
) -> None:
    """Everything of ``batch`` not sent yet continues in a later message (the claimed ones are
    released to ``queued`` by the caller)."""
    if in_hand is not None:
        run.keep(in_hand.sending.client_id, delay)
    for client in batch[index:]:
        run.keep(client.client_id, delay)


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

    if run.stop is not None:
        return None  # the campaign is pausing: leave it queued
    queued = Delivery(campaign.campaign_id, client.client_id, campaign.account_id, DeliveryStatus.QUEUED)
    now = deps.clock()
    if not deps.deliveries.move(queued, DeliveryStatus.SENDING, now, count_attempt=True, step=run.step):
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
        deps.deliveries.move(
            sending, DeliveryStatus.FAILED, deps.clock(), reason=type(exc).__name__, step=run.step
        )
        run.count("failed")
        metrics.add_metric(name="SendErrors", unit="Count", value=1)
        logger.warning("message could not be built", extra={**tags, "code": type(exc).__name__})
        return None
    return Prepared(sending=sending, raw=raw, sender=mail.sender_email, to=mail.to, tags=tags)


def _send_prepared(
    deps: Deps, prepared: Prepared, attempt: int, run: BatchRun, records: list[Future[Any]] | None = None
) -> bool:
    """Call SES; ``True`` if it accepted the e-mail."""
    from chalicelib.mail.ses import (
        MailAccountProblem,
        MailOutcomeUnknown,
        MailRejected,
        MailThrottled,
        MailTransient,
    )

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
    except MailAccountProblem as exc:
        # SES refuses this sender, whoever the recipient: not sent; the campaign pauses.
        deps.deliveries.move(sending, DeliveryStatus.QUEUED, deps.clock(), reason=exc.reason)
        with run.lock:
            run.stop = run.stop or exc.reason
        logger.warning(
            "SES refuses the account's sending", extra={**ids, "code": exc.code, "reason": exc.reason}
        )
        return False
    except MailOutcomeUnknown as exc:
        # SES may have sent it: never call again. The delivery stays ``sending`` for SES's Send
        # event (or ``failed``/``unconfirmed`` later); a continuation looks at it again.
        run.keep(sending.client_id, UNKNOWN_OUTCOME_RECHECK)
        metrics.add_metric(name="SendOutcomeUnknown", unit="Count", value=1)
        logger.warning("SES answer lost: delivery left for reconciliation", extra={**ids, "code": exc.code})
        return False
    except MailTransient as exc:
        errors = deps.deliveries.requeue_after_transient(sending, deps.clock())
        if errors is not None and errors >= deps.settings.send_max_transient_attempts:
            queued = replace(sending, status=DeliveryStatus.QUEUED)
            deps.deliveries.move(
                queued, DeliveryStatus.FAILED, deps.clock(), reason=f"ses_{exc.code}"[:64], step=run.step
            )
            run.count("failed")
            metrics.add_metric(name="SendErrors", unit="Count", value=1)
        elif errors is not None:
            run.keep(sending.client_id, _backoff(attempt), retry=True)
        logger.warning("SES transient error", extra={**ids, "code": exc.code})
        return False
    except MailRejected as exc:
        deps.deliveries.move(
            sending, DeliveryStatus.FAILED, deps.clock(), reason=str(exc.code)[:64], step=run.step
        )
        run.count("failed")
        metrics.add_metric(name="SendErrors", unit="Count", value=1)
        logger.warning("send refused by SES", extra={**ids, "code": exc.code})
        return False
    if records is None:
        _record_sent(deps, sending, message_id, run)
    else:
        records.append(_pool().submit(_record_sent, deps, sending, message_id, run))
    run.count("sent")
    metrics.add_metric(name="EmailsSent", unit="Count", value=1)
    return True


def _record_sent(deps: Deps, sending: Delivery, message_id: str, run: BatchRun) -> None:
    """``sending → sent``; counted for the report only when this message won it (SES's Send
    event may have been first, and counted it)."""
    if deps.deliveries.move(
        sending, DeliveryStatus.SENT, deps.clock(), ses_message_id=message_id, step=run.step
    ):
        run.count("recorded")


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


def maybe_finish(deps: Deps, account_id: str, campaign_id: str, *, campaign: Campaign | None = None) -> bool:
    """``sending → sent`` (or ``awaiting_responses``) once the fan-out's total is in and the
    settled deliveries reach it — read from the counter items (one Query of at most
    ``COUNTER_SHARDS`` small items), never from the deliveries. Conditional and idempotent:
    whoever calls it last (the message that settled the last delivery, the fan-out, resume,
    the completion sweep) finishes the campaign, once. ``campaign``: as stored (not
    ``with_counters``), already read by the caller."""
    totals = deps.campaigns.counters(campaign_id)
    if not totals["fanout_done"]:
        return False
    if campaign is None:
        campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
    if not _settled_all(campaign, totals):
        return False
    return _finish(deps, campaign)


def _settled_all(campaign: Campaign, totals: dict[str, Any]) -> bool:
    # ``campaign.counters``: what a campaign from before the counter items counted on itself.
    settled = sum(totals[name] + campaign.counters.get(name, 0) for name in SETTLED)
    return bool(totals["fanout_done"]) and settled >= totals["fanout_recipients"]


def _finish(deps: Deps, campaign: Campaign) -> bool:
    now = deps.clock()
    target = finished_sending(campaign.kind)
    segment_after = (
        now + timedelta(days=campaign.wait_days or 0) if campaign.kind is CampaignKind.REACTIVATION else None
    )
    if deps.campaigns.finish(campaign, target, now, segment_after):
        logger.info("campaign finished", extra={"campaign_id": campaign.campaign_id, "status": target.value})
        metrics.add_metric(name="CampaignsFinished", unit="Count", value=1)
        from chalicelib.services import pacing

        pacing.leave(deps, campaign.account_id)
        return True
    return False


def finish_stalled_campaigns(deps: Deps, *, limit: int = 200, context: Any = None) -> dict[str, int]:
    """The completion sweep (its own schedule, every 15 minutes): every campaign now ``sending``
    (sparse ``by-in-flight`` index) is finished if its counters say it is done — its last
    message died after its sends, before its check. One whose fan-out is done but whose
    counters have not moved for ``STALLED_CAMPAIGN`` (a message's count lost with its worker,
    or a campaign from before the counter items) is checked against its deliveries: a Query
    of its partition that stops at the first delivery still waiting; when none waits, the
    counters get what they lack and the campaign finishes.

    The sweep stops when its Lambda's time runs out (``Budget.for_lambda``: the remaining time
    less the safety margin); the campaigns it did not reach are still in the index for the
    next run, fifteen minutes later (``complete`` 0)."""
    from chalicelib.domain.jobs import Budget
    from chalicelib.storage.conversions import loaded_time

    budget = Budget.for_lambda(limit, context, deps.settings.lambda_timeout_seconds)
    finished = checked = 0
    now = deps.clock()
    campaigns = deps.campaigns.in_flight()[:limit]
    for seen, (account_id, campaign_id) in enumerate(campaigns):
        if budget.spent(seen):
            logger.info("completion sweep out of time", extra={"left": len(campaigns) - seen})
            return {"finished": finished, "checked": checked, "complete": 0}
        try:
            campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
        except NotFound:
            continue
        if campaign.status is not CampaignStatus.SENDING or not campaign.fanout_done:
            continue
        totals = deps.campaigns.counters(campaign_id)
        if _settled_all(campaign, totals):
            finished += _finish(deps, campaign)
            continue
        moments = [m for m in (loaded_time(totals["updated_at"] or None), campaign.started_at) if m]
        if moments and now - max(moments) < STALLED_CAMPAIGN:
            continue  # still moving (or waiting for a cap, a delay): its messages will finish it
        checked += 1
        finished += _finish_from_deliveries(deps, campaign, totals)
    if finished:
        metrics.add_metric(name="StalledCampaignsFinished", unit="Count", value=finished)
    return {"finished": finished, "checked": checked, "complete": 1}


def _finish_from_deliveries(deps: Deps, campaign: Campaign, totals: dict[str, Any]) -> bool:
    found = dict.fromkeys(SETTLED, 0)
    for delivery in deps.deliveries.of_campaign(campaign.campaign_id):
        if delivery.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
            logger.info(
                "stalled campaign: deliveries still wait", extra={"campaign_id": campaign.campaign_id}
            )
            return False
        if delivery.status.value in found:
            found[delivery.status.value] += 1
    legacy = campaign.counters
    lacking = {name: found[name] - totals[name] - legacy.get(name, 0) for name in SETTLED}
    lacking = {name: n for name, n in lacking.items() if n > 0}
    if lacking:
        deps.campaigns.repair(campaign.campaign_id, lacking, deps.clock())
        logger.warning(
            "campaign counters repaired from its deliveries",
            extra={"campaign_id": campaign.campaign_id, **lacking},
        )
    return _finish(deps, campaign)
