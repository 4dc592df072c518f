"""The JSON shapes of a client and of a consent event (API.md field names, ISO 8601 UTC times),
shared by the API's responses (``api/views.py``) and the GDPR export (``services/gdpr.py``):
pure functions of domain records, so a service builds the export without reaching up into the
HTTP layer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.time import to_iso

if TYPE_CHECKING:  # the API's views import this module at cold start: records stay deferred
    from chalicelib.domain.consent import ConsentEvent
    from chalicelib.domain.records import Client


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def client_view(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "email": client.email,
        "first_name": client.first_name,
        "last_name": client.last_name,
        "phone": client.phone,
        "language": client.language,
        "tags": list(client.tags),
        "status": client.status,
        "auto_status": client.auto_status,
        "last_visit_at": iso(client.last_visit_at),
        "fields": dict(client.fields),
        "consent": {
            "state": client.consent_state,
            "confirmed_at": iso(client.consent_confirmed_at),
            "source": client.consent_source,
        },
        "suppressed": client.suppressed,
        "pending": client.pending,
        "created_at": iso(client.created_at),
        "updated_at": iso(client.updated_at),
    }


def consent_event_view(event: ConsentEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type.value,
        "at": iso(event.at),
        "source": event.source.value,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "campaign_id": event.campaign_id,
        "terms_url": event.terms_url,
        "legitimate_interest_url": event.legitimate_interest_url,
        "actor": event.actor,
        "note": event.note,
    }
