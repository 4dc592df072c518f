"""What a campaign still waits for goes back on the ``send`` queue after ``resume`` or ``cancel``:
a bounded read in the request, the rest in a ``campaign_requeue`` job.

While a campaign is paused the workers drop its send messages, so ``resume`` puts a message back
for every delivery still ``queued`` or ``sending`` (the workers send each once), and ``cancel``
does the same so the workers settle them ``failed``/``cancelled``. Finding them means reading the
campaign's deliveries partition (a Query by ``campaign_id``: a status filter would read the same
items), which grows with the campaign, so the request reads at most ``requeue_sync_limit``
deliveries (1,000) and one more, to tell "that many" from "more" (one Query):

- the counters say nothing waits (the fan-out's total is in and every recipient is settled):
  nothing is read (resume then checks completion, ``sending.maybe_finish``);
- the counters say more than the limit waits: nothing is read, a job walks the whole partition;
- otherwise the request reads one page; when that is the whole partition, it re-enqueues what
  waits there and answers as before (200); else the job continues after that page, with what
  the request re-enqueued counted in its ``done``.

The job's ``total`` is known when it starts: the waiting count from the counters (recipients
minus settled; while the fan-out still runs, what its committed chunks wrote minus what is
settled), never less than what the request already did; ``done`` is the deliveries re-enqueued
so far. Each chunk walks pages of the partition from the saved position (DynamoDB's
``ExclusiveStartKey``) until the chunk's budget (``Budget.for_lambda``: the Lambda's remaining
time less the safety margin, at most ``job_chunk_items`` deliveries) is spent, and the runner
hands the rest to the next chunk. It stops early when the campaign left the status it was
started for (paused again: the next ``resume`` walks again; cancelled after a resume: the
cancel's own requeue settles them).

Why nothing is sent or counted twice: re-enqueuing is the only effect, and a delivery enqueued
twice (a chunk run again after its worker died, a message SQS redelivers, a fan-out message that
was still on its way) is harmless — every send is preceded by the conditional claim
``queued → sending``, which one message wins; the other finds it not queued, and neither sends
it nor counts it (a delivery is counted by the step id of the message that moved it). Ids are
grouped by their original ``batch`` within a page; a batch whose deliveries fall on two pages
goes out as two messages with its number, and the batch's marker counts it done once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus, DeliveryStatus
from chalicelib.domain.campaigns import Campaign, Delivery
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job
from chalicelib.errors import NotFound
from chalicelib.observability import logger
from chalicelib.services import jobs

KIND = "campaign_requeue"
PAGE = 500  # deliveries read by one Query of a job chunk
WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
_SETTLED = ("sent", "failed", "suppressed", "excluded_no_consent")


@dataclass(frozen=True)
class Requeued:
    """What the request did: how many deliveries it re-enqueued, and the job that goes on
    (``None``: the request did everything)."""

    requeued: int
    job: Job | None = None


def waiting(deps: Deps, campaign: Campaign) -> tuple[int, bool]:
    """How many deliveries of ``campaign`` (with its counters: ``CampaignRepository.
    with_counters``) still wait, and whether that is exact.

    Exact once the fan-out's total is in (a standard or reactivation campaign): its recipients
    less what is settled. While the fan-out still runs: what its committed chunks wrote less
    what is settled (its next chunks add more). An automatic campaign's rounds add recipients
    after they enqueue them, so its count may lag a running round."""
    settled = sum(int(campaign.counters.get(name, 0)) for name in _SETTLED)
    if campaign.kind is CampaignKind.AUTOMATIC:
        return max(0, campaign.n_recipients - settled), False
    if campaign.fanout_done:
        return max(0, campaign.n_recipients - settled), True
    written = 0
    if campaign.job_id is not None:
        try:
            fanout = deps.jobs.get(campaign.account_id, campaign.job_id)
        except NotFound:
            fanout = None
        if fanout is not None:
            result = fanout.result
            written = result.get("recipients", 0) - result.get("suppressed", 0)
            written -= result.get("excluded_no_consent", 0)
    return max(0, written - settled), False


def requeue(deps: Deps, campaign: Campaign, actor: str | None = None) -> Requeued:
    """The request's part, after the status move: ``campaign`` is as it was read (with its
    counters) but already carries its new ``status``. Reads at most ``requeue_sync_limit`` + 1
    deliveries (one Query); starts a ``campaign_requeue`` job for what lies beyond."""
    count, exact = waiting(deps, campaign)
    if exact and count == 0:
        return Requeued(0)
    limit = deps.settings.requeue_sync_limit
    if count > limit:
        return Requeued(0, _start(deps, campaign, count, None, 0, actor))
    # One Query of one more than the limit: fewer came back, that is the whole campaign.
    page, after = deps.deliveries.page(campaign.campaign_id, limit=limit + 1, start_key=None)
    requeued = enqueue_waiting(deps, campaign, page)
    if after is None or len(page) <= limit:
        return Requeued(requeued)
    return Requeued(requeued, _start(deps, campaign, max(count, requeued), after, requeued, actor))


def _start(deps: Deps, campaign: Campaign, total: int, cursor: Any, done: int, actor: str | None) -> Job:
    job = jobs.start_job(
        deps,
        campaign.account_id,
        KIND,
        {"campaign_id": campaign.campaign_id, "status": campaign.status.value},
        total,
        cursor=cursor,
        done=done,
        result={"requeued": done},
        actor=actor,
    )
    logger.info(
        "campaign requeue continues in a job",
        extra={"campaign_id": campaign.campaign_id, "job_id": job.job_id, "total": total, "done": done},
    )
    return job


def enqueue_waiting(deps: Deps, campaign: Campaign, deliveries: list[Delivery]) -> int:
    """A send message per original batch for those of ``deliveries`` still waiting; how many."""
    from chalicelib.services.sending import enqueue_batches

    by_batch: dict[int, list[str]] = {}
    for delivery in deliveries:
        if delivery.status in WAITING:
            by_batch.setdefault(delivery.batch or 0, []).append(delivery.client_id)
    enqueue_batches(deps, campaign, sorted(by_batch.items()))
    return sum(len(ids) for ids in by_batch.values())


@jobs.register(KIND)
def requeue_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Job kind: re-enqueue the waiting deliveries of the next pages of the campaign's
    partition, from the saved position, until the chunk's budget is spent."""
    campaign_id = str(job.params["campaign_id"])
    try:
        campaign = deps.campaigns.get(job.account_id, campaign_id, consistent=True)
    except NotFound:
        return ChunkOutcome(cursor=None, done=0, finished=True, counters={"stopped": 1})
    if campaign.status.value != job.params["status"]:
        logger.info(
            "campaign requeue stopped: the campaign changed",
            extra={"campaign_id": campaign_id, "job_id": job.job_id, "status": campaign.status.value},
        )
        return ChunkOutcome(cursor=None, done=0, finished=True, counters={"stopped": 1})
    cursor = job.cursor
    read = requeued = 0
    while True:
        size = max(1, min(PAGE, budget.items - read))
        page, cursor = deps.deliveries.page(campaign_id, limit=size, start_key=cursor)
        read += len(page)
        requeued += enqueue_waiting(deps, campaign, page)
        if cursor is None or budget.spent(read):
            break
    finished = cursor is None
    if finished and campaign.status is CampaignStatus.SENDING:
        from chalicelib.services.sending import maybe_finish

        maybe_finish(deps, job.account_id, campaign_id)  # everything settled meanwhile
    done = job.done + requeued
    return ChunkOutcome(
        cursor=cursor,
        done=requeued,
        finished=finished,
        counters={"requeued": requeued, "read": read},
        # ``total`` stays the count known at the start, unless more were found (a fan-out
        # still running); when the job ends the runner sets it to ``done``.
        total=None if finished or job.total is None or done <= job.total else done,
    )
