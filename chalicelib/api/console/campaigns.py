"""Campaigns in the console: the list, a new campaign (standard or reactivation, prefilled
with the account language's reactivation template and the settings' links), the campaign's
page (its content, the audience, a sandboxed preview of the e-mail for a chosen recipient,
the counts, "Send test" to the signed-in user, sending with the seed's pre-send warning, pause/resume/cancel with live progress,
the report with a server-rendered SVG chart, and for reactivation the list of confirmed).

Thin over ``services.campaigns`` and ``services.segmentation`` exactly as the API uses them:
``create_campaign``, ``preview`` (the counts), ``send_campaign`` (its consent gate decides;
the console only shows its ``non_consented_recipients`` refusal as the warning dialog with
"Send anyway"), ``pause``/``resume``/``cancel_campaign`` and ``segment_campaign``. The
preview of a recipient's e-mail is ``services.previews.render_campaign`` — what that recipient
would be sent, with test links that record nothing — served by its own route under a CSP that allows no script and only inside this
console's sandboxed ``<iframe>``.

Bounded: the list is a page of campaigns; a draft's page reads the campaign and at most
``PREVIEW_CHOICES`` audience members for the preview's recipient chooser; while a campaign
sends, its page (polled for live progress) reads only the campaign's running counters; once it
stopped, the report is the API's (a Query of the campaign's own deliveries, never the
account's clients). Counting the
audience (``preview``) happens only when asked ("Count recipients") and before sending, and is
the API's own bounded count (``preview_max_clients``).
"""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.console.filter_builder import RowError, read_builder
from chalicelib.api.console.framework import Page, page
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.lazy import lazy_module

campaigns = lazy_module("chalicelib.services.campaigns")
segmentation = lazy_module("chalicelib.services.segmentation")
lists = lazy_module("chalicelib.services.lists")
previews = lazy_module("chalicelib.services.previews")

PAGE_SIZE = 25
LIST_CHOICES = 100  # lists offered by the audience picker (the newest first)
PREVIEW_CHOICES = 10  # audience members offered as the preview's recipient
AUDIENCE_KINDS = ("list", "tag", "auto_status", "filter")
AUTO_STATUSES = ("new", "active", "lapsing", "lost")
KEEP_AUDIENCE = "keep"  # the draft editor's audience choice: leave it as it is
CONTENT_FIELDS = ("name", "subject", "html", "text", "terms_url", "legitimate_interest_url", "wait_days")
NOTICES = {
    "created": "console.campaigns.notice.created",
    "sending": "console.campaigns.notice.sending",
    "paused": "console.campaigns.notice.paused",
    "resumed": "console.campaigns.notice.resumed",
    "cancelled": "console.campaigns.notice.cancelled",
    "resumed_background": "console.campaigns.notice.resumed_background",
    "cancelled_background": "console.campaigns.notice.cancelled_background",
    "segmented": "console.campaigns.notice.segmented",
    "test_sent": "console.campaigns.notice.test_sent",
    "saved": "console.campaigns.notice.saved",
}
# The CSP of the preview document: its own inline styles and https images, nothing else; and
# it may be framed only by this console (the iframe adds ``sandbox``: no script, no forms,
# no navigation of the console, a unique origin).
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


# --- the list -------------------------------------------------------------------------------


@page("/app/campaigns", ["GET"])
def campaigns_page(page: Page) -> Response:
    found, next_cursor = campaigns.list_campaigns(page.deps, page.account, PAGE_SIZE, page.query("cursor"))
    from urllib.parse import quote

    return page.render(
        "console/campaigns.html",
        section="campaigns",
        campaigns=[{"campaign": c, "progress": progress_of(c)} for c in found],
        next_url=page.url("/app/campaigns?cursor=" + quote(next_cursor, safe="")) if next_cursor else None,
        first_url=page.url("/app/campaigns") if page.query("cursor") else None,
        notice=NOTICES.get(page.query("done") or ""),
    )


def progress_of(campaign: Any) -> dict[str, Any]:
    """How far a campaign's sending is, from its running counters (no delivery is read):
    ``done`` recipients settled of ``total`` (``None`` while the audience is still being
    walked)."""
    counters = campaign.counters
    done = sum(int(counters.get(name, 0)) for name in ("sent", "failed", "suppressed", "excluded_no_consent"))
    total = campaign.n_recipients if campaign.fanout_done else None
    return {"done": done, "total": total}


# --- a new campaign -------------------------------------------------------------------------


def _lists_offered(page: Page) -> list[tuple[str, str]]:
    found, _ = lists.list_lists(page.deps, page.account, LIST_CHOICES, None)
    return [(item.list_id, item.name) for item in found.items if item.status == "ready"]


def _new_values(page: Page, kind: str) -> dict[str, str]:
    """The form's first values: a reactivation campaign starts from the account language's
    template (what ``create_campaign`` would fill in) and the settings' links."""
    settings = page.account.settings
    values = {name: "" for name in CONTENT_FIELDS}
    values.update({"kind": kind, "audience": "tag", "tag": "", "list_id": "", "auto_status": "lost"})
    if kind == "reactivation":
        from chalicelib.mail.reactivation import default_html, default_subject

        values.update(
            subject=default_subject(settings.language),
            html=default_html(settings.language),
            terms_url=settings.terms_url or "",
            legitimate_interest_url=settings.legitimate_interest_url or "",
            wait_days=str(settings.reactivation_wait_days),
            audience="auto_status",
        )
    builder, _ = read_builder(page.query_all)
    if not builder.empty:
        values["audience"] = "filter"
    return values


def _editor(
    page: Page, values: dict[str, str], *, status: int = 200, errors: dict[str, Any] | None = None
) -> Response:
    builder, _ = read_builder(page.field_all if page.request.method == "POST" else page.query_all)
    from chalicelib.api.console.clients import describe

    return page.render(
        "console/campaign_new.html",
        status=status,
        section="campaigns",
        values=values,
        errors=errors or {},
        list_options=_lists_offered(page),
        conditions=[describe(row) for row in builder.rows],
        filter_pairs=builder.params(),
        has_filter=not builder.empty,
    )


@page("/app/campaigns/new", ["GET"])
def new_campaign(page: Page) -> Response:
    kind = "reactivation" if page.query("kind") == "reactivation" else "standard"
    return _editor(page, _new_values(page, kind))


def _audience(page: Page, values: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The audience the form chose, as ``NewCampaign.audience``; or the field's error."""
    kind = values.get("audience", "")
    if kind == "list":
        if not values["list_id"]:
            return None, {"list_id": "console.campaigns.error.list"}
        return {"list_id": values["list_id"]}, {}
    if kind == "tag":
        if not values["tag"]:
            return None, {"tag": "console.campaigns.error.tag"}
        return {"tag": values["tag"]}, {}
    if kind == "auto_status":
        if values["auto_status"] not in AUTO_STATUSES:
            return None, {"auto_status": "console.campaigns.error.auto_status"}
        return {"auto_status": values["auto_status"]}, {}
    if kind == "filter":
        builder, _ = read_builder(page.field_all)
        if builder.empty:
            return None, {"audience": "console.campaigns.error.filter"}
        try:
            return {"filter": builder.raw_filter(page.language)}, {}
        except RowError:
            return None, {"audience": "console.campaigns.error.filter"}
    return None, {"audience": "console.campaigns.error.audience"}


_FIELD_ERRORS = {
    "name": "console.campaigns.error.name",
    "subject": "console.campaigns.error.subject",
    "html": "console.campaigns.error.html",
    "text": "console.campaigns.error.html",
    "terms_url": "console.campaigns.error.url",
    "legitimate_interest_url": "console.campaigns.error.url",
    "wait_days": "console.campaigns.error.wait_days",
    "audience": "console.campaigns.error.audience",
}


def _read_form(page: Page, *, editing: bool) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The editor's form: its values as typed, the campaign's data (``NewCampaign``'s fields)
    and the errors found so far. When ``editing``, the audience choice "keep" leaves the
    draft's audience as it is (the data then has no ``audience``)."""
    values = {
        name: page.field(name)
        for name in (*CONTENT_FIELDS, "kind", "audience", "tag", "list_id", "auto_status")
    }
    values["html"] = page.form.get("html", "")  # a template keeps its own whitespace
    kind = values["kind"] if values["kind"] in ("standard", "reactivation") else "standard"
    values["kind"] = kind
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"name": values["name"], "kind": kind}
    if not (editing and values["audience"] == KEEP_AUDIENCE):
        audience, errors = _audience(page, values)
        data["audience"] = audience or {"tag": "-"}
    for name in ("subject", "html", "text", "terms_url", "legitimate_interest_url"):
        if values[name].strip():
            data[name] = values[name]
    if kind == "reactivation" and values["wait_days"]:
        if not values["wait_days"].isdigit():
            errors["wait_days"] = "console.campaigns.error.wait_days"
        else:
            data["wait_days"] = int(values["wait_days"])
    return values, data, errors


def _model_errors(exc: Any, values: dict[str, str], errors: dict[str, str]) -> None:
    """A validation error of the campaign's model, field by field, as the editor shows them."""
    for err in exc.errors():
        where = str(err["loc"][0]) if err.get("loc") else ""
        key = _FIELD_ERRORS.get(where)
        if key is None:  # a model rule (the subject or the body missing)
            where, key = (
                ("subject", _FIELD_ERRORS["subject"])
                if not values["subject"]
                else ("html", _FIELD_ERRORS["html"])
            )
        errors.setdefault(where, key)


def _service_errors(exc: InvalidInput, errors: dict[str, str]) -> dict[str, str]:
    """The service's refusal (a template that does not render, a URL…) on the editor's fields."""
    for detail in exc.details if isinstance(exc.details, list) else []:
        where = str(detail.get("field", "html")).split(".")[0]
        errors.setdefault(
            where if where in _FIELD_ERRORS else "html",
            _FIELD_ERRORS.get(where, "console.campaigns.error.html"),
        )
    return errors or {"html": "console.campaigns.error.html"}


@page("/app/campaigns", ["POST"])
def create(page: Page) -> Response:
    from pydantic import ValidationError

    values, data, errors = _read_form(page, editing=False)
    try:
        parsed = campaigns.NewCampaign.model_validate(data, strict=False)
    except ValidationError as exc:
        _model_errors(exc, values, errors)
    if errors:
        return _editor(page, values, status=400, errors=errors)
    try:
        created = campaigns.create_campaign(page.deps, page.account, parsed)
    except InvalidInput as exc:
        return _editor(page, values, status=400, errors=_service_errors(exc, errors))
    except NotFound:
        return _editor(page, values, status=400, errors={"list_id": "console.campaigns.error.list"})
    return page.redirect(f"/app/campaigns/{created.campaign_id}?done=created")


def _draft_values(campaign: Any) -> dict[str, str]:
    """A draft's stored content as the editor's first values; its audience is kept unless
    another is chosen."""
    values = {name: "" for name in CONTENT_FIELDS}
    for name in ("name", "subject", "html", "text", "terms_url", "legitimate_interest_url"):
        values[name] = getattr(campaign, name) or ""
    values["wait_days"] = "" if campaign.wait_days is None else str(campaign.wait_days)
    audience = campaign.audience or {}
    values.update(
        kind=campaign.kind.value,
        audience=KEEP_AUDIENCE,
        tag=str(audience.get("tag", "")),
        list_id=str(audience.get("list_id", "")),
        auto_status=str(audience.get("auto_status", "lost")),
    )
    return values


@page("/app/campaigns/{campaign_id}", ["POST"])
def save_draft(page: Page, campaign_id: str) -> Response:
    """The draft editor's "Save": the API's own ``PATCH`` (``update_campaign``); only a draft
    can be edited (409 once it is sending)."""
    from pydantic import ValidationError

    campaign = campaigns.get_campaign(page.deps, page.account, campaign_id)
    values, data, errors = _read_form(page, editing=True)
    values["kind"] = campaign.kind.value  # the kind of a saved campaign does not change here
    data["kind"] = campaign.kind.value
    if not values["text"].strip():
        data["text"] = None  # an emptied plain-text version is removed
    patch = None
    try:
        patch = campaigns.CampaignPatch.model_validate(data, strict=False)
    except ValidationError as exc:
        _model_errors(exc, values, errors)
    if errors or patch is None:
        return _campaign_view(page, campaign, values=values, errors=errors, status=400)
    try:
        campaigns.update_campaign(page.deps, page.account, campaign_id, patch)
    except InvalidInput as exc:
        return _campaign_view(page, campaign, values=values, errors=_service_errors(exc, errors), status=400)
    except NotFound:
        errors = {"list_id": "console.campaigns.error.list"}
        return _campaign_view(page, campaign, values=values, errors=errors, status=400)
    return page.redirect(f"/app/campaigns/{campaign_id}?done=saved")


# --- the campaign's page ---------------------------------------------------------------------


def audience_words(page: Page, audience: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An audience as a sentence: a catalogue key and its values."""
    if "list_id" in audience:
        try:
            name = lists.get_list(page.deps, page.account, audience["list_id"]).name
        except NotFound:
            name = "—"
        return "console.campaigns.audience.list_words", {"name": name}
    if "tag" in audience:
        return "console.campaigns.audience.tag_words", {"tag": audience["tag"]}
    if "auto_status" in audience:
        from chalicelib.mail.rendering import Translator

        status = Translator(page.language)("console.clients.auto." + str(audience["auto_status"]))
        return "console.campaigns.audience.auto_status_words", {"status": status}
    return "console.campaigns.audience.filter_words", {}


def _preview_choices(page: Page, campaign: Any) -> list[tuple[str, str]]:
    """A few of the audience's members to preview the e-mail as (a bounded read)."""
    try:
        matches, _ = campaigns.audience_chunk(
            page.deps,
            page.account.account_id,
            campaign.audience,
            None,
            PREVIEW_CHOICES,
            2.0,
            need_clients=True,
        )
    except (InvalidInput, NotFound):
        return []
    return [(client.client_id, client.email) for _, client in matches if client is not None][:PREVIEW_CHOICES]


def _counts(page: Page, campaign: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The API's preview (the counts: counted here, or a background count's from the last hour),
    or why it could not be counted here (``too_large``: the page offers the background count)."""
    try:
        return campaigns.preview_counts(page.deps, page.account, campaign), None
    except Conflict as exc:
        if exc.code != "audience_too_large":
            raise
        return None, "console.campaigns.counts.too_large"
    except NotFound:
        return None, "console.campaigns.counts.no_list"


@page("/app/campaigns/{campaign_id}/count", ["POST"])
def count(page: Page, campaign_id: str) -> Response:
    """Count the audience: here when it is small, else in the background (the API's preview
    job), whose page shows its progress and then the counts; "back" leads to ``back``."""
    from urllib.parse import quote

    back = f"/app/campaigns/{campaign_id}" + ("/send" if page.field("then") == "send" else "")
    _, job = campaigns.preview(page.deps, page.account, campaign_id, page.actor)
    if job is None:
        return page.redirect(back + ("?count=1#counts" if page.field("then") != "send" else ""))
    return page.redirect(f"/app/jobs/{job.job_id}?back=" + quote(back, safe=""))


REACTIVATION_ONLY = ("confirmed", "declined", "no_response")


def report_of(page: Page, campaign: Any) -> list[tuple[str, int]]:
    """The API's report (``services.campaigns.campaign_report``: a Query of the campaign's own
    deliveries, its cost the campaign's size), read once the campaign has stopped sending;
    while it sends, the page shows the running counters instead (``progress_of``)."""
    from chalicelib.domain.campaign_status import CampaignKind
    from chalicelib.domain.campaigns import REPORT_FIELDS

    found = campaigns.campaign_report(page.deps, page.account, campaign.campaign_id)
    reactivation = campaign.kind is CampaignKind.REACTIVATION
    names = [name for name in REPORT_FIELDS if reactivation or name not in REACTIVATION_ONLY]
    return [(name, int(found.get(name, 0))) for name in names]


def chart(figures: list[tuple[str, int]]) -> dict[str, Any]:
    """A horizontal bar chart's geometry for the SVG the template draws (no script, no library)."""
    width, label_width, bar_height, gap = 640, 200, 24, 12
    top = max([value for _, value in figures] + [1])
    bars = []
    for index, (name, value) in enumerate(figures):
        length = round((width - label_width - 80) * value / top)
        bars.append(
            {
                "name": name,
                "value": value,
                "y": index * (bar_height + gap),
                "length": length,
                "x": label_width,
            }
        )
    return {
        "width": width,
        "height": len(figures) * (bar_height + gap),
        "bar_height": bar_height,
        "bars": bars,
    }


@page("/app/campaigns/{campaign_id}", ["GET"])
def campaign_page(page: Page, campaign_id: str) -> Response:
    return _campaign_view(page, campaigns.get_campaign(page.deps, page.account, campaign_id))


def _campaign_view(
    page: Page,
    campaign: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """A campaign's page; a draft's is its editor (the form's values and errors after a
    refused "Save")."""
    from chalicelib.domain.campaign_status import CampaignKind, CampaignStatus

    draft = campaign.status is CampaignStatus.DRAFT
    counts, counts_problem = (None, None)
    if page.query("count") and campaign.status is CampaignStatus.DRAFT:
        counts, counts_problem = _counts(page, campaign)
    choices = _preview_choices(page, campaign) if campaign.status is CampaignStatus.DRAFT else []
    chosen = page.query("client_id") or (choices[0][0] if choices else "")
    if chosen and chosen not in {cid for cid, _ in choices}:
        chosen = choices[0][0] if choices else ""
    live = campaign.status in (CampaignStatus.SENDING, CampaignStatus.ACTIVE)
    finished = campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.ACTIVE)
    figures = report_of(page, campaign) if finished else []
    segment_list = None
    if campaign.segment_list_id:
        try:
            segment_list = lists.get_list(page.deps, page.account, campaign.segment_list_id)
        except NotFound:
            segment_list = None
    builder, _ = read_builder(page.query_all)
    return page.render(
        "console/campaign.html",
        status=status,
        section="campaigns",
        campaign=campaign,
        values=(values or _draft_values(campaign)) if draft else None,
        errors=errors or {},
        list_options=_lists_offered(page) if draft else [],
        conditions=[],
        filter_pairs=builder.params(),
        has_filter=False,
        keep_audience=True,
        reactivation=campaign.kind is CampaignKind.REACTIVATION,
        draft=campaign.status is CampaignStatus.DRAFT,
        live=live,
        paused=campaign.status is CampaignStatus.PAUSED,
        cancellable=campaign.status
        in (CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.ACTIVE),
        awaiting=campaign.status is CampaignStatus.AWAITING_RESPONSES,
        wait_over=campaign.segment_after is None or page.deps.clock() >= campaign.segment_after,
        segment_list=segment_list,
        audience=audience_words(page, campaign.audience),
        progress=progress_of(campaign),
        poll_url=page.url(f"/app/campaigns/{campaign.campaign_id}") if live else None,
        figures=figures,
        chart=chart(figures) if figures else None,
        counts=counts,
        counts_problem=counts_problem,
        count_limit=page.deps.settings.preview_max_clients,
        choices=choices,
        chosen=chosen,
        notice=NOTICES.get(page.query("done") or ""),
    )


@page("/app/campaigns/{campaign_id}/preview", ["GET"])
def preview_document(page: Page, campaign_id: str) -> Response:
    """The e-mail as the chosen recipient would get it (``previews.render_campaign``, the
    API's render: test links that record nothing), for the editor's sandboxed iframe."""
    client_id = page.query("client_id") or None
    if client_id is not None and not client_id.startswith("cl_"):
        raise NotFound("no such client")
    try:
        rendered = previews.render_campaign(page.deps, page.account, campaign_id, client_id)
    except InvalidInput:
        return page.message("preview_failed", status=400)
    # Links open nowhere: a sandbox without popups blocks every ``_blank`` navigation.
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><base target="_blank"></head><body>'
        + rendered["html"]
        + "</body></html>"
    )
    return page.respond(
        Response(
            body=document,
            status_code=200,
            headers={**PREVIEW_HEADERS, "Content-Type": "text/html; charset=utf-8"},
        )
    )


@page("/app/campaigns/{campaign_id}/test", ["POST"])
def send_test(page: Page, campaign_id: str) -> Response:
    """ "Send test": the API's test send (``previews.send_test``) to the signed-in user."""
    previews.send_test(page.deps, page.account, campaign_id, page.user.email)
    return page.redirect(f"/app/campaigns/{campaign_id}?done=test_sent")


# --- sending ----------------------------------------------------------------------------------


@page("/app/campaigns/{campaign_id}/send", ["GET"])
def send_confirmation(page: Page, campaign_id: str) -> Response:
    """ "Send" shows the counts; with non-consented recipients in reach, the seed's warning."""
    campaign = campaigns.get_campaign(page.deps, page.account, campaign_id)
    counts, problem = _counts(page, campaign)
    warning = None
    if counts is not None:
        warning = next((w for w in counts["warnings"] if w["code"] == "non_consented_recipients"), None)
    return page.render(
        "console/campaign_send.html",
        section="campaigns",
        campaign=campaign,
        counts=counts,
        counts_problem=problem,
        count_limit=page.deps.settings.preview_max_clients,
        warning=warning,
    )


@page("/app/campaigns/{campaign_id}/send", ["POST"])
def send(page: Page, campaign_id: str) -> Response:
    acknowledged = page.field("acknowledge") == "1"
    data = campaigns.SendInput(acknowledge_non_consented=acknowledged)
    try:
        campaigns.send_campaign(page.deps, page.account, campaign_id, data, page.actor)
    except Conflict as exc:
        if exc.code != "non_consented_recipients":
            raise
        return send_confirmation(page, campaign_id)  # the counts changed meanwhile: ask again
    return page.redirect(f"/app/campaigns/{campaign_id}?done=sending")


@page("/app/campaigns/{campaign_id}/pause", ["POST"])
def pause(page: Page, campaign_id: str) -> Response:
    campaigns.pause_campaign(page.deps, page.account, campaign_id)
    return page.redirect(f"/app/campaigns/{campaign_id}?done=paused")


@page("/app/campaigns/{campaign_id}/resume", ["POST"])
def resume(page: Page, campaign_id: str) -> Response:
    _, job = campaigns.resume_campaign(page.deps, page.account, campaign_id, page.actor)
    # A big campaign's waiting recipients are re-enqueued by a job: the notice says so.
    done = "resumed" if job is None else "resumed_background"
    return page.redirect(f"/app/campaigns/{campaign_id}?done={done}")


def _confirmation(page: Page, campaign_id: str, action: str) -> Response:
    """The question before cancelling, or before creating the list of confirmed early."""
    campaign = campaigns.get_campaign(page.deps, page.account, campaign_id)
    return page.render("console/campaign_confirm.html", section="campaigns", campaign=campaign, action=action)


@page("/app/campaigns/{campaign_id}/cancel", ["GET"])
def cancel_confirmation(page: Page, campaign_id: str) -> Response:
    return _confirmation(page, campaign_id, "cancel")


@page("/app/campaigns/{campaign_id}/cancel", ["POST"])
def cancel(page: Page, campaign_id: str) -> Response:
    _, job = campaigns.cancel_campaign(page.deps, page.account, campaign_id, page.actor)
    done = "cancelled" if job is None else "cancelled_background"
    return page.redirect(f"/app/campaigns/{campaign_id}?done={done}")


# --- reactivation: the list of confirmed --------------------------------------------------------


@page("/app/campaigns/{campaign_id}/segment", ["GET"])
def segment_confirmation(page: Page, campaign_id: str) -> Response:
    """Before the wait is over, creating the list early asks first."""
    return _confirmation(page, campaign_id, "segment")


@page("/app/campaigns/{campaign_id}/segment", ["POST"])
def segment(page: Page, campaign_id: str) -> Response:
    force = page.field("early") == "1"
    try:
        done = segmentation.segment_campaign(page.deps, page.account, campaign_id, force, page.actor)
    except Conflict as exc:
        if exc.code != "wait_not_elapsed":
            raise
        return segment_confirmation(page, campaign_id)
    if done.status != "ready" and done.job_id:
        from urllib.parse import quote

        return page.redirect(
            f"/app/jobs/{done.job_id}?back=" + quote(f"/app/campaigns/{campaign_id}", safe="")
        )
    return page.redirect(f"/app/campaigns/{campaign_id}?done=segmented")
