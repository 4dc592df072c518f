"""Campaigns: create, read, preview, send, pause, resume, cancel, report.

``send`` checks the consent gate, moves the campaign ``draft → sending`` with
a conditional write and starts the ``campaign_fanout`` job (see
``services.fanout``), then returns at once (202). Pause, resume and cancel
are conditional status changes; the send workers read the status before each
message, so they take effect mid-send. ``resume`` (and ``cancel``) re-enqueue
every delivery still waiting, found by a Query of the campaign's own
partition, so nobody is skipped; the conditional ``queued → sending`` of the
workers means nobody is sent twice either. The request reads at most one
bounded page of that partition; a bigger campaign's requeue is a job
(``services.requeue``), and the API answers 202 with it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.account_settings import HttpsUrl, Language
from chalicelib.domain.campaign_content import TemplateProblem, check_template
from chalicelib.domain.campaign_status import (
    CampaignAction,
    CampaignKind,
    CampaignStatus,
    TransitionRefused,
    next_status,
)
from chalicelib.domain.campaigns import Campaign, report_from_counters
from chalicelib.domain.client_profile import Timestamp
from chalicelib.domain.jobs import Budget, Job, SweepStep
from chalicelib.domain.records import Account, Client
from chalicelib.domain.text import Text
from chalicelib.errors import AccountSuspended, Conflict, InvalidInput, NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services.targets import ClientSelection, one_of

FANOUT_KIND = "campaign_fanout"
_DUE_PER_RUN = 200
AUTO_STATUSES = ("new", "active", "lapsing", "lost")

Name = Annotated[str, Text(200, min_length=1, name=True)]
Subject = Annotated[str, Text(998, min_length=1)]  # one header line
Body = Annotated[str, Text(200_000, multiline=True, strip=False)]


AUDIENCE_KINDS = ("list_id", "tag", "filter", "auto_status")
_DEPRECATED_AUDIENCE = Field(
    description="Deprecated: the former name of `selection` (API.md's); still accepted.",
    json_schema_extra={"deprecated": True},
)


def _campaign_selection(selection: ClientSelection | None) -> ClientSelection | None:
    if selection is not None and selection.kind not in AUDIENCE_KINDS:
        raise ValueError(
            "a campaign's selection is a list_id, tag, filter or auto_status "
            "(make a list of the clients first to send to chosen ones)"
        )
    return selection


class _CampaignContent(BaseModel):
    """What a campaign says and to whom: shared by ``NewCampaign`` and ``CampaignPatch``."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    subject: Subject | None = None  # a reactivation campaign has a default one
    html: Body | None = None
    text: Body | None = None
    language: Language | None = None
    selection: ClientSelection | None = None
    audience: Annotated[ClientSelection | None, _DEPRECATED_AUDIENCE] = None
    terms_url: HttpsUrl | None = None
    legitimate_interest_url: HttpsUrl | None = None
    wait_days: int | None = Field(default=None, ge=0, le=30)
    cooldown_days: int | None = Field(default=None, ge=1, le=3650)

    _kinds = field_validator("selection", "audience")(_campaign_selection)


class NewCampaign(_CampaignContent):
    name: Name
    kind: Literal["standard", "reactivation", "automatic"] = "standard"

    @model_validator(mode="after")
    def _has_body(self) -> NewCampaign:
        one_of(self.selection, self.audience, "selection or audience")
        if self.cooldown_days is not None and self.kind != "automatic":
            raise ValueError("cooldown_days is for automatic campaigns only")
        if self.kind == "reactivation":
            return self  # the default template fills what is not given
        if not self.subject:
            raise ValueError("give a subject")
        if not (self.html or "").strip() and not (self.text or "").strip():
            raise ValueError("give html, text or both")
        return self

    @property
    def who(self) -> ClientSelection:
        return one_of(self.selection, self.audience, "selection or audience")


class CampaignPatch(_CampaignContent):
    """A draft's new content: only the fields sent change; ``null`` clears an optional one.
    The result must be a campaign ``POST /v1/campaigns`` would accept."""

    name: Name | None = None
    kind: Literal["standard", "reactivation", "automatic"] | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> CampaignPatch:
        if self.selection is not None and self.audience is not None:
            raise ValueError("give selection or audience, not both")
        return self


class SendInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    acknowledge_non_consented: bool = False
    send_at: Annotated[
        Timestamp | None,
        Field(description="Send later: an ISO 8601 time in the future (status `scheduled` until then)."),
    ] = None


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


def _check_audience(deps: Deps, account: Account, audience: dict[str, Any], path: str) -> None:
    if "list_id" in audience:
        deps.lists.get(account.account_id, audience["list_id"])  # another account's list → 404
    elif "filter" in audience:
        from chalicelib.services.selection import parse_for_account

        parse_for_account(deps, account.account_id, audience["filter"], f"{path}.filter")


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


def _content(deps: Deps, account: Account, data: NewCampaign) -> dict[str, Any]:
    """The campaign fields ``data`` stands for, checked as creating it would check them."""
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
    audience = data.who.as_json()
    _check_audience(deps, account, audience, "selection" if data.selection is not None else "audience")
    wait_days = data.wait_days
    if kind is CampaignKind.REACTIVATION and wait_days is None:
        wait_days = account.settings.reactivation_wait_days
    return {
        "name": data.name,
        "kind": kind,
        "subject": data.subject or "",
        "html": data.html or "",
        "text": data.text,
        "language": data.language,
        "audience": audience,
        "terms_url": terms,
        "legitimate_interest_url": interest,
        "wait_days": wait_days,
        "cooldown_days": data.cooldown_days,
    }


def create_campaign(deps: Deps, account: Account, data: NewCampaign) -> Campaign:
    content = _content(deps, account, data)
    now = deps.clock()
    campaign = Campaign(
        account_id=account.account_id,
        campaign_id=f"cmp_{ULID()}",
        status=CampaignStatus.DRAFT,
        created_at=now,
        updated_at=now,
        **content,
    )
    created = deps.campaigns.create(campaign)
    logger.info(
        "campaign created", extra={"account_id": account.account_id, "campaign_id": created.campaign_id}
    )
    return created


def get_campaign(deps: Deps, account: Account, campaign_id: str) -> Campaign:
    """The campaign with its report counters (its counter items: a few small items)."""
    return _counted(deps, deps.campaigns.get(account.account_id, campaign_id, consistent=True))


def _counted(deps: Deps, campaign: Campaign) -> Campaign:
    """A draft or scheduled campaign has counted nothing: its counters are not read."""
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return campaign
    return deps.campaigns.with_counters(campaign)


# --- drafts ---------------------------------------------------------------------------


def _not_a_draft(campaign: Campaign, doing: str) -> Conflict:
    return Conflict(
        f"only a draft can be {doing}; this campaign is {campaign.status.value}"
        + (" (cancel it to return it to draft)" if campaign.status is CampaignStatus.SCHEDULED else ""),
        code="invalid_campaign_status",
        details={"status": campaign.status.value},
    )


def _as_input(campaign: Campaign) -> dict[str, Any]:
    """A stored campaign as the body that would create it again."""
    return {
        "name": campaign.name,
        "kind": campaign.kind.value,
        "subject": campaign.subject or None,
        "html": campaign.html or None,
        "text": campaign.text,
        "language": campaign.language,
        "selection": campaign.audience,
        "terms_url": campaign.terms_url,
        "legitimate_interest_url": campaign.legitimate_interest_url,
        "wait_days": campaign.wait_days,
        "cooldown_days": campaign.cooldown_days,
    }


def _validation_details(exc: Any) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())) or "body",
            "message": str(err.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _default_template(campaign: Campaign) -> bool:
    from chalicelib.mail.reactivation import default_html, default_subject
    from chalicelib.mail.rendering import LANGUAGES

    return any(
        campaign.html == default_html(language) and campaign.subject == default_subject(language)
        for language in LANGUAGES
    )


def update_campaign(deps: Deps, account: Account, campaign_id: str, patch: CampaignPatch) -> Campaign:
    """``PATCH``: a draft's content, checked as a new campaign would be (409 once it is not a draft)."""
    from pydantic import ValidationError

    current = get_campaign(deps, account, campaign_id)
    if current.status is not CampaignStatus.DRAFT:
        raise _not_a_draft(current, "edited")
    changes = {name: getattr(patch, name) for name in patch.model_fields_set}
    if "audience" in changes:
        changes["selection"] = changes.pop("audience")
    for name in ("selection",):
        if isinstance(changes.get(name), BaseModel):
            changes[name] = changes[name].as_json()
    merged = {**_as_input(current), **changes}
    if current.kind is CampaignKind.REACTIVATION and "language" in changes and _default_template(current):
        # The default e-mail stored in one language follows a change of language.
        for name in ("subject", "html"):
            if name not in changes:
                merged[name] = None
    try:
        data = NewCampaign.model_validate(merged, strict=False)
    except ValidationError as exc:
        raise InvalidInput("the campaign would be invalid", details=_validation_details(exc)) from None
    content = _content(deps, account, data)
    now = deps.clock()
    if not deps.campaigns.update_content(replace(current, **content), now):
        raise _not_a_draft(get_campaign(deps, account, campaign_id), "edited")
    logger.info("campaign edited", extra={"account_id": account.account_id, "campaign_id": campaign_id})
    return get_campaign(deps, account, campaign_id)


def delete_campaign(deps: Deps, account: Account, campaign_id: str) -> None:
    current = get_campaign(deps, account, campaign_id)
    if current.status is not CampaignStatus.DRAFT or not deps.campaigns.delete_draft(
        account.account_id, campaign_id
    ):
        raise _not_a_draft(get_campaign(deps, account, campaign_id), "deleted")
    logger.info("campaign deleted", extra={"account_id": account.account_id, "campaign_id": campaign_id})


def duplicate_campaign(deps: Deps, account: Account, campaign_id: str) -> Campaign:
    """A new draft with the same content and selection (any campaign may be duplicated)."""
    original = get_campaign(deps, account, campaign_id)
    now = deps.clock()
    copy = Campaign(
        account_id=account.account_id,
        campaign_id=f"cmp_{ULID()}",
        status=CampaignStatus.DRAFT,
        created_at=now,
        updated_at=now,
        name=f"{original.name} (copy)"[:200],
        kind=original.kind,
        subject=original.subject,
        html=original.html,
        text=original.text,
        language=original.language,
        audience=dict(original.audience),
        terms_url=original.terms_url,
        legitimate_interest_url=original.legitimate_interest_url,
        wait_days=original.wait_days,
        cooldown_days=original.cooldown_days,
    )
    created = deps.campaigns.create(copy)
    logger.info(
        "campaign duplicated",
        extra={"account_id": account.account_id, "campaign_id": created.campaign_id, "from": campaign_id},
    )
    return created


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


def audience_job_start(deps: Deps, account_id: str, audience: dict[str, Any]) -> tuple[int | None, Any]:
    """``(total, cursor)`` of a job over a campaign's audience (fan-out, automatic round): a
    list's size (a list is a snapshot), or the audience counted in the request within
    ``targets.COUNT_BUDGET`` index items, else by the job's first chunks (``counted_first``)."""
    from chalicelib.services.targets import job_start

    if "list_id" in audience:
        try:
            return deps.lists.get(account_id, audience["list_id"]).size, None
        except NotFound:
            return 0, None
    return job_start(deps, account_id, audience_filter(audience))


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
        max(1.0, budget.left()),
        need_clients=need_clients,
    )


def preview(
    deps: Deps, account: Account, campaign_id: str, actor: str | None = None
) -> tuple[dict[str, Any] | None, Job | None]:
    """The preview's counts when the request counted the whole audience (at most
    ``preview_max_clients`` recipients), else the job that counts the rest
    (``services.audience_counts``)."""
    from chalicelib.services import audience_counts

    return audience_counts.preview(deps, account, get_campaign(deps, account, campaign_id), actor)


def preview_counts(deps: Deps, account: Account, campaign: Campaign) -> dict[str, Any]:
    """The preview's counts without starting a job (a console page's GET): counted in the
    request, or a fresh count job's; else 409 ``audience_too_large``."""
    from chalicelib.services import audience_counts

    counts = audience_counts.for_gate(deps, account, campaign)
    return audience_counts.view(counts, campaign.kind, account.settings.consent_only_campaigns)


# --- lifecycle --------------------------------------------------------------------------


def _refuse(exc: TransitionRefused) -> Conflict:
    return Conflict(str(exc), code="invalid_campaign_status")


def _require_sender(deps: Deps, account: Account) -> None:
    """400 ``sender_not_verified`` unless the account's sender is on one of its verified domains
    (the send worker would only pause the campaign)."""
    from chalicelib.services.sender_domains import require_verified_sender

    require_verified_sender(deps, account, account.settings.sender_email)


def _suspended(account: Account) -> AccountSuspended:
    return AccountSuspended(
        "this account is suspended and cannot send", details={"reason": account.suspension_reason}
    )


def _unacknowledged(deps: Deps, account: Account, campaign: Campaign) -> int:
    """How many recipients without granted consent the campaign would reach, when that needs
    an acknowledgement (API.md's consent gate); 0 when it needs none."""
    consent_only = account.settings.consent_only_campaigns
    if campaign.kind is CampaignKind.REACTIVATION or consent_only:
        return 0
    from chalicelib.services import audience_counts

    counts = audience_counts.for_gate(deps, account, campaign)
    return counts.not_consented if counts.needs_acknowledgement(campaign.kind, consent_only) else 0


def _non_consented(count: int) -> Conflict:
    return Conflict(
        f"{count} recipient(s) have not granted consent; "
        "repeat with acknowledge_non_consented: true to send anyway",
        code="non_consented_recipients",
        details={"count": count},
    )


MAX_SCHEDULE_DAYS = 366


def send_campaign(
    deps: Deps, account: Account, campaign_id: str, data: SendInput, actor: str | None = None
) -> Campaign:
    """Send now, or with ``send_at`` schedule the send (``scheduled`` until then); ``actor``
    (who asked) is recorded on the fan-out job, and on a schedule for the job it starts."""
    if account.suspended:
        raise _suspended(account)
    campaign = get_campaign(deps, account, campaign_id)
    _require_sender(deps, account)
    action = CampaignAction.SEND if data.send_at is None else CampaignAction.SCHEDULE
    try:
        target = next_status(campaign.kind, campaign.status, action, None)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    now = deps.clock()
    if data.send_at is not None:
        if not now < data.send_at <= now + timedelta(days=MAX_SCHEDULE_DAYS):
            raise InvalidInput(
                "send_at must be in the future, within a year",
                details=[{"field": "send_at", "message": "must be in the future, within a year"}],
            )
    if not data.acknowledge_non_consented:
        count = _unacknowledged(deps, account, campaign)
        if count:
            raise _non_consented(count)
    if data.send_at is not None:
        if not deps.campaigns.schedule(campaign, data.send_at, data.acknowledge_non_consented, now, actor):
            raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
        logger.info(
            "campaign scheduled", extra={"account_id": account.account_id, "campaign_id": campaign_id}
        )
        return get_campaign(deps, account, campaign_id)
    if not _start(deps, account, campaign, target, actor):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    return get_campaign(deps, account, campaign_id)


def _start(
    deps: Deps, account: Account, campaign: Campaign, target: CampaignStatus, actor: str | None
) -> bool:
    """Move the campaign to ``target`` (sending, or active for automatic campaigns) from the
    status read, and start its fan-out; ``False`` when it changed meanwhile."""
    if not deps.campaigns.move(campaign, target, deps.clock()):
        return False
    if target is CampaignStatus.SENDING:
        from chalicelib.services import fanout, jobs

        fanout.load()
        total, cursor = audience_job_start(deps, account.account_id, campaign.audience)
        job = jobs.start_job(
            deps,
            account.account_id,
            FANOUT_KIND,
            {"campaign_id": campaign.campaign_id},
            total,
            cursor=cursor,
            actor=actor,
        )
        deps.campaigns.set_job(account.account_id, campaign.campaign_id, job.job_id)
    metrics.add_metric(name="CampaignsSent", unit="Count", value=1)
    logger.info(
        "campaign sending", extra={"account_id": account.account_id, "campaign_id": campaign.campaign_id}
    )
    return True


def send_scheduled_campaigns(deps: Deps) -> dict[str, int]:
    """The schedule's work in one call (the schedule runs ``scheduled_step`` within its Lambda's
    time): start every scheduled campaign whose time has come."""
    return scheduled_step(deps, None, Budget.start(_DUE_PER_RUN, 3600.0)).counters


def scheduled_step(deps: Deps, cursor: Any, budget: Budget) -> SweepStep:
    """The schedule (every minute): start every scheduled campaign whose time has come, from
    ``cursor`` (a position in the sparse index of due campaigns) until ``budget`` is spent.

    The consent gate is checked again: an acknowledgement given when scheduling holds; without
    one, a campaign that would now reach clients without consent goes back to draft with
    ``schedule_error`` (so does one of a suspended account), never sending unacknowledged."""
    now = deps.clock()
    started = returned = seen = 0
    after = cursor
    limit = min(budget.items, _DUE_PER_RUN)
    due = deps.campaigns.due_to_send(now, limit=limit, after=cursor)
    for account_id, campaign_id, position in due:
        if budget.spent(seen):
            break
        seen += 1
        after = position
        try:
            account = deps.accounts.get(account_id)
            campaign = deps.campaigns.get(account_id, campaign_id, consistent=True)
        except NotFound:
            continue
        if campaign.status is not CampaignStatus.SCHEDULED:
            continue
        error = None
        if account.suspended:
            error = "account_suspended"
        elif not campaign.acknowledged_non_consented and _unacknowledged(deps, account, campaign):
            error = "non_consented_recipients"
        if error is not None:
            returned += deps.campaigns.unschedule(campaign, now, error)
            logger.warning("scheduled send not started", extra={"campaign_id": campaign_id, "code": error})
            continue
        target = next_status(campaign.kind, campaign.status, CampaignAction.SEND, None)
        started += _start(deps, account, campaign, target, campaign.scheduled_by)
    more = seen < len(due) or len(due) == limit  # stopped early, or a full page: maybe more
    return SweepStep(
        cursor=after if more else None,
        done=seen,
        counters={"started": started, "returned_to_draft": returned},
    )


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


def resume_campaign(
    deps: Deps, account: Account, campaign_id: str, actor: str | None = None
) -> tuple[Campaign, Job | None]:
    """Resume a paused campaign and re-enqueue what still waits (``services.requeue``): in the
    request for a campaign whose deliveries fit in one bounded read, else by a job (returned,
    the API's 202). ``actor``: who asked (recorded on the job)."""
    from chalicelib.services import requeue

    if account.suspended:
        raise _suspended(account)
    campaign = get_campaign(deps, account, campaign_id)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.RESUME, campaign.paused_from)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    _require_sender(deps, account)
    if not deps.campaigns.move(campaign, target, deps.clock()):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    done = requeue.requeue(deps, replace(campaign, status=target), actor)
    if done.job is None and done.requeued == 0:
        from chalicelib.services.sending import maybe_finish

        maybe_finish(deps, account.account_id, campaign_id)  # everything was done before the pause
    logger.info(
        "campaign resumed",
        extra={
            "campaign_id": campaign_id,
            "requeued": done.requeued,
            "job_id": done.job.job_id if done.job else None,
        },
    )
    return get_campaign(deps, account, campaign_id), done.job


def cancel_campaign(
    deps: Deps, account: Account, campaign_id: str, actor: str | None = None
) -> tuple[Campaign, Job | None]:
    """Cancel: a scheduled campaign goes back to draft; one that is sending (or paused, or
    active) is cancelled and what still waits is re-enqueued for the workers to settle as
    ``failed``/``cancelled`` — in the request or by a job (returned), as ``resume``."""
    from chalicelib.services import requeue

    campaign = get_campaign(deps, account, campaign_id)
    try:
        target = next_status(campaign.kind, campaign.status, CampaignAction.CANCEL, None)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    if target is CampaignStatus.DRAFT:  # a scheduled campaign, before its time: back to draft
        if not deps.campaigns.unschedule(campaign, deps.clock()):
            raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
        logger.info("campaign schedule cancelled", extra={"campaign_id": campaign_id})
        return get_campaign(deps, account, campaign_id), None
    if not deps.campaigns.move(campaign, target, deps.clock()):
        raise Conflict("the campaign changed meanwhile", code="invalid_campaign_status")
    # The workers settle what is still waiting as failed (reason cancelled).
    done = requeue.requeue(deps, replace(campaign, status=target), actor)
    logger.info(
        "campaign cancelled",
        extra={
            "campaign_id": campaign_id,
            "requeued": done.requeued,
            "job_id": done.job.job_id if done.job else None,
        },
    )
    return get_campaign(deps, account, campaign_id), done.job


def campaign_report(deps: Deps, account: Account, campaign_id: str) -> dict[str, Any]:
    """The report, from the campaign item and its counter items: a fixed number of small
    reads whatever the campaign's size (no delivery is read)."""
    campaign = get_campaign(deps, account, campaign_id)
    # The fan-out's total once it is known (an automatic campaign's grows with each round).
    known = campaign.fanout_done or campaign.kind is CampaignKind.AUTOMATIC
    waiting_for = campaign.n_recipients if known else None
    counts: dict[str, Any] = report_from_counters(campaign.counters, recipients=waiting_for)
    if campaign.kind is not CampaignKind.REACTIVATION:
        counts["no_response"] = 0
    counts["campaign_id"] = campaign.campaign_id
    counts["status"] = campaign.status.value
    # Why a paused campaign waits (staff, circuit_breaker, account_suspended, sender_not_verified,
    # ses_account_paused, ses_sending_paused, mail_from_not_verified, configuration_set_missing).
    counts["paused_reason"] = campaign.paused_reason if campaign.status is CampaignStatus.PAUSED else None
    if campaign.kind is CampaignKind.REACTIVATION:
        counts["segment_list_id"] = campaign.segment_list_id
        late = campaign.counters.get("confirmed_after_segment", 0)
        counts["confirmed_after_segment"] = late
        counts["refresh_would_add"] = _refresh_would_add(deps, campaign) if late else 0
    return counts


def _segment_made_at(deps: Deps, campaign: Campaign) -> Any:
    if campaign.kind is not CampaignKind.REACTIVATION or campaign.segment_list_id is None:
        return None
    try:
        return deps.lists.get(campaign.account_id, campaign.segment_list_id).created_at
    except NotFound:
        return None


def _refresh_would_add(deps: Deps, campaign: Campaign) -> int:
    """Of those who confirmed after the list was made, how many are not in it yet and would be
    added by ``segment`` with ``refresh`` (consent still granted, address not suppressed).
    Read only when the counters say someone confirmed late (a segmented reactivation campaign
    answered after its list was made): then the campaign's deliveries name them."""
    from chalicelib.domain.reactivation import latest_confirmed

    segmented_at = _segment_made_at(deps, campaign)
    if segmented_at is None:
        return 0
    client_ids = [
        d.client_id
        for d in deps.deliveries.of_campaign(campaign.campaign_id)
        if d.response == "confirmed" and d.responded_at is not None and d.responded_at > segmented_at
    ]
    if not client_ids:
        return 0
    assert campaign.segment_list_id is not None
    members = deps.client_index.members_among(campaign.account_id, campaign.segment_list_id, client_ids)
    outside = [cid for cid in client_ids if cid not in members]
    clients = deps.client_index.get_many(campaign.account_id, outside)
    return sum(latest_confirmed("confirmed", c.consent_state, c.suppressed) for c in clients.values())


def segment_due_after(campaign: Campaign, now: Any) -> Any:
    return now + timedelta(days=campaign.wait_days or 0)


def list_campaigns(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[list[Campaign], str | None]:
    from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

    start = decode_cursor(deps.key_ring, account.account_id, "campaigns", cursor)
    items, next_key = deps.campaigns.page(account.account_id, limit=check_limit(limit), start_key=start)
    items = [_counted(deps, item) for item in items]
    return items, encode_cursor(deps.key_ring, account.account_id, "campaigns", next_key)
