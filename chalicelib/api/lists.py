"""Recipient list routes: create (a snapshot), read, list, delete, members."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import client_view, list_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.lists")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/lists", ["POST"], body="chalicelib.services.lists:NewList", status=201)
def create_list(call: Call) -> dict[str, Any]:
    return list_view(service.create_list(call.deps, call.acting_account, call.body, call.actor))


@api.endpoint("/v1/lists", ["GET"])
def list_lists(call: Call) -> dict[str, Any]:
    page, next_cursor = service.list_lists(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    return {"items": [list_view(lst) for lst in page.items], "next_cursor": next_cursor}


@api.endpoint("/v1/lists/{list_id}", ["GET"])
def get_list(call: Call, list_id: str) -> dict[str, Any]:
    return list_view(service.get_list(call.deps, call.acting_account, list_id))


@api.endpoint("/v1/lists/{list_id}", ["DELETE"])
def delete_list(call: Call, list_id: str) -> None:
    service.delete_list(call.deps, call.acting_account, list_id, call.actor)


@api.endpoint("/v1/lists/{list_id}/members", ["GET"])
def list_members(call: Call, list_id: str) -> dict[str, Any]:
    items, next_cursor = service.list_members(
        call.deps, call.acting_account, list_id, call.query_int("limit"), call.query("cursor")
    )
    return {"items": [client_view(c) for c in items], "next_cursor": next_cursor, "count": len(items)}
