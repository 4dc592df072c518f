"""Client routes: create, read, update, list."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import client_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.clients")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/clients", ["POST"], body="chalicelib.domain.client_profile:ClientInput", status=201)
def create_client(call: Call) -> dict[str, Any]:
    return client_view(service.create_client(call.deps, call.acting_account, call.body))


@api.endpoint("/v1/clients", ["GET"])
def list_clients(call: Call) -> dict[str, Any]:
    page, next_cursor = service.list_clients(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    return {"items": [client_view(c) for c in page.items], "next_cursor": next_cursor}


@api.endpoint("/v1/clients/{client_id}", ["GET"])
def get_client(call: Call, client_id: str) -> dict[str, Any]:
    return client_view(service.get_client(call.deps, call.acting_account, client_id))


@api.endpoint("/v1/clients/{client_id}", ["PATCH"], body="chalicelib.domain.client_profile:ClientPatch")
def update_client(call: Call, client_id: str) -> dict[str, Any]:
    return client_view(service.update_client(call.deps, call.acting_account, client_id, call.body))
