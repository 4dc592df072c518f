"""Campaigns: create, read, preview, send, pause, resume, cancel, report.

``send`` checks the consent gate, moves the campaign ``draft → sending`` with
a conditional write and starts the ``campaign_fanout`` job (see
``services.fanout``), then returns at once (202). Pause, resume and cancel
are conditional status changes; the send workers read the status before each
message, so they take effect mid-send. ``resume`` (and ``cancel``) re-enqueue
every delivery still waiting, found by a Query of the campaign's own
partition, so nobody is skipped; the conditional ``queued → sending`` of the
workers means nobody is sent twice either.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.account_settings import HttpsUrl, Language
from chalicelib.domain.campaign_content import TemplateProblem, check_template
from chalicelib.domain.campaign_status import (
    CampaignAction,
    CampaignKind,
    CampaignStatus,
    DeliveryStatus,
    TransitionRefused,
    next_status,
)
from chalicelib.domain.campaigns import AudienceCounts, Campaign, report
from chalicelib.domain.records import Account, Client
from chalicelib.domain.text import Text
from chalicelib.errors import AccountSuspended, Conflict, InvalidInput
from chalicelib.observability import logger, metrics

FANOUT_KIND = "campaign_fanout"
AUTO_STATUSES = ("new", "active", "lapsing", "lost")
_PAGE = 500

Name = Annotated[str, Text(200, min_length=1, name=True)]
Subject = Annotated[str, Text(998, min_length=1)]  # one header line
Body = Annotated[str, Text(200_000, multiline=True, strip=False)]


class AudienceInput(BaseModel):
    """Exactly one of ``list_id``, ``tag``, ``filter``, ``auto_status``."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    list_id: Annotated[str, StringConstraints(pattern=r"^lst_[A-Za-z0-9]{1,40}$")] | None = None
    tag: Annotated[str, Text(64, min_length=1)] | None = None
    filter: Any = None
    auto_status: Literal["new", "active", "lapsing", "lost"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AudienceInput:
        if len(self.model_fields_set & {"list_id", "tag", "filter", "auto_status"}) != 1:
            raise ValueError("give exactly one of list_id, tag, filter, auto_status")
        return self

    def as_json(self) -> dict[str, Any]:
        name = next(iter(self.model_fields_set & {"list_id", "tag", "filter", "auto_status"}))
        return {name: getattr(self, name)}


class NewCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: Name
    kind: Literal["standard", "reactivation", "automatic"] = "standard"
    subject: Subject | None = None  # a reactivation campaign has a default one
    html: Body | None = None
    text: Body | None = None
    language: Language | None = None
    audience: AudienceInput
    terms_url: HttpsUrl | None = None
    legitimate_interest_url: HttpsUrl | None = None
    wait_days: int | None = Field(default=None, ge=0, le=30)
    cooldown_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _has_body(self) -> NewCampaign:
        if self.cooldown_days is not None and self.kind != "automatic":
            raise ValueError("cooldown_days is for automatic campaigns only")
        if self.kind == "reactivation":
            return self  # the default template fills what is not given
        if not self.subject:
            raise ValueError("give a subject")
        if not (self.html or "").strip() and not (self.text or "").strip():
            raise ValueError("give html, text or both")
        return self


class SendInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    acknowledge_non_consented: bool = False


def _check_templates(data: NewCampaign) -> None:
    details = []
    for name, html in (("subject", False), ("html", True), ("text", False)):
        source = getattr(data, name)
        if source:
            try:
                check_template(source, html=html)
            except TemplateProblem as exc:
                details.append({"field": name, "message": str(exc)})
    if details:
        raise InvalidInput("the campaign's templates cannot be used", details=details)


def _check_audience(deps: Deps, account: Account, audience: dict[str, Any]) -> None:
    if "list_id" in audience:
        deps.lists.get(account.account_id, audience["list_id"])  # another account's list → 404
    elif "filter" in audience:
        from chalicelib.services.selection import parse_or_400

        parse_or_400(audience["filter"], "audience.filter")


def _reactivation_defaults(account: Account, data: NewCampaign) -> NewCampaign:
    """Fill the default subject and body (in the campaign's, else the account's language)
    and refuse a business's own template that lacks the two CTAs or the links."""
    from chalicelib.domain.reactivation import reactivation_template_problems
    from chalicelib.mail.reactivation import default_html, default_subject
    from chalicelib.mail.rendering import pick_language

    language = pick_language(data.language, account.settings.language)
    html = data.html if (data.html or "").strip() else default_html(language)
    details = [{"field": "html", "message": problem} for problem in reactivation_template_problems(html)]
    if data.text:
        for name in ("confirm_url", "decline_url"):
            if name not in data.text:
                details.append({"field": "text", "message": f"must show the link {{{{ {name} }}}}"})
    if details:
        raise InvalidInput(
            "a reactivation e-mail must carry the confirm and decline buttons and the links",
            details=details,
        )
    return data.model_copy(update={"subject": data.subject or default_subject(language), "html": html})


def create_campaign(deps: Deps, account: Account, data: NewCampaign) -> Campaign:
    kind = CampaignKind(data.kind)
    terms = data.terms_url or account.settings.terms_url
    interest = data.legitimate_interest_url or account.settings.legitimate_interest_url
    if kind is CampaignKind.REACTIVATION:
        missing = [
            {
                "field": name,
                "message": "required for a reactivation campaign (here or in the account settings)",
            }
            for name, value in (("terms_url", terms), ("legitimate_interest_url", interest))
            if not value
        ]
        if missing:
            raise InvalidInput(
                "a reactivation campaign needs its terms and legitimate-interest pages", details=missing
            )
        _check_templates(data)  # syntax and variables first: their messages are the clearest
        data = _reactivation_defaults(account, data)
    _check_templates(data)
    audience = data.audience.as_json()
    _check_audience(deps, account, audience)
    now = deps.clock()
    wait_days = data.wait_days
    if kind is CampaignKind.REACTIVATION and wait_days is None:
        wait_days = account.settings.reactivation_wait_days
    campaign = Campaign(
        account_id=account.account_id,
        campaign_id=f"cmp_{ULID()}",
        name=data.name,
        kind=kind,
        status=CampaignStatus.DRAFT,
        subject=data.subject or "",
        html=data.html or "",
        text=data.text,
        language=data.language,
        audience=audience,
        terms_url=terms,
        legitimate_interest_url=interest,
        wait_days=wait_days,
        cooldown_days=data.cooldown_days,
        created_at=now,
        updated_at=now,
    )
    created = deps.campaigns.create(campaign)
    logger.info(
        "campaign created", extra={"account_id": account.account_id, "campaign_id": created.campaign_id}
    )
    return created


def get_campaign(deps: Deps, account: Account, campaign_id: str) -> Campaign:
    return deps.campaigns.get(account.account_id, campaign_id, consistent=True)


# --- audience -------------------------------------------------------------------------


def audience_filter(audience: dict[str, Any]) -> dict[str, Any]:
    """The Targeting selection an audience stands for (lists are read directly)."""
    if "tag" in audience:
        return {"tag": audience["tag"]}
    if "auto_status" in audience:
        return {"filter": {"field": "auto_status", "op": "eq", "value": audience["auto_status"]}}
    return {"filter": audience["filter"]}


def audience_chunk(
    deps: Deps,
    account_id: str,
    audience: dict[str, Any],
    cursor: Any,
    items: int,
    seconds: float,
    *,
    need_clients: bool,
) -> tuple[list[tuple[str, Client | None]], Any]:
    """The next stretch of an audience: ``(client_id, client or None)`` pairs and the cursor
    where the following stretch starts (``None`` at the end)."""
    from chalicelib.domain.jobs import Budget

    if "list_id" in audience:
        page = deps.lists.member_page(audience["list_id"], limit=min(items, 1000), start_key=cursor)
        ids: list[str] = list(page.items)
        clients: dict[str, Client] = (
            deps.client_index.get_many(account_id, ids) if need_clients and ids else {}
        )
        if need_clients:
            return [(cid, clients[cid]) for cid in ids if cid in clients], page.next_key
        return [(cid, None) for cid in ids], page.next_key
    from chalicelib.services.targets import walk

    found = walk(
        deps,
        account_id,
        audience_filter(audience),
        cursor,
        Budget.start(items, seconds),
        need_clients=need_clients,
    )
    return found.matches, found.cursor


def job_audience_chunk(
    deps: Deps, job: Any, campaign: Campaign, budget: Any, *, need_clients: bool
) -> tuple[list[tuple[str, Client | None]], Any]:
    """``audience_chunk`` for a job's chunk: from the job's cursor, within its budget."""
    return audience_chunk(
        deps,
        job.account_id,
        campaign.audience,
        job.cursor,
        budget.items,
        max(1.0, budget.deadline - time.monotonic()),
        need_clients=need_clients,
    )


def _audience_clients(deps: Deps, account_id: str, audience: dict[str, Any]) -> Iterator[Client]:
    cursor: Any = None
    while True:
        matches, cursor = audience_chunk(deps, account_id, audience, cursor, _PAGE, 10.0, need_clients=True)
        for client_id, client in matches:
            if client is None:  # the selection did not need the record: fetch it
                found = deps.client_index.get_many(account_id, [client_id])
                client = found.get(client_id)
            if client is not None:
                yield client
        if cursor is None:
            return


def count_audience(deps: Deps, account: Account, campaign: Campaign) -> AudienceCounts:
    counts = AudienceCounts()
    consent_only = account.settings.consent_only_campaigns
    for client in _audience_clients(deps, account.account_id, campaign.audience):
        counts.add(
            campaign.kind, client.consent_state, client.suppressed, consent_only, pending=client.pending
        )
        if counts.recipients > deps.settings.preview_max_clients:
            raise Conflict(
                "the audience is too large to count in one request",
                code="audience_too_large",
                details={"limit": deps.settings.preview_max_clients},
            )
    return counts


def preview(deps: Deps, account: Account, campaign_id: str) -> dict[str, Any]:
    campaign = get_campaign(deps, account, campaign_id)
    counts = count_audience(deps, account, campaign)
    consent_only = account.settings.consent_only_campaigns
    warnings = []
    if counts.needs_acknowledgement(campaign.kind, consent_only):
        warnings.append(
            {
                "code": "non_consented_recipients",
                "count": counts.not_consented,
                "message": f"{counts.not_consented} recipient(s) have not granted consent; "
                "sending needs acknowledge_non_consented",
            }
        )
    elif consent_only and counts.not_consented and campaign.kind is not CampaignKind.REACTIVATION:
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
    return {
        "recipients": counts.recipients,
        "consented": counts.consented,
        "not_consented": counts.not_consented,
        "suppressed": counts.suppressed,
        "will_send": counts.will_send,
        "warnings": warnings,
    }


# --- lifecycle --------------------------------------------------------------------------


def _refuse(exc: TransitionRefused) -> Conflict:
    return Conflict(str(exc), code="invalid_campaign_status")


def _require_sender(deps: Deps, account: Account) -> None:
    """400 ``sender_not_verified`` unless the account's sender is on one of its verified domains
    (the send worker would only pause the campaign)."""
    from chalicelib.services.sender_domains import require_verified_sender

    require_verified_sender(deps, account, account.settings.sender_email)


def send_campaign(
    deps: Deps, account: Account, campaign_id: str, data: SendInput, actor: str | None = None
) -> Campaign:
    if account.suspended:
        raise AccountSuspended(
            "this account is suspended and cannot send", details={"reason": account.suspension_reason}
        )
    campaign = get_campaign(deps, account, campaign_id)
    _require_sender(deps, account)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.SEND, None)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    consent_only = account.settings.consent_only_campaigns
    if (
        campaign.kind is not CampaignKind.REACTIVATION
        and not consent_only
        and not data.acknowledge_non_consented
    ):
        counts = count_audience(deps, account, campaign)
        if counts.needs_acknowledgement(campaign.kind, consent_only):
            raise Conflict(
                f"{counts.not_consented} recipient(s) have not granted consent; "
                "repeat with acknowledge_non_consented: true to send anyway",
                code="non_consented_recipients",
                details={"count": counts.not_consented},
            )
    now = deps.clock()
    if not deps.campaigns.move(campaign, target, now):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    if target is CampaignStatus.SENDING:
        from chalicelib.services import fanout, jobs

        fanout.load()
        job = jobs.start_job(
            deps, account.account_id, FANOUT_KIND, {"campaign_id": campaign.campaign_id}, actor=actor
        )
        deps.campaigns.set_job(account.account_id, campaign.campaign_id, job.job_id)
    metrics.add_metric(name="CampaignsSent", unit="Count", value=1)
    logger.info("campaign sending", extra={"account_id": account.account_id, "campaign_id": campaign_id})
    return get_campaign(deps, account, campaign_id)


def pause_campaign(deps: Deps, account: Account, campaign_id: str, reason: str = "staff") -> Campaign:
    campaign = get_campaign(deps, account, campaign_id)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.PAUSE, None)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    if not deps.campaigns.move(campaign, target, deps.clock(), paused_reason=reason):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    logger.info("campaign paused", extra={"campaign_id": campaign_id, "reason": reason})
    return get_campaign(deps, account, campaign_id)


def resume_campaign(deps: Deps, account: Account, campaign_id: str) -> Campaign:
    if account.suspended:
        raise AccountSuspended(
            "this account is suspended and cannot send", details={"reason": account.suspension_reason}
        )
    campaign = get_campaign(deps, account, campaign_id)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.RESUME, campaign.paused_from)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    _require_sender(deps, account)
    if not deps.campaigns.move(campaign, target, deps.clock()):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    requeued = requeue_waiting(deps, replace(campaign, status=target))
    if requeued == 0:
        from chalicelib.services.sending import maybe_finish

        maybe_finish(deps, account.account_id, campaign_id)  # everything was done before the pause
    logger.info("campaign resumed", extra={"campaign_id": campaign_id, "requeued": requeued})
    return get_campaign(deps, account, campaign_id)


def cancel_campaign(deps: Deps, account: Account, campaign_id: str) -> Campaign:
    campaign = get_campaign(deps, account, campaign_id)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.CANCEL, None)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    if not deps.campaigns.move(campaign, target, deps.clock()):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    # The workers settle what is still waiting as failed (reason cancelled).
    requeue_waiting(deps, replace(campaign, status=target))
    logger.info("campaign cancelled", extra={"campaign_id": campaign_id})
    return get_campaign(deps, account, campaign_id)


def requeue_waiting(deps: Deps, campaign: Campaign) -> int:
    """Send a message for every delivery still ``queued`` or ``sending``, grouped by its
    original batch, so each batch can still be counted done exactly once."""
    from chalicelib.services.sending import enqueue_batches

    by_batch: dict[int, list[str]] = {}
    for status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
        for delivery in deps.deliveries.of_campaign(campaign.campaign_id, status=status):
            by_batch.setdefault(delivery.batch or 0, []).append(delivery.client_id)
    enqueue_batches(deps, campaign, sorted(by_batch.items()))
    return sum(len(ids) for ids in by_batch.values())


def campaign_report(deps: Deps, account: Account, campaign_id: str) -> dict[str, Any]:
    campaign = get_campaign(deps, account, campaign_id)
    counts = report(deps.deliveries.of_campaign(campaign.campaign_id))
    if campaign.kind is not CampaignKind.REACTIVATION:
        counts["no_response"] = 0
    counts["campaign_id"] = campaign.campaign_id
    counts["status"] = campaign.status.value
    # Why a paused campaign waits (staff, circuit_breaker, account_suspended, sender_not_verified,
    # ses_account_paused, ses_sending_paused, mail_from_not_verified, configuration_set_missing).
    counts["paused_reason"] = campaign.paused_reason if campaign.status is CampaignStatus.PAUSED else None
    return counts


def segment_due_after(campaign: Campaign, now: Any) -> Any:
    return now + timedelta(days=campaign.wait_days or 0)


def list_campaigns(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[list[Campaign], str | None]:
    from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

    start = decode_cursor(deps.key_ring, account.account_id, "campaigns", cursor)
    items, next_key = deps.campaigns.page(account.account_id, limit=check_limit(limit), start_key=start)
    return items, encode_cursor(deps.key_ring, account.account_id, "campaigns", next_key)
