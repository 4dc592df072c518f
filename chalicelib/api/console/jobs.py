"""A background job's progress page (``/app/jobs/{job_id}``): the same record as
``GET /v1/jobs/{id}``, as a progress bar that console.js refreshes until the job is finished.

Pages that start a job (bulk tags, a big list) redirect here with ``?back=<console path>``:
the link back to where the person was. Only console paths are accepted there, never
another site."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.lazy import lazy_module

jobs = lazy_module("chalicelib.services.jobs")

KINDS_SHOWN = ("bulk_tags", "build_list", "delete_list_members", "import_clients", "audience_count")
CLIENT_KINDS = ("bulk_tags", "import_clients")  # shown in the clients section
CAMPAIGN_KINDS = ("audience_count",)  # shown in the campaigns section


def console_path(value: str | None, default: str) -> str:
    """``value`` if it is a path of the console (``/app…``), else ``default``: a link never
    leads off the site (``//evil.example``, ``https://…``, ``/app\\..``)."""
    if (
        value
        and value.startswith("/app")
        and not value.startswith("//")
        and "\\" not in value
        and all(ord(c) > 32 for c in value)
        and len(value) <= 2000
    ):
        return value
    return default


def job_progress(page: Page, job: object) -> dict[str, object]:
    """What the progress macro shows for a job: label, done, total and the sentence."""
    fmt_done = page_number(page, job.done)  # type: ignore[attr-defined]
    total = job.total  # type: ignore[attr-defined]
    if total:
        text = ("console.common.job.progress_of", {"done": fmt_done, "total": page_number(page, total)})
    else:
        text = ("console.common.job.progress_so_far", {"done": fmt_done})
    return {"done": job.done, "total": total, "text": text}  # type: ignore[attr-defined]


def page_number(page: Page, value: int) -> str:
    from chalicelib.api.console.formatting import Formats

    return Formats(page.language).number(value)


@page("/app/jobs/{job_id}", ["GET"])
def job_page(page: Page, job_id: str) -> Response:
    job = jobs.get_job(page.deps, page.account.account_id, job_id)  # another account's → 404
    back = console_path(page.query("back"), "/app/clients")
    kind = job.kind if job.kind in KINDS_SHOWN else "other"
    errors = sorted(job.errors or [], key=lambda entry: int(entry.get("row", 0)))
    return page.render(
        "console/job.html",
        section="clients" if kind in CLIENT_KINDS else "campaigns" if kind in CAMPAIGN_KINDS else "lists",
        job=job,
        kind=kind,
        progress=job_progress(page, job),
        row_errors=errors,
        errors_not_shown=max(0, int(job.result.get("errors", 0)) - len(errors)),
        back=back,
        poll_url=None if job.finished else page.url(f"/app/jobs/{job.job_id}?back=") + _quoted(back),
    )


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")
