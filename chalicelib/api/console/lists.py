"""Recipient lists (``/app/lists``, ``/app/lists/{list_id}``): size and source, members a page
at a time, deletion after a confirmation. ``services.lists`` as the API uses it; a list still
being built shows its job's progress."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.lazy import lazy_module

lists = lazy_module("chalicelib.services.lists")
jobs = lazy_module("chalicelib.services.jobs")

PAGE_SIZE = 50
NOTICES = {"created": "console.lists.notice.created", "deleted": "console.lists.notice.deleted"}


def source_words(source: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """How a list's source reads on a page: a catalogue key and its values."""
    if "tag" in source:
        return "console.lists.source.tag", {"tag": source["tag"]}
    if "client_ids" in source:
        return "console.lists.source.client_ids", {"n": len(source["client_ids"])}
    if "campaign_id" in source:
        return "console.lists.source.campaign", {}
    if "list_id" in source:
        return "console.lists.source.list", {}
    if "auto_status" in source:
        return "console.lists.source.auto_status", {"status": source["auto_status"]}
    return "console.lists.source.filter", {}


@page("/app/lists", ["GET"])
def lists_page(page: Page) -> Response:
    found, next_cursor = lists.list_lists(page.deps, page.account, PAGE_SIZE, page.query("cursor"))
    return page.render(
        "console/lists.html",
        section="lists",
        lists=[{"list": item, "source": source_words(item.source)} for item in found.items],
        next_url=page.url(f"/app/lists?cursor={next_cursor}") if next_cursor else None,
        first_url=page.url("/app/lists") if page.query("cursor") else None,
        notice=NOTICES.get(page.query("done") or ""),
    )


@page("/app/lists/{list_id}", ["GET"])
def list_page(page: Page, list_id: str) -> Response:
    from urllib.parse import quote

    found = lists.get_list(page.deps, page.account, list_id)
    members, next_cursor = lists.list_members(
        page.deps, page.account, list_id, PAGE_SIZE, page.query("cursor")
    )
    job = None
    progress = None
    if found.status != "ready" and found.job_id:
        from chalicelib.api.console.jobs import job_progress

        job = jobs.get_job(page.deps, page.account.account_id, found.job_id)
        progress = job_progress(page, job)
    base = f"/app/lists/{found.list_id}"
    return page.render(
        "console/list.html",
        section="lists",
        lst=found,
        source=source_words(found.source),
        members=members,
        job=job,
        progress=progress,
        poll_url=page.url(base) if job is not None and not job.finished else None,
        next_url=page.url(f"{base}?cursor={quote(next_cursor, safe='')}") if next_cursor else None,
        first_url=page.url(base) if page.query("cursor") else None,
        notice=NOTICES.get(page.query("done") or ""),
    )


@page("/app/lists/{list_id}/delete", ["GET"])
def delete_confirmation(page: Page, list_id: str) -> Response:
    found = lists.get_list(page.deps, page.account, list_id)
    return page.render("console/list_delete.html", section="lists", lst=found)


@page("/app/lists/{list_id}/delete", ["POST"])
def delete(page: Page, list_id: str) -> Response:
    lists.delete_list(page.deps, page.account, list_id, page.actor)
    return page.redirect("/app/lists?done=deleted")
