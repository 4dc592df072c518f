"""Sender domains (API.md "Added in the second round"): register, list, remove."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.http import ApiBlueprint, Call, json_response
from chalicelib.api.views import sender_domain_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.sender_domains")

api = ApiBlueprint(__name__)


@api.endpoint(
    "/v1/sender-domains", ["POST"], body="chalicelib.domain.sender_domains:NewSenderDomain", status=201
)
def register_domain(call: Call) -> Response:
    record, created = service.register(call.deps, call.acting_account, call.body.domain)
    # Registering a domain the account already holds is not an error: its record, 200.
    return json_response(sender_domain_view(record, call.deps.settings.region), 201 if created else 200)


@api.endpoint("/v1/sender-domains", ["GET"])
def list_domains(call: Call) -> dict[str, Any]:
    items, next_cursor = service.list_domains(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    region = call.deps.settings.region
    return {"items": [sender_domain_view(item, region) for item in items], "next_cursor": next_cursor}


@api.endpoint("/v1/sender-domains/{domain}", ["GET"])
def get_domain(call: Call, domain: str) -> dict[str, Any]:
    record = service.get_domain(call.deps, call.acting_account, domain)
    return sender_domain_view(record, call.deps.settings.region)


@api.endpoint("/v1/sender-domains/{domain}", ["DELETE"], status=204)
def delete_domain(call: Call, domain: str) -> None:
    service.remove(call.deps, call.acting_account, domain)
