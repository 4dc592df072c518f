"""Targeting routes: client search, bulk tags, tags, CSV import, background jobs."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call, json_response
from chalicelib.api.views import client_view, job_view
from chalicelib.errors import UnsupportedMediaType
from chalicelib.lazy import lazy_module

bulk_tags = lazy_module("chalicelib.services.bulk_tags")
jobs = lazy_module("chalicelib.services.jobs")
search = lazy_module("chalicelib.services.search")
tags = lazy_module("chalicelib.services.tags")

api = ApiBlueprint(__name__)

CSV_TYPES = ["text/csv", "application/csv", "text/plain"]


@api.endpoint("/v1/clients/search", ["POST"], body="chalicelib.services.search:SearchRequest")
def search_clients(call: Call) -> dict[str, Any]:
    body: search.SearchRequest = call.body
    items, next_cursor = search.search_clients(
        call.deps, call.acting_account, body.filter, body.limit, body.cursor
    )
    return {"items": [client_view(c) for c in items], "next_cursor": next_cursor, "count": len(items)}


@api.endpoint("/v1/clients/bulk-tags", ["POST"], body="chalicelib.services.bulk_tags:BulkTagsRequest")
def bulk_tag_clients(call: Call) -> Any:
    status, result = bulk_tags.bulk_tags(call.deps, call.acting_account, call.body, call.actor)
    return json_response(result, status)


@api.endpoint("/v1/tags", ["GET"])
def list_tags(call: Call) -> dict[str, Any]:
    items, next_cursor = tags.list_tags(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    return {"items": items, "next_cursor": next_cursor}


@api.endpoint("/v1/jobs/{job_id}", ["GET"])
def get_job(call: Call, job_id: str) -> dict[str, Any]:
    return job_view(jobs.get_job(call.deps, call.acting_account.account_id, job_id))


# JSON is routed here too, only to be refused in the API's error format (Chalice's own 415 is not).
@api.endpoint("/v1/clients/import", ["POST"], content_types=[*CSV_TYPES, "application/json"])
def import_clients(call: Call) -> Any:
    content_type = (call.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType(
            "send the file itself as the body, with Content-Type: text/csv",
            details=[{"field": "Content-Type", "message": f"one of {', '.join(CSV_TYPES)}"}],
        )
    from chalicelib.services import imports  # csv machinery: loaded by the import route only

    raw = call.request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode()
    status, result = imports.import_clients(
        call.deps,
        call.acting_account,
        raw,
        update_existing=call.query_bool("update_existing"),
        accept_consent=call.query_bool("accept_consent"),
        custom_fields=call.query_bool("custom_fields"),
        actor=call.actor,
    )
    return json_response(result, status)
