"""GDPR rights over one client: export (everything held) and erasure."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.gdpr")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/clients/{client_id}/export", ["GET"])
def export_client(call: Call, client_id: str) -> dict[str, Any]:
    return service.export_client(call.deps, call.acting_account, client_id)


@api.endpoint("/v1/clients/{client_id}", ["DELETE"], status=204)
def erase_client(call: Call, client_id: str) -> None:
    from chalicelib.domain.consent import Source

    service.erase_client(call.deps, call.acting_account, client_id, source=Source.STAFF, actor=call.actor)
