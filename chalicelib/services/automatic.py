"""Automatic campaigns: while ``active``, send to every client who newly matches.

A scheduled job (``run_automatic_campaigns``) finds the active automatic
campaigns through a sparse index (no scan) and starts one *round* per
campaign unless the previous round is still running. A round is a resumable
job over the campaign's audience (typically an automatic status, read from
its index — cost proportional to the matching clients, not the account):
each matching client gets a delivery written with ``attribute_not_exists``, so
a client is sent the campaign at most once, however many rounds see it;
only the deliveries a round actually wrote are enqueued for sending, through
the same send worker, throttles, suppression and consent rules as any
campaign. Pause, resume and cancel are the campaign's status: a round of a
campaign that is no longer active stops at its next chunk.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus, DeliveryStatus
from chalicelib.domain.campaigns import NOT_TARGETED, Campaign, Delivery, batches, classify
from chalicelib.domain.jobs import DONE, Budget, ChunkOutcome, Job, SweepStep
from chalicelib.domain.records import Client
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import jobs
from chalicelib.services.campaigns import audience_job_start, job_audience_chunk
from chalicelib.services.targets import COUNT_BUDGET, counted_first

ROUND_KIND = "automatic_round"
_BATCHES_PER_ROUND = 1_000_000  # batch numbers of a round: base + n (unique across rounds)
_PAGE = 500  # clients an incremental round reads per index page
# An incremental round also looks at clients who entered the audience this long before the
# previous round started: the status index is eventually consistent.
_OVERLAP = timedelta(minutes=5)


@jobs.register(ROUND_KIND)
@counted_first
def round_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    from chalicelib.services.sending import enqueue_batches

    campaign = deps.campaigns.get(job.account_id, job.params["campaign_id"], consistent=True)
    if campaign.status is not CampaignStatus.ACTIVE:  # paused or cancelled meanwhile
        return ChunkOutcome(cursor=None, done=0, finished=True)
    account = deps.accounts.get(job.account_id)
    if account.suspended:
        return ChunkOutcome(cursor=None, done=0, finished=True)
    if job.params.get("since"):
        matches, cursor = _entered_chunk(deps, job, campaign, budget)
    else:
        matches, cursor = job_audience_chunk(deps, job, campaign, budget, need_clients=True)
    now = deps.clock()
    consent_only = account.settings.consent_only_campaigns
    candidates: list[Delivery] = []
    for client_id, client in matches:
        if client is None:
            continue
        status = classify(
            campaign.kind, client.consent_state, client.suppressed, consent_only, pending=client.pending
        )
        # Only clients who may receive it get a delivery: one excluded today (no consent yet,
        # suppressed) is looked at again by later rounds instead of being closed for good.
        if status == NOT_TARGETED or status is not DeliveryStatus.QUEUED:
            continue
        candidates.append(
            Delivery(
                campaign_id=campaign.campaign_id,
                client_id=client_id,
                account_id=job.account_id,
                status=DeliveryStatus.QUEUED,
                queued_at=now,
                updated_at=now,
            )
        )
    written = deps.deliveries.put_new(candidates)  # at most once per client and campaign…
    new = len(written)
    if campaign.cooldown_days:  # …or once per cooldown period
        written += _rearmed(deps, campaign, candidates, written, now)
    size = deps.settings.send_batch_size
    first = int(job.params["batch_base"]) + job.result.get("batches", 0)
    groups = list(enumerate(batches([d.client_id for d in written], size), start=first))
    enqueue_batches(deps, campaign, groups)
    if written:
        # The report counts recipients by their delivery's latest state: a re-armed delivery
        # is no longer sent (it is counted again when it is).
        deps.campaigns.add(job.account_id, campaign.campaign_id, recipients=new, sent=new - len(written))
    return ChunkOutcome(
        cursor=cursor,
        done=len(matches),
        finished=cursor is None,
        counters={"new_recipients": len(written), "batches": len(groups)},
    )


def _entered_chunk(
    deps: Deps, job: Job, campaign: Campaign, budget: Budget
) -> tuple[list[tuple[str, Client | None]], Any]:
    """An incremental round's stretch: the clients who entered the audience's automatic status
    since the previous round (``by-status-since``), each read to check it is still there."""
    status = campaign.audience["auto_status"]
    since = datetime.fromisoformat(job.params["since"])
    ids, cursor = deps.status_index.entered_since(
        job.account_id, status, since, after=job.cursor, limit=max(1, min(budget.items, _PAGE))
    )
    clients = deps.client_index.get_many(job.account_id, ids) if ids else {}
    matches: list[tuple[str, Client | None]] = [
        (cid, clients[cid])
        for cid in ids
        if cid in clients and clients[cid].auto_status == status and not clients[cid].pending
    ]
    return matches, cursor


def _round_since(deps: Deps, campaign: Campaign) -> datetime | None:
    """Where an incremental round starts: the previous round's start, less ``_OVERLAP`` (the
    status index is eventually consistent). ``None`` — a full round over the audience — for
    the first round, after a round that failed, for an audience that is not an automatic
    status, for campaigns with a cooldown (their re-arms need everyone in the audience), and
    after the account's settings changed."""
    if "auto_status" not in campaign.audience or campaign.cooldown_days or campaign.job_id is None:
        return None
    try:
        previous = deps.jobs.get(campaign.account_id, campaign.job_id)
    except NotFound:
        return None
    if previous.kind != ROUND_KIND or previous.status != DONE:
        return None
    since = previous.created_at - _OVERLAP
    try:  # the account's settings changed (e.g. consent-only off): who may receive it changed
        if deps.accounts.get(campaign.account_id).updated_at >= since:
            return None
    except NotFound:
        return None
    return since


def _rearmed(
    deps: Deps, campaign: Campaign, candidates: list[Delivery], written: list[Delivery], now: datetime
) -> list[Delivery]:
    """Deliveries of this campaign sent at least ``cooldown_days`` ago, queued again.

    Each re-arm is a conditional ``sent → queued`` on the ``sent_at`` that was read,
    so a client gets the campaign at most once per cooldown period, however many
    rounds (or concurrent ones) see it."""
    assert campaign.cooldown_days is not None
    fresh = {d.client_id for d in written}
    existing = deps.deliveries.get_many(
        campaign.campaign_id, [d.client_id for d in candidates if d.client_id not in fresh]
    )
    horizon = now - timedelta(days=campaign.cooldown_days)
    rearmed = []
    for delivery in existing.values():
        sent_at = delivery.sent_at
        if delivery.status is DeliveryStatus.SENT and sent_at is not None and sent_at <= horizon:
            if deps.deliveries.rearm(delivery, now):
                rearmed.append(delivery)
    return rearmed


def start_rounds(deps: Deps) -> int:
    """Start a round for each active automatic campaign whose previous round is over (a whole
    sweep in this call; the schedule runs ``rounds_step`` within its Lambda's time)."""
    step = rounds_step(deps, None, Budget.start(2**31, 3600.0))
    return step.counters["rounds_started"]


def rounds_step(deps: Deps, cursor: Any, budget: Budget) -> SweepStep:
    """The schedule's sweep: from ``cursor`` (a position in the sparse index of active automatic
    campaigns) until ``budget`` is spent, start each campaign's round unless its previous one
    still runs; answers the position after the last campaign looked at."""
    started = seen = 0
    after = cursor
    for account_id, campaign_id, position in deps.campaigns.active_automatic(after=cursor):
        if budget.spent(seen):
            return SweepStep(cursor=after, done=seen, counters={"rounds_started": started})
        seen += 1
        started += _start_round(deps, account_id, campaign_id)
        after = position
    if started:
        metrics.add_metric(name="AutomaticRounds", unit="Count", value=started)
        logger.info("automatic campaign rounds started", extra={"rounds": started})
    return SweepStep(cursor=None, done=seen, counters={"rounds_started": started})


def _start_round(deps: Deps, account_id: str, campaign_id: str) -> int:
    try:
        campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
    except NotFound:
        return 0
    if campaign.kind is not CampaignKind.AUTOMATIC or campaign.status is not CampaignStatus.ACTIVE:
        return 0
    if campaign.job_id is not None:
        try:
            if not deps.jobs.get(account_id, campaign.job_id).finished:
                return 0  # the previous round is still running
        except NotFound:
            pass
    base = int(deps.clock().timestamp()) * _BATCHES_PER_ROUND
    params: dict[str, Any] = {"campaign_id": campaign_id, "batch_base": base}
    since = _round_since(deps, campaign)
    if since is None:
        total, cursor = audience_job_start(deps, account_id, campaign.audience)
    else:
        params["since"] = since.isoformat()
        ids, more = deps.status_index.entered_since(
            account_id, campaign.audience["auto_status"], since, after=None, limit=COUNT_BUDGET
        )
        total, cursor = (None if more else len(ids)), None
    job = jobs.start_job(deps, account_id, ROUND_KIND, params, total, cursor=cursor)
    deps.campaigns.set_job(account_id, campaign_id, job.job_id)
    return 1
