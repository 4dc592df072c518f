"""The fan-out of a campaign: a resumable job (``campaign_fanout``) over its audience.

Each chunk walks the next stretch of the audience, writes one delivery per
recipient with ``attribute_not_exists`` (exactly one per campaign and
client, however often a chunk is re-run), and enqueues the ``queued`` ones
on the ``send`` queue in batches of ``send_batch_size`` client ids. When the
client record is at hand (filter audiences read it anyway) the recipient is
classified at once (suppressed / excluded_no_consent need no message);
otherwise the worker classifies it with the record it reads to render.

A re-run chunk (the job runner re-runs a chunk whose worker died) enqueues
its batches again: duplicate messages are harmless, because every send is
preceded by the conditional ``queued → sending``.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus, DeliveryStatus
from chalicelib.domain.campaigns import NOT_TARGETED, Delivery, batches, classify
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job
from chalicelib.observability import logger
from chalicelib.services import jobs
from chalicelib.services.campaigns import FANOUT_KIND, job_audience_chunk
from chalicelib.services.targets import counted_first


def load() -> None:
    """Importing this module registers the job kind (called before a job is started)."""


@jobs.register(FANOUT_KIND)
@counted_first
def fanout_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    from chalicelib.services.sending import enqueue_batches, maybe_finish

    campaign = deps.campaigns.get(job.account_id, job.params["campaign_id"], consistent=True)
    if campaign.status is CampaignStatus.CANCELLED:
        deps.campaigns.fanout_finished(
            job.account_id,
            campaign.campaign_id,
            job.result.get("recipients", 0),
            job.result.get("batches", 0),
            suppressed=job.result.get("suppressed", 0),
            excluded_no_consent=job.result.get("excluded_no_consent", 0),
        )
        return ChunkOutcome(cursor=None, done=0, finished=True)
    account = deps.accounts.get(job.account_id)
    consent_only = account.settings.consent_only_campaigns
    matches, cursor = job_audience_chunk(deps, job, campaign, budget, need_clients=False)
    now = deps.clock()
    size = deps.settings.send_batch_size
    first_batch = job.result.get("batches", 0)
    records: list[Delivery] = []
    queued: list[str] = []
    for client_id, client in matches:
        status: DeliveryStatus | str = DeliveryStatus.QUEUED
        if client is not None:
            status = classify(
                campaign.kind, client.consent_state, client.suppressed, consent_only, pending=client.pending
            )
        if status == NOT_TARGETED:
            continue
        assert isinstance(status, DeliveryStatus)
        batch = None
        if status is DeliveryStatus.QUEUED:
            queued.append(client_id)
            batch = first_batch + (len(queued) - 1) // size
        records.append(
            Delivery(
                campaign_id=campaign.campaign_id,
                client_id=client_id,
                account_id=job.account_id,
                status=status,
                batch=batch,
                reason="consent_only" if status is DeliveryStatus.EXCLUDED_NO_CONSENT else None,
                queued_at=now,
                updated_at=now,
            )
        )
    # A one-shot campaign's deliveries expire after the retention (its report then comes from
    # its counters); an automatic campaign's are the memory of its cooldown and stay.
    keep = timedelta(days=deps.settings.delivery_retention_days)
    expires_at = None if campaign.kind is CampaignKind.AUTOMATIC else now + keep
    written = deps.deliveries.put_new(records, expires_at=expires_at)
    groups = list(enumerate(batches(queued, size), start=first_batch))
    enqueue_batches(deps, campaign, groups)
    # What the fan-out settled itself, counted with the chunk (the job counts each chunk once)
    # and put on the campaign's counters, with the total, when the fan-out is done.
    settled = {
        name: sum(1 for r in records if r.status.value == name)
        for name in ("suppressed", "excluded_no_consent")
    }
    counters = {"recipients": len(records), "batches": len(groups), "written": len(written), **settled}
    finished = cursor is None
    if finished:
        recipients = job.result.get("recipients", 0) + len(records)
        total_batches = first_batch + len(groups)
        deps.campaigns.fanout_finished(
            job.account_id,
            campaign.campaign_id,
            recipients,
            total_batches,
            **{name: job.result.get(name, 0) + n for name, n in settled.items()},
        )
        logger.info(
            "campaign fan-out done",
            extra={"campaign_id": campaign.campaign_id, "recipients": recipients, "batches": total_batches},
        )
        maybe_finish(deps, job.account_id, campaign.campaign_id)
    return ChunkOutcome(cursor=cursor, done=len(matches), finished=finished, counters=counters)
