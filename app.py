"""Permesso: the Chalice application and its Lambda entry points.

Routes live in Blueprints under ``chalicelib/api``; this module only
assembles them and adds the request middleware (correlation id, metrics).

Every Lambda cold start pays for what this module imports: the blueprints
import their services, storage and pydantic models inside the views, the
entry points below inside the handlers, and only the stage is read here
(``Settings`` is built by the first invocation).
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.api import (
    accounts,
    api_keys,
    campaigns,
    clients,
    consent,
    console,
    gdpr,
    lists,
    openapi_docs,
    public,
    sender_domains,
    targeting,
    users,
)
from chalicelib.api import reactivation as _reactivation  # noqa: F401 — adds its routes to public.api
from chalicelib.api import unsubscribe as _unsubscribe  # noqa: F401 — adds its routes to public.api
from chalicelib.api.http import normalise_framework_error
from chalicelib.observability import flush_metrics, logger
from chalicelib.stage import current_stage, resource_name

STAGE = current_stage()

app = Chalice(app_name="permesso")

app.register_blueprint(accounts.api)
app.register_blueprint(clients.api)
app.register_blueprint(consent.api)
app.register_blueprint(gdpr.api)
app.register_blueprint(public.api)
app.register_blueprint(targeting.api)
app.register_blueprint(lists.api)
app.register_blueprint(campaigns.api)
app.register_blueprint(sender_domains.api)
app.register_blueprint(openapi_docs.api)
app.register_blueprint(api_keys.api)
app.register_blueprint(users.api)
app.register_blueprint(console.api)

if STAGE == "local":  # GET /dev/outbox exists in the local stack only
    from chalicelib.api import dev

    app.register_blueprint(dev.api)


@app.middleware("http")
def correlate(event: Any, get_response: Any) -> Any:
    """Tag every log line of a request with its API Gateway request id, echo it back."""
    request_id = (event.context or {}).get("requestId")
    logger.remove_keys(["account_id"])
    logger.set_correlation_id(request_id)
    try:
        response = normalise_framework_error(get_response(event))
    finally:
        flush_metrics()
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


def _sweep(name: str, event: Any, keep: tuple[str, ...]) -> dict[str, Any]:
    """Run a schedule's sweep with the time its Lambda has left (``services.continuations``):
    the payload keeps the ``keep`` counters and names the job that continues, if one does."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.services.continuations import run_scheduled

    try:
        answer = run_scheduled(get_deps(), name, getattr(event, "context", None))
    finally:
        flush_metrics()
    payload = {key: answer.get(key, 0) for key in keep}
    if "complete" in keep:
        payload["complete"] = answer["complete"]
    if "continued_by" in answer:
        payload["continued_by"] = answer["continued_by"]
    return payload


@app.schedule(Rate(1, unit=Rate.HOURS), name="recompute_auto_status")
def recompute_auto_status(event: Any) -> dict[str, Any]:
    """Move clients whose automatic status changed with time (new → lost, active → lapsing…)."""
    return _sweep("recompute_auto_status", event, ("visited", "changed", "complete"))


@app.schedule(Rate(1, unit=Rate.HOURS), name="segment_due_campaigns")
def segment_due_campaigns(event: Any) -> dict[str, Any]:
    """Reactivation campaigns whose wait is over: build the list of those who confirmed."""
    return _sweep("segment_due_campaigns", event, ("due",))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="send_scheduled_campaigns")
def send_scheduled_campaigns(event: Any) -> dict[str, Any]:
    """Scheduled campaigns whose time has come start sending (sparse index on campaigns)."""
    return _sweep("send_scheduled_campaigns", event, ("started", "returned_to_draft"))


@app.schedule(Rate(15, unit=Rate.MINUTES), name="resume_stalled_jobs")
def resume_stalled_jobs(event: Any) -> dict[str, Any]:
    """Background jobs of every kind and account whose chunk message was lost (no chunk attempt
    for 15 minutes) get it sent again, so no job stays running forever."""
    return _sweep("resume_stalled_jobs", event, ("resumed", "complete"))


@app.schedule(Rate(15, unit=Rate.MINUTES), name="finish_stalled_campaigns")
def finish_stalled_campaigns(event: Any) -> dict[str, Any]:
    """Campaigns still sending whose last send message died before finishing them: finished
    from their counters, or — quiet for 15 minutes — checked against their deliveries."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.services.sending import finish_stalled_campaigns as finish_stalled

    try:
        return finish_stalled(get_deps(), context=getattr(event, "context", None))
    finally:
        flush_metrics()


@app.on_sqs_message(queue=resource_name(STAGE, "jobs"), batch_size=1)
def run_jobs(event: Any) -> dict[str, Any]:
    """Worker: run one chunk of a background job per message (bulk tags, list snapshots…)."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.services import job_kinds
    from chalicelib.services.jobs import handle_sqs_event

    job_kinds.load()
    return handle_sqs_event(get_deps(), event.to_dict(), getattr(event, "context", None))


@app.on_sqs_message(queue=resource_name(STAGE, "send"), batch_size=10)
def handle_send(event: Any) -> dict[str, Any]:
    """Send worker: each message is one batch of a campaign's recipients; the (up to 10)
    messages of an invocation are paced side by side, a thread each (partial batch failures
    reported, so only failed messages come back). A message paces its sends over up to
    ~20 s, which must fit the function's timeout (``services.sending.MESSAGES_PER_INVOCATION``
    is this batch size)."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.services.sending import handle_sqs_event

    try:
        return handle_sqs_event(get_deps(), event.to_dict(), getattr(event, "context", None))
    finally:
        flush_metrics()


@app.on_sqs_message(queue=resource_name(STAGE, "ses-events"), batch_size=10)
def handle_ses_events(event: Any) -> dict[str, Any]:
    """SES bounce / complaint / send events from the SNS topic."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.services.ses_events import handle_sqs_event

    try:
        return handle_sqs_event(get_deps(), event.to_dict(), getattr(event, "context", None))
    finally:
        flush_metrics()


@app.schedule(Rate(15, unit=Rate.MINUTES), name="run_automatic_campaigns")
def run_automatic_campaigns(event: Any) -> dict[str, Any]:
    """Start a round of every active automatic campaign: send it to clients who newly match."""
    return _sweep("run_automatic_campaigns", event, ("rounds_started",))
