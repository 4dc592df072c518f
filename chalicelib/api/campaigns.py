"""Campaign routes (API.md "Campaigns"): thin views over ``services.campaigns``."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call, json_response
from chalicelib.api.views import campaign_view, job_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.campaigns")
previews = lazy_module("chalicelib.services.previews")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/campaigns", ["POST"], body="chalicelib.services.campaigns:NewCampaign", status=201)
def create_campaign(call: Call) -> dict[str, Any]:
    from chalicelib.domain.campaign_status import CampaignKind
    from chalicelib.domain.reactivation import wait_days_warning

    campaign = service.create_campaign(call.deps, call.acting_account, call.body)
    warning = None
    if campaign.kind is CampaignKind.REACTIVATION and campaign.wait_days is not None:
        warning = wait_days_warning(campaign.wait_days)
    return {**campaign_view(campaign), "warnings": [warning] if warning else []}


@api.endpoint("/v1/campaigns", ["GET"])
def list_campaigns(call: Call) -> dict[str, Any]:
    items, next_cursor = service.list_campaigns(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    return {"items": [campaign_view(c) for c in items], "next_cursor": next_cursor}


@api.endpoint("/v1/campaigns/{campaign_id}", ["GET"])
def get_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_view(service.get_campaign(call.deps, call.acting_account, campaign_id))


@api.endpoint("/v1/campaigns/{campaign_id}", ["PATCH"], body="chalicelib.services.campaigns:CampaignPatch")
def update_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_view(service.update_campaign(call.deps, call.acting_account, campaign_id, call.body))


@api.endpoint("/v1/campaigns/{campaign_id}", ["DELETE"])
def delete_campaign(call: Call, campaign_id: str) -> None:
    service.delete_campaign(call.deps, call.acting_account, campaign_id)


@api.endpoint("/v1/campaigns/{campaign_id}/duplicate", ["POST"], status=201)
def duplicate_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_view(service.duplicate_campaign(call.deps, call.acting_account, campaign_id))


@api.endpoint("/v1/campaigns/{campaign_id}/render", ["POST"], body="chalicelib.services.previews:RenderInput")
def render_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return previews.render_campaign(call.deps, call.acting_account, campaign_id, call.body.client_id)


@api.endpoint(
    "/v1/campaigns/{campaign_id}/test",
    ["POST"],
    body="chalicelib.services.previews:CampaignTestInput",
    status=202,
)
def send_test_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return previews.send_test(call.deps, call.acting_account, campaign_id, call.body.email)


@api.endpoint("/v1/campaigns/{campaign_id}/preview", ["POST"])
def preview_campaign(call: Call, campaign_id: str) -> Any:
    """200 with the counts when the request counted the whole audience; 202 with the job
    (as ``GET /v1/jobs/{id}``) that counts a larger one, its ``result`` the counts."""
    counts, job = service.preview(call.deps, call.acting_account, campaign_id, call.actor)
    if job is None:
        return counts
    return json_response(job_view(job), 202)


@api.endpoint(
    "/v1/campaigns/{campaign_id}/send", ["POST"], body="chalicelib.services.campaigns:SendInput", status=202
)
def send_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_view(
        service.send_campaign(call.deps, call.acting_account, campaign_id, call.body, call.actor)
    )


@api.endpoint("/v1/campaigns/{campaign_id}/pause", ["POST"])
def pause_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_view(service.pause_campaign(call.deps, call.acting_account, campaign_id))


@api.endpoint("/v1/campaigns/{campaign_id}/resume", ["POST"])
def resume_campaign(call: Call, campaign_id: str) -> Any:
    return _with_job(*service.resume_campaign(call.deps, call.acting_account, campaign_id, call.actor))


@api.endpoint("/v1/campaigns/{campaign_id}/cancel", ["POST"])
def cancel_campaign(call: Call, campaign_id: str) -> Any:
    return _with_job(*service.cancel_campaign(call.deps, call.acting_account, campaign_id, call.actor))


def _with_job(campaign: Any, job: Any) -> Any:
    """200 with the campaign when the request did everything; 202 with the campaign and
    ``job`` (as ``GET /v1/jobs/{id}``) when re-enqueuing what waits goes on in a job."""
    if job is None:
        return campaign_view(campaign)
    return json_response({**campaign_view(campaign), "job": job_view(job)}, 202)


@api.endpoint("/v1/campaigns/{campaign_id}/report", ["GET"])
def campaign_report(call: Call, campaign_id: str) -> dict[str, Any]:
    return service.campaign_report(call.deps, call.acting_account, campaign_id)


@api.endpoint(
    "/v1/campaigns/{campaign_id}/segment", ["POST"], body="chalicelib.services.segmentation:SegmentInput"
)
def segment_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    from chalicelib.services.segmentation import segment_campaign

    done = segment_campaign(
        call.deps, call.acting_account, campaign_id, call.body.force, call.actor, call.body.refresh
    )
    return {
        "list_id": done.list_id,
        "size": done.size,
        "status": done.status,
        "job_id": done.job_id,
        "added": done.added,
    }
