"""How records look in API responses (API.md field names, ISO 8601 UTC times)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The client and consent-event shapes are shared with the GDPR export: they live in the domain.
from chalicelib.domain.documents import client_view, consent_event_view, iso

__all__ = ["client_view", "consent_event_view", "iso"]

if TYPE_CHECKING:
    from chalicelib.domain.consent import ConsentEvent
    from chalicelib.domain.identity import ApiKeyRecord, User
    from chalicelib.domain.jobs import Job
    from chalicelib.domain.lists import RecipientList
    from chalicelib.domain.records import Account, Client
    from chalicelib.domain.sender_domains import SenderDomain


def account_view(
    account: Account, reputation: dict[str, Any], limits: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``limits``: the operator's ceilings, the warm-up cap and what is in force
    (``services.limits.limits_view``)."""
    suspension = None
    if account.suspended:
        suspension = {"reason": account.suspension_reason, "at": iso(account.suspended_at)}
    return {
        "account_id": account.account_id,
        "name": account.name,
        "public_slug": account.public_slug,
        "status": account.status,
        "suspension": suspension,
        "reinstated_at": iso(account.reinstated_at),
        "settings": account.settings.model_dump(mode="json"),
        "limits": limits,
        "reputation": reputation,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }


def sender_domain_view(record: SenderDomain, region: str) -> dict[str, Any]:
    from chalicelib.domain.sender_domains import dns_records

    return {
        "domain": record.domain,
        "status": record.status,
        "dns_records": dns_records(record.domain, record.dkim_tokens, record.mail_from_domain, region),
        "mail_from_domain": record.mail_from_domain,
        "mail_from_status": record.mail_from_status.lower() if record.mail_from_status else None,
        "created_at": iso(record.created_at),
        "verified_at": iso(record.verified_at),
        "checked_at": iso(record.checked_at),
    }


def consent_view(client: Client, events: list[ConsentEvent]) -> dict[str, Any]:
    """A client's consent and its proof: the ledger, oldest first."""
    return {
        "client_id": client.client_id,
        "state": client.consent_state,
        "confirmed_at": iso(client.consent_confirmed_at),
        "source": client.consent_source,
        "suppressed": client.suppressed,
        "events": [consent_event_view(event) for event in events],
    }


def list_view(lst: RecipientList) -> dict[str, Any]:
    return {
        "list_id": lst.list_id,
        "name": lst.name,
        "size": lst.size,
        "status": lst.status,
        "source": lst.source,
        "selection": lst.source,
        "job_id": lst.job_id,
        "created_at": iso(lst.created_at),
        "updated_at": iso(lst.updated_at),
    }


def job_view(job: Job) -> dict[str, Any]:
    """A job; the ``result`` of one that reports per-row errors (a large CSV import) holds the
    first ``MAX_JOB_ERRORS`` of them by row (``errors``) and how many more there were
    (``errors_not_shown``), where other kinds have only counters."""
    result: dict[str, Any] = dict(job.result)
    if job.errors is not None:
        count = int(result.get("errors", len(job.errors)))
        result["errors"] = sorted(job.errors, key=lambda entry: int(entry.get("row", 0)))
        result["errors_not_shown"] = max(0, count - len(job.errors))
    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "result": result,
        "error": job.error,
        "actor": job.actor,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def campaign_view(campaign: Any) -> dict[str, Any]:
    """A campaign (``domain.campaigns.Campaign``); ``progress`` holds the running counters
    (the exact figures are in the report, computed from the deliveries)."""
    return {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "kind": campaign.kind.value,
        "status": campaign.status.value,
        "subject": campaign.subject,
        "html": campaign.html or None,
        "text": campaign.text,
        "language": campaign.language,
        "audience": campaign.audience,
        "selection": campaign.audience,
        "terms_url": campaign.terms_url,
        "legitimate_interest_url": campaign.legitimate_interest_url,
        "wait_days": campaign.wait_days,
        "cooldown_days": campaign.cooldown_days,
        "segment_after": iso(campaign.segment_after),
        "segment_list_id": campaign.segment_list_id,
        "paused_reason": campaign.paused_reason,
        "send_at": iso(campaign.send_at),
        "schedule_error": campaign.schedule_error,
        "job_id": campaign.job_id,
        "progress": {
            "fanout_done": campaign.fanout_done,
            "recipients": campaign.n_recipients,
            "batches": campaign.n_batches,
            "batches_done": campaign.n_batches_done,
            **campaign.counters,
        },
        "started_at": iso(campaign.started_at),
        "finished_at": iso(campaign.finished_at),
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
    }


def api_key_view(record: ApiKeyRecord) -> dict[str, Any]:
    """A key as its owners see it: never the secret, never its hash."""
    return {
        "key_id": record.key_id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": iso(record.created_at),
        "last_used_at": iso(record.last_used_at),
        "revoked_at": iso(record.revoked_at),
    }


def user_view(user: User) -> dict[str, Any]:
    """A console user: never the password hash."""
    return {
        "user_id": user.user_id,
        "email": user.email,
        "role": user.role,
        "status": user.status,
        "language": user.language,
        "invited_by": user.invited_by,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }
