"""Wait, then segment: the list of the clients who confirmed through a reactivation campaign.

Once a reactivation campaign has sent, it waits ``wait_days`` (status
``awaiting_responses``, ``segment_after`` set, present in the sparse
``by-segment-due`` index). Then — by the hourly schedule, or early through
``POST /v1/campaigns/{id}/segment`` — a ``campaign_segment`` job walks the
campaign's own deliveries (a Query of its partition: cost proportional to
the campaign, not the account) a page at a time and:

- adds to the list every client whose latest choice through this campaign is
  *confirm* and whose consent is still ``granted`` (confirm-then-decline is
  out, decline-then-confirm is in; a later unsubscribe is out);
- applies the account's ``non_responder_action`` to those who received the
  e-mail and did nothing: ``none``, ``tag`` (``no-response-<campaign id>``,
  through the bulk-tag machinery) or ``erase`` (GDPR erasure);
- at the end marks the list ready and the campaign ``segmented``.

Idempotent and resumable: the list id and the job id are derived from the
campaign id, so two schedulers, a schedule and a POST, or a retry all start
the same job once (its creation is conditional); the job runner's cursor and
lease make each chunk count once; list members are idempotent puts; tagging
an already tagged client and erasing an erased one change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus
from chalicelib.domain.campaigns import Campaign, Delivery
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job, SweepStep
from chalicelib.domain.lists import BUILDING, RecipientList
from chalicelib.domain.reactivation import is_non_responder, latest_confirmed
from chalicelib.domain.records import Account
from chalicelib.domain.time import to_iso
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import jobs

KIND = "campaign_segment"
_PAGE = 200
_INLINE_SECONDS = 8.0  # how long a POST runs the job itself before leaving it to the worker
_DUE_PER_RUN = 200


class SegmentInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    force: Annotated[bool, Field(description="Segment before the wait is over.")] = False
    refresh: Annotated[
        bool,
        Field(description="Once the list exists: add the clients who confirmed since it was made."),
    ] = False


def _ulid_of(campaign_id: str) -> str:
    return campaign_id.removeprefix("cmp_")


def segment_list_id(campaign_id: str) -> str:
    return f"lst_{_ulid_of(campaign_id)}"


def segment_job_id(campaign_id: str, attempt: int = 0) -> str:
    """The segmentation job's id; a job that gave up is followed by the next attempt's."""
    suffix = f"r{attempt}" if attempt else ""
    return f"job_seg{_ulid_of(campaign_id)}{suffix}"


_MAX_RESTARTS = 5


def no_response_tag(campaign: Campaign) -> str:
    return f"no-response-{campaign.campaign_id}"


@dataclass(frozen=True)
class Segmentation:
    list_id: str
    size: int
    status: str
    job_id: str
    added: int | None = None  # a refresh: members it added


def _ensure(deps: Deps, campaign: Campaign, actor: str | None = None) -> None:
    """Start the campaign's segmentation unless it already was (safe to repeat)."""
    now = deps.clock()
    list_id = segment_list_id(campaign.campaign_id)
    if not deps.campaigns.set_segment_list(campaign, list_id, now):
        return  # no longer awaiting responses: segmented meanwhile
    try:
        deps.lists.create(
            RecipientList(
                account_id=campaign.account_id,
                list_id=list_id,
                name=campaign.name[:200],
                source={"campaign_id": campaign.campaign_id},
                created_at=now,
                updated_at=now,
                size=0,
                status=BUILDING,
            )
        )
    except Conflict:
        pass  # created by an earlier or concurrent run
    job_id = _start_job(deps, campaign, list_id, actor)
    if job_id is not None:
        deps.lists.set_job(campaign.account_id, list_id, job_id)
        logger.info(
            "segmentation started",
            extra={"account_id": campaign.account_id, "campaign_id": campaign.campaign_id, "job_id": job_id},
        )


def _start_job(deps: Deps, campaign: Campaign, list_id: str, actor: str | None) -> str | None:
    """Start the job, once: the id is the campaign's, so a second start is refused (``None``).
    If the job gave up (a chunk failed three times), the next attempt resumes from its cursor."""
    from chalicelib.domain.jobs import FAILED

    previous = None
    for attempt in range(_MAX_RESTARTS):
        job_id = segment_job_id(campaign.campaign_id, attempt)
        try:
            jobs.start_job(
                deps,
                campaign.account_id,
                KIND,
                {"campaign_id": campaign.campaign_id, "list_id": list_id},
                campaign.n_recipients,
                cursor=previous.cursor if previous else None,
                done=previous.done if previous else 0,
                result=previous.result if previous else None,
                job_id=job_id,
                actor=actor,
            )
        except Conflict:
            existing = deps.jobs.get(campaign.account_id, job_id, consistent=True)
            if existing.status != FAILED:
                jobs.resume_if_stalled(deps, existing)  # its message may have been lost
                return None  # started already: the job runner owns it
            previous = existing
            continue
        return job_id
    logger.error("segmentation keeps failing", extra={"campaign_id": campaign.campaign_id})
    return None


def current_job_id(deps: Deps, campaign: Campaign) -> str:
    """The id of the campaign's latest segmentation job."""
    for attempt in range(_MAX_RESTARTS - 1, 0, -1):
        job_id = segment_job_id(campaign.campaign_id, attempt)
        try:
            deps.jobs.get(campaign.account_id, job_id)
        except NotFound:
            continue
        return job_id
    return segment_job_id(campaign.campaign_id)


def _result(deps: Deps, campaign: Campaign) -> Segmentation:
    list_id = campaign.segment_list_id or segment_list_id(campaign.campaign_id)
    current = deps.lists.get(campaign.account_id, list_id)
    return Segmentation(
        list_id=list_id, size=current.size, status=current.status, job_id=current_job_id(deps, campaign)
    )


def segment_campaign(
    deps: Deps,
    account: Account,
    campaign_id: str,
    force: bool,
    actor: str | None = None,
    refresh: bool = False,
) -> Segmentation:
    """``POST /v1/campaigns/{id}/segment``: segment now (409 before the wait is over unless
    ``force``); runs the job in the request for a while, so small campaigns are done at once.
    Once segmented, the same list is answered again — or, with ``refresh``, completed with
    the clients who confirmed since it was made."""
    campaign = deps.campaigns.get(account.account_id, campaign_id, consistent=True)
    if campaign.kind is not CampaignKind.REACTIVATION:
        raise Conflict("only reactivation campaigns are segmented", code="invalid_campaign_status")
    if campaign.status is CampaignStatus.SEGMENTED:
        if refresh:
            return _refresh(deps, account, campaign, actor)
        return _result(deps, campaign)
    if campaign.status is not CampaignStatus.AWAITING_RESPONSES:
        raise Conflict(
            f"a {campaign.status.value} campaign cannot be segmented; it must have finished sending",
            code="invalid_campaign_status",
        )
    now = deps.clock()
    if not force and campaign.segment_after is not None and now < campaign.segment_after:
        raise Conflict(
            "the wait for responses is not over; repeat with force: true to segment now",
            code="wait_not_elapsed",
            details={"segment_after": to_iso(campaign.segment_after)},
        )
    _ensure(deps, campaign, actor)
    _run_inline(deps, account.account_id, current_job_id(deps, campaign))
    return _result(deps, deps.campaigns.get(account.account_id, campaign_id, consistent=True))


def _refresh(deps: Deps, account: Account, campaign: Campaign, actor: str | None) -> Segmentation:
    """Add to the segment's list the clients who confirmed since: a job of its own (the same
    chunk code, in refresh mode), run in the request for a while like the first one."""
    list_id = campaign.segment_list_id or segment_list_id(campaign.campaign_id)
    deps.lists.get(account.account_id, list_id)  # deleted by staff meanwhile → 404
    job = jobs.start_job(
        deps,
        account.account_id,
        KIND,
        {"campaign_id": campaign.campaign_id, "list_id": list_id, "refresh": True},
        campaign.n_recipients,
        actor=actor,
    )
    _run_inline(deps, account.account_id, job.job_id)
    finished = deps.jobs.get(account.account_id, job.job_id, consistent=True)
    current = deps.lists.get(account.account_id, list_id)
    logger.info(
        "segment refreshed",
        extra={"account_id": account.account_id, "campaign_id": campaign.campaign_id, "job_id": job.job_id},
    )
    return Segmentation(
        list_id=list_id,
        size=current.size,
        status=current.status if finished.finished else "building",
        job_id=job.job_id,
        added=int(finished.result.get("added", 0)),
    )


def _run_inline(deps: Deps, account_id: str, job_id: str) -> None:
    """Run the job's chunks here (the same lease-guarded path as the worker) for a while;
    messages left on the queue for chunks already run are ignored as stale. When the worker
    holds the chunk (it took the job's first message), wait for it within the same time, so
    the answer shows the finished list rather than a race's half."""
    import time

    started = time.monotonic()
    while time.monotonic() - started < _INLINE_SECONDS:
        try:
            job = deps.jobs.get(account_id, job_id, consistent=True)
        except NotFound:
            return
        if job.finished:
            return
        outcome = jobs.handle_message(deps, {"account_id": account_id, "job_id": job_id, "seq": job.seq})
        if outcome in ("busy", "stale"):
            time.sleep(0.2)  # the worker runs this chunk (or just committed it): look again
            continue
        if outcome in ("failed", "lost_lease", "unknown"):
            return  # it gave up, or lost its lease: the worker carries on


def segment_due_campaigns(deps: Deps) -> dict[str, int]:
    """The hourly schedule's work in one call (the schedule runs ``due_step`` within its
    Lambda's time): start the segmentation of every campaign whose wait is over."""
    return due_step(deps, None, Budget.start(_DUE_PER_RUN, 3600.0)).counters


def due_step(deps: Deps, cursor: Any, budget: Budget) -> SweepStep:
    """The sweep: from ``cursor`` (a position in the sparse index of campaigns whose wait is
    over) until ``budget`` is spent, start each one's segmentation (safe to repeat); answers
    the position after the last campaign looked at."""
    now = deps.clock()
    started = seen = 0
    after = cursor
    limit = min(budget.items, _DUE_PER_RUN)
    due = deps.campaigns.due_for_segment(now, limit=limit, after=cursor)
    for account_id, campaign_id, position in due:
        if budget.spent(seen):
            break
        seen += 1
        after = position
        try:
            campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
        except NotFound:
            continue
        if campaign.status is CampaignStatus.AWAITING_RESPONSES:
            _ensure(deps, campaign)
            started += 1
    if started:
        metrics.add_metric(name="SegmentationsStarted", unit="Count", value=started)
    more = seen < len(due) or len(due) == limit  # stopped early, or a full page: maybe more
    return SweepStep(cursor=after if more else None, done=seen, counters={"due": started})


# --- the job --------------------------------------------------------------------------------


def _apply_non_responder_action(
    deps: Deps, account: Account, campaign: Campaign, silent: list[Delivery], job: Job
) -> dict[str, int]:
    action = account.settings.non_responder_action
    if not silent or action == "none":
        return {}
    if action == "tag":
        from chalicelib.services.bulk_tags import apply_to_clients
        from chalicelib.services.tags import account_spellings

        found = deps.client_index.get_many(account.account_id, [d.client_id for d in silent])
        tag = account_spellings(deps, account.account_id, [no_response_tag(campaign)])
        counts = apply_to_clients(deps, account.account_id, list(found.values()), tag, [], job.job_id)
        return {"tagged": counts["updated"]}
    from chalicelib.domain.consent import Source
    from chalicelib.services.gdpr import erase_client

    erased = 0
    for delivery in silent:
        try:
            # The account's non-responder setting acts; the actor is whoever started the
            # segmentation (None when the hourly schedule did, after the wait).
            erase_client(deps, account, delivery.client_id, source=Source.STAFF, actor=job.actor)
        except NotFound:
            continue  # erased already (an earlier run of this chunk)
        erased += 1
    return {"erased": erased}


@jobs.register(KIND)
def segment_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    campaign_id, list_id = job.params["campaign_id"], job.params["list_id"]
    refresh = bool(job.params.get("refresh"))
    account = deps.accounts.get(job.account_id)
    campaign = deps.campaigns.get(job.account_id, campaign_id, consistent=True)
    cursor: Any = job.cursor
    done = 0
    counters: dict[str, int] = {"added" if refresh else "members": 0}
    while True:
        deliveries, cursor = deps.deliveries.page(campaign_id, limit=_PAGE, start_key=cursor)
        done += len(deliveries)
        confirmed = [d.client_id for d in deliveries if d.response == "confirmed"]
        clients = deps.client_index.get_many(job.account_id, confirmed) if confirmed else {}
        members = [
            cid
            for cid in confirmed
            if cid in clients
            and latest_confirmed("confirmed", clients[cid].consent_state, clients[cid].suppressed)
        ]
        if refresh:
            # Only additions: a member who declined since stays (a list is a snapshot).
            present = deps.client_index.members_among(job.account_id, list_id, members)
            new = [cid for cid in members if cid not in present]
            deps.lists.add_members(job.account_id, list_id, new)
            counters["added"] += len(new)
        else:
            deps.lists.add_members(job.account_id, list_id, members)
            counters["members"] += len(members)
            silent = [
                d
                for d in deliveries
                if is_non_responder(d.status.value, d.response, d.bounce, d.unsubscribed)
            ]
            for name, value in _apply_non_responder_action(deps, account, campaign, silent, job).items():
                counters[name] = counters.get(name, 0) + value
        if cursor is None or budget.spent(done):
            break
    finished = cursor is None
    if refresh:
        if finished:  # exact whatever a crash left half done: the members counted
            size = deps.lists.count_members(list_id)
            deps.lists.set_size(job.account_id, list_id, size, deps.clock(), ready=True)
        return ChunkOutcome(cursor=cursor, done=done, finished=finished, counters=counters)
    size = job.result.get("members", 0) + counters["members"]
    deps.lists.set_size(job.account_id, list_id, size, deps.clock(), ready=finished)
    if finished:
        deps.campaigns.segmented(campaign, deps.clock())
        logger.info(
            "campaign segmented",
            extra={"account_id": job.account_id, "campaign_id": campaign_id, "size": size},
        )
        metrics.add_metric(name="CampaignsSegmented", unit="Count", value=1)
    return ChunkOutcome(cursor=cursor, done=done, finished=finished, counters=counters)
