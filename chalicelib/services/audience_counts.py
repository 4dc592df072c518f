"""A campaign's audience counted: the preview's numbers and the consent gate of ``send``.

A request counts at most ``preview_max_clients`` (1,000) recipients' records and one more
stretch's worth to know the limit is passed (the request item budget, ``docs/ARCHITECTURE.md``):

- ``POST /v1/campaigns/{id}/preview`` answers 200 with the counts when the whole audience is
  within it; beyond, 202 with an ``audience_count`` job that counts the rest. The request hands
  the job what it counted already (its cursor, ``done`` and counts), the job's first chunks
  count the audience's index entries for its ``total`` (``targets.counted_first``), then its
  chunks read the remaining records from where the request stopped, within the Lambda's time.
  The finished job's ``result`` holds the preview's numbers. Counting reads and writes no
  client, so a chunk that runs twice changes nothing (only its committed outcome counts).
- The job is named on the campaign (``count_job_id``): the console shows its counts, and the
  consent gate of ``send`` uses them for an audience beyond the limit when the job counted the
  campaign's current audience with the account's current consent-only setting, finished,
  within ``COUNT_FRESH`` (an hour). Without such a count the send needs the acknowledgement
  (409 ``audience_too_large``, as before), never a guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_status import CampaignKind
from chalicelib.domain.campaigns import AudienceCounts, Campaign
from chalicelib.domain.jobs import DONE, Budget, ChunkOutcome, Job
from chalicelib.domain.records import Account
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability import logger
from chalicelib.services import jobs
from chalicelib.services.targets import count_later, counted_first

KIND = "audience_count"
COUNT_FRESH = timedelta(hours=1)  # how old a finished count the consent gate of send still uses
_PAGE = 500
COUNTS = ("recipients", "consented", "not_consented", "suppressed", "will_send")


@dataclass
class Stretch:
    """Recipients counted from some position: ``cursor`` where counting goes on (``None``: the
    whole audience is counted) and ``read`` candidates read (clients, pending ones included)."""

    counts: AudienceCounts = field(default_factory=AudienceCounts)
    cursor: Any = None
    read: int = 0


def count_stretch(
    deps: Deps,
    account_id: str,
    audience: dict[str, Any],
    kind: CampaignKind,
    consent_only: bool,
    cursor: Any,
    budget: Budget,
    *,
    stop_after: int | None = None,
) -> Stretch:
    """Count the audience's recipients from ``cursor``, page by page, until its end, until
    ``budget`` is spent or (``stop_after``) once more than that many recipients are counted;
    each page asks for no more candidates than the count still needs to pass ``stop_after``."""
    from chalicelib.services.campaigns import audience_chunk

    found = Stretch(cursor=cursor)
    asked = 0  # candidates asked for: a bound on those examined (a selective filter skips many)
    while True:
        wanted = min(_PAGE, budget.items - asked)
        if stop_after is not None:
            wanted = min(wanted, stop_after + 1 - found.counts.recipients)
        matches, found.cursor = audience_chunk(
            deps,
            account_id,
            audience,
            found.cursor,
            max(1, wanted),
            max(1.0, budget.left()),
            need_clients=True,
        )
        asked += max(1, wanted)
        missing = [cid for cid, client in matches if client is None]
        fetched = deps.client_index.get_many(account_id, missing) if missing else {}
        for client_id, client in matches:
            client = client or fetched.get(client_id)
            if client is not None:
                found.counts.add(
                    kind, client.consent_state, client.suppressed, consent_only, pending=client.pending
                )
        found.read += len(matches)
        if found.cursor is None or budget.spent(asked):
            return found
        if stop_after is not None and found.counts.recipients > stop_after:
            return found


def view(counts: AudienceCounts, kind: CampaignKind, consent_only: bool) -> dict[str, Any]:
    """The preview's answer (API.md): the numbers and their warnings."""
    warnings = []
    if counts.needs_acknowledgement(kind, consent_only):
        warnings.append(
            {
                "code": "non_consented_recipients",
                "count": counts.not_consented,
                "message": f"{counts.not_consented} recipient(s) have not granted consent; "
                "sending needs acknowledge_non_consented",
            }
        )
    elif consent_only and counts.not_consented and kind is not CampaignKind.REACTIVATION:
        warnings.append(
            {
                "code": "excluded_no_consent",
                "count": counts.not_consented,
                "message": f"{counts.not_consented} recipient(s) without consent will be excluded",
            }
        )
    if counts.suppressed:
        warnings.append(
            {
                "code": "suppressed_recipients",
                "count": counts.suppressed,
                "message": f"{counts.suppressed} suppressed or declined recipient(s) will not be reached",
            }
        )
    return {**asdict(counts), "warnings": warnings}


def _too_large(limit: int, job: Job | None = None) -> Conflict:
    details: dict[str, Any] = {"limit": limit}
    if job is not None:
        details["job_id"] = job.job_id
    return Conflict(
        f"the audience has more than {limit} recipients: count it first (POST …/preview starts "
        "the count) or send with acknowledge_non_consented",
        code="audience_too_large",
        details=details,
    )


def _in_request(deps: Deps, account: Account, campaign: Campaign) -> Stretch:
    limit = deps.settings.preview_max_clients
    return count_stretch(
        deps,
        account.account_id,
        campaign.audience,
        campaign.kind,
        account.settings.consent_only_campaigns,
        None,
        Budget.start(limit + 1, 10.0),
        stop_after=limit,
    )


def preview(
    deps: Deps, account: Account, campaign: Campaign, actor: str | None = None
) -> tuple[dict[str, Any] | None, Job | None]:
    """``(counts, None)`` when the request counted the whole audience; else ``(None, job)``:
    the ``audience_count`` job that counts the rest, named on the campaign."""
    consent_only = account.settings.consent_only_campaigns
    found = _in_request(deps, account, campaign)
    if found.cursor is None:
        return view(found.counts, campaign.kind, consent_only), None
    params = {
        "campaign_id": campaign.campaign_id,
        "audience": campaign.audience,
        "kind": campaign.kind.value,
        "consent_only": consent_only,
    }
    total, cursor = _job_start(deps, account.account_id, campaign.audience, found.cursor)
    job = jobs.start_job(
        deps,
        account.account_id,
        KIND,
        params,
        total,
        cursor=cursor,
        done=found.read,
        result=asdict(found.counts),
        actor=actor,
    )
    deps.campaigns.set_count_job(account.account_id, campaign.campaign_id, job.job_id)
    logger.info(
        "audience count started",
        extra={"account_id": account.account_id, "campaign_id": campaign.campaign_id, "job_id": job.job_id},
    )
    return None, job


def _job_start(deps: Deps, account_id: str, audience: dict[str, Any], then: Any) -> tuple[int | None, Any]:
    """The job's ``total`` and first cursor: a list's size (one item), else counted by the job's
    first chunks (the request has read its share of the budget already)."""
    from chalicelib.services.campaigns import audience_filter

    if "list_id" in audience:
        try:
            return deps.lists.get(account_id, audience["list_id"]).size, then
        except NotFound:
            return 0, then
    return None, count_later(audience_filter(audience), then)


def latest(deps: Deps, account: Account, campaign: Campaign) -> Job | None:
    """The campaign's latest count job, if it counted the campaign's current audience with the
    account's current consent-only setting (running or finished, however old)."""
    if not campaign.count_job_id:
        return None
    try:
        job = deps.jobs.get(account.account_id, campaign.count_job_id)
    except NotFound:
        return None
    params = job.params
    if (
        params.get("audience") != campaign.audience
        or params.get("kind") != campaign.kind.value
        or params.get("consent_only") != account.settings.consent_only_campaigns
    ):
        return None
    return job


def counts_of(job: Job) -> AudienceCounts:
    return AudienceCounts(**{name: int(job.result.get(name, 0)) for name in COUNTS})


def fresh_counts(deps: Deps, account: Account, campaign: Campaign) -> AudienceCounts | None:
    """A finished count of the campaign's current audience from the last ``COUNT_FRESH``."""
    job = latest(deps, account, campaign)
    if job is None or job.status != DONE or deps.clock() - job.updated_at > COUNT_FRESH:
        return None
    return counts_of(job)


def for_gate(deps: Deps, account: Account, campaign: Campaign) -> AudienceCounts:
    """The counts the consent gate of ``send`` decides on: counted in the request, or beyond
    ``preview_max_clients`` a fresh count job's; else 409 ``audience_too_large``."""
    found = _in_request(deps, account, campaign)
    if found.cursor is None:
        return found.counts
    counted = fresh_counts(deps, account, campaign)
    if counted is None:
        raise _too_large(deps.settings.preview_max_clients, latest(deps, account, campaign))
    return counted


@jobs.register(KIND)
@counted_first
def count_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Count the next pages of the audience from the job's cursor, within the chunk's budget."""
    params = job.params
    found = count_stretch(
        deps,
        job.account_id,
        params["audience"],
        CampaignKind(params["kind"]),
        bool(params["consent_only"]),
        job.cursor,
        budget,
    )
    return ChunkOutcome(
        cursor=found.cursor,
        done=found.read,
        finished=found.cursor is None,
        counters=asdict(found.counts),
    )
