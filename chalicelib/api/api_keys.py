"""The account's API keys (API.md, "API keys"): create (the secret shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import api_key_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.api_keys")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/api-keys", ["POST"], body="chalicelib.services.api_keys:NewApiKey", status=201)
def create_api_key(call: Call) -> dict[str, Any]:
    record, secret = service.create_key(call.deps, call.acting_account, call.body, call.actor)
    return {**api_key_view(record), "api_key": secret}


@api.endpoint("/v1/api-keys", ["GET"])
def list_api_keys(call: Call) -> dict[str, Any]:
    records, next_cursor = service.list_keys(
        call.deps,
        call.acting_account,
        call.query_int("limit"),
        call.query("cursor"),
        include_revoked=call.query_bool("include_revoked"),
    )
    return {"items": [api_key_view(record) for record in records], "next_cursor": next_cursor}


@api.endpoint("/v1/api-keys/{key_id}", ["DELETE"], status=204)
def revoke_api_key(call: Call, key_id: str) -> None:
    service.revoke_key(call.deps, call.acting_account, key_id, call.actor)
