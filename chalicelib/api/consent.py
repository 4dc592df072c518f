"""The client card's consent: its current state with the ledger, and staff changes."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import consent_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.consent")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/clients/{client_id}/consent", ["GET"])
def get_consent(call: Call, client_id: str) -> dict[str, Any]:
    client, events = service.consent_history(call.deps, call.acting_account, client_id)
    return consent_view(client, events)


@api.endpoint(
    "/v1/clients/{client_id}/consent", ["PUT"], body="chalicelib.services.consent:StaffConsentInput"
)
def put_consent(call: Call, client_id: str) -> dict[str, Any]:
    body: service.StaffConsentInput = call.body
    service.set_staff_consent(call.deps, call.acting_account, call.actor, client_id, body.granted, body.note)
    client, events = service.consent_history(call.deps, call.acting_account, client_id)
    return consent_view(client, events)
