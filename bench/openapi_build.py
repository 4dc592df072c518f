"""Regenerate ``chalicelib/openapi/openapi.yaml`` (the API's OpenAPI 3.1 document) and its JSON twin.

Request bodies come from the pydantic models the routes validate with
(``model_json_schema``); paths, responses and error bodies are written out here
from API.md and the views. Run: ``python bench/openapi_build.py`` (test env vars
as in tests/conftest.py), then review the diff; ``tests/unit/test_openapi.py``
proves the document matches the app and ``tests/integration/test_openapi_conformance.py``
that real responses match it.

``python bench/openapi_build.py --json`` only rewrites ``openapi.json`` from the YAML (after a
hand edit of the YAML): the Lambda reads the JSON (no YAML parser at run time), and
``tests/unit/test_openapi.py`` fails while the two differ.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PERMESSO_STAGE", "test")

import yaml  # noqa: E402

from chalicelib.domain.account_settings import AccountSettings, AccountSettingsPatch  # noqa: E402
from chalicelib.domain.campaigns import REPORT_FIELDS  # noqa: E402
from chalicelib.domain.client_profile import ClientInput, ClientPatch  # noqa: E402
from chalicelib.domain.limits import AccountLimits  # noqa: E402
from chalicelib.domain.sender_domains import NewSenderDomain  # noqa: E402
from chalicelib.services import (  # noqa: E402
    accounts,
    api_keys,
    bulk_tags,
    campaigns,
    consent,
    lists,
    previews,
    segmentation,
    users,
)
from chalicelib.services.search import SearchRequest  # noqa: E402

REF = "#/components/schemas/{model}"
schemas: dict[str, Any] = {}


def model(cls: Any) -> dict[str, str]:
    schema = cls.model_json_schema(ref_template=REF)
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[cls.__name__] = schema
    return {"$ref": REF.format(model=cls.__name__)}


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


TIME = {"type": "string", "format": "date-time"}
NTIME = nullable("string", format="date-time")
INT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
NSTR = nullable("string")


def obj(required: list[str], props: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if description:
        out["description"] = description
    return out


def page_of(item: str, count: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"items": {"type": "array", "items": ref(item)}, "next_cursor": NSTR}
    if count:
        props["count"] = INT
    return obj(list(props), props)


# --- response schemas (API.md field names; extra fields may be added) ------------------
schemas.update(
    {
        "Error": obj(
            ["error"],
            {
                "error": obj(
                    ["code", "message", "details"],
                    {
                        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                        "message": STR,
                        "details": {
                            "description": "for 400, a list of {field, message}; otherwise an object or null"
                        },
                    },
                )
            },
        ),
        "Reputation": obj(
            ["sent_7d", "bounce_rate_7d", "complaint_rate_7d"],
            {"sent_7d": INT, "bounce_rate_7d": {"type": "number"}, "complaint_rate_7d": {"type": "number"}},
        ),
        "Account": obj(
            ["account_id", "name", "status", "suspension", "settings", "reputation"],
            {
                "account_id": STR,
                "name": STR,
                "public_slug": STR,
                "status": {"enum": ["active", "suspended"]},
                "suspension": {
                    "anyOf": [obj(["reason", "at"], {"reason": NSTR, "at": NTIME}), {"type": "null"}]
                },
                "reinstated_at": NTIME,
                "settings": {"$ref": REF.format(model="AccountSettings")},
                "limits": ref("Limits"),
                "reputation": ref("Reputation"),
                "created_at": NTIME,
                "updated_at": NTIME,
            },
        ),
        "SendingInForce": obj(
            ["send_rate_per_second", "hourly_send_cap", "daily_send_cap", "warmup_daily_cap"],
            {
                "send_rate_per_second": {"type": "number"},
                "hourly_send_cap": INT,
                "daily_send_cap": INT,
                "warmup_daily_cap": nullable("integer", minimum=0),
            },
            "What the sending engine applies today: the lower of each setting and its limit, and "
            "the warm-up cap on the daily cap.",
        ),
        "Limits": obj(
            ["send_rate_per_second", "hourly_send_cap", "daily_send_cap", "warmup_daily_cap", "in_force"],
            {
                "send_rate_per_second": {"type": "number"},
                "hourly_send_cap": INT,
                "daily_send_cap": INT,
                "warmup_daily_cap": nullable("integer", minimum=0),
                "in_force": ref("SendingInForce"),
            },
            "The operator's ceilings (PUT /v1/accounts/{account_id}/limits); the warm-up cap of a "
            "new account (null once warmed up); what is in force today.",
        ),
        "DnsRecord": obj(
            ["type", "name", "value"],
            {
                "type": {"enum": ["CNAME", "MX", "TXT"]},
                "name": STR,
                "value": STR,
                "purpose": {"enum": ["dkim", "spf", "dmarc"]},
            },
        ),
        "SenderDomain": obj(
            ["domain", "status", "dns_records"],
            {
                "domain": STR,
                "status": {"enum": ["pending", "verified", "failed"]},
                "dns_records": {"type": "array", "items": ref("DnsRecord")},
                "mail_from_domain": NSTR,
                "mail_from_status": NSTR,
                "created_at": NTIME,
                "verified_at": NTIME,
                "checked_at": NTIME,
            },
            "A domain the account sends as: the DNS records to publish, and SES's verification.",
        ),
        "SenderDomainPage": page_of("SenderDomain"),
        "CreatedAccount": obj(
            ["account_id", "api_key", "public_slug"],
            {"account_id": STR, "api_key": STR, "public_slug": STR, "account": ref("Account")},
            "The API key is shown once; only its hash is stored.",
        ),
        "ClientConsent": obj(
            ["state", "confirmed_at", "source"],
            {"state": {"enum": ["granted", "denied", "unknown"]}, "confirmed_at": NTIME, "source": NSTR},
        ),
        "Client": obj(
            [
                "client_id",
                "email",
                "tags",
                "auto_status",
                "consent",
                "suppressed",
                "pending",
                "created_at",
                "updated_at",
            ],
            {
                "client_id": STR,
                "email": STR,
                "first_name": NSTR,
                "last_name": NSTR,
                "phone": NSTR,
                "language": NSTR,
                "tags": {"type": "array", "items": STR},
                "status": NSTR,
                "auto_status": NSTR,
                "last_visit_at": NTIME,
                "fields": {"type": "object"},
                "consent": ref("ClientConsent"),
                "suppressed": {"type": "boolean"},
                "pending": {
                    "type": "boolean",
                    "description": (
                        "true for a client the public intake form created whose address's owner has "
                        "not confirmed it yet: in no audience (campaigns, lists, searches) until the "
                        "double opt-in, a granted consent, or staff accept it (PATCH pending: false)"
                    ),
                },
                "created_at": TIME,
                "updated_at": TIME,
            },
        ),
        "ClientPage": page_of("Client"),
        "ClientCountedPage": page_of("Client", count=True),
        "ConsentEvent": obj(
            [
                "type",
                "at",
                "source",
                "ip",
                "user_agent",
                "campaign_id",
                "terms_url",
                "legitimate_interest_url",
                "actor",
            ],
            {
                "event_id": STR,
                "type": STR,
                "at": TIME,
                "source": STR,
                "ip": NSTR,
                "user_agent": NSTR,
                "campaign_id": NSTR,
                "terms_url": NSTR,
                "legitimate_interest_url": NSTR,
                "actor": NSTR,
                "note": NSTR,
            },
        ),
        "Consent": obj(
            ["state", "confirmed_at", "events"],
            {
                "client_id": STR,
                "state": {"enum": ["granted", "denied", "unknown"]},
                "confirmed_at": NTIME,
                "source": NSTR,
                "suppressed": {"type": "boolean"},
                "events": {"type": "array", "items": ref("ConsentEvent"), "description": "oldest first"},
            },
        ),
        "ClientExport": obj(
            ["client_id"],
            {"format": STR, "exported_at": TIME, "account": {"type": "object"}, "client_id": STR},
            "Everything held about one client: profile, consent events, deliveries.",
        ),
        "ImportRowError": obj(
            ["row", "code", "message"],
            {"row": {"type": "integer", "minimum": 1}, "code": STR, "message": STR},
        ),
        "ImportResult": obj(
            ["created", "updated", "skipped", "errors"],
            {
                "rows": INT,
                "created": INT,
                "updated": INT,
                "skipped": INT,
                "errors": {"type": "array", "items": ref("ImportRowError")},
                "skipped_rows": {"type": "array"},
                "notices": {"type": "array"},
                "ignored_columns": {"type": "array", "items": STR},
                "unknown_columns": {
                    "type": "array",
                    "items": STR,
                    "description": "Headers not recognised: not imported (see `custom_fields`).",
                },
                "columns": {
                    "type": "array",
                    "description": "Which header went where (`field` null: not imported).",
                    "items": obj(
                        ["header", "field", "kind"],
                        {
                            "header": STR,
                            "field": NSTR,
                            "kind": {"enum": ["field", "custom", "ignored", "unknown"]},
                        },
                    ),
                },
            },
        ),
        "BulkTagsResult": obj(["matched", "updated"], {"matched": INT, "updated": INT}),
        "JobAccepted": obj(["job_id"], {"job_id": STR, "status": STR}),
        "ImportAccepted": obj(
            ["job_id", "status", "done", "total"],
            {
                "job_id": STR,
                "status": STR,
                "done": {
                    "type": "integer",
                    "description": "rows already settled: those the request found invalid",
                },
                "total": {"type": "integer", "description": "every data row of the file"},
            },
        ),
        "Job": obj(
            ["job_id", "status", "done", "total"],
            {
                "job_id": STR,
                "kind": STR,
                "status": STR,
                "done": INT,
                "total": nullable(
                    "integer",
                    description="known when the job is created (ids given, a list's size, a "
                    "campaign's waiting deliveries from its counters, or the selection counted, "
                    "5,000 index items at most); null only while the first "
                    "chunks of a job over a bigger selection finish counting it",
                ),
                "result": {
                    "type": "object",
                    "description": "counters of the job's kind; a CSV import (`kind` "
                    "`import_clients`) has `rows`, `created`, `updated`, `skipped`, `errors` (the "
                    "first 1,000 row errors `{row, code, message}`, by row) and `errors_not_shown` "
                    "(how many more there were)",
                },
                "error": {},
                "actor": nullable(
                    "string", description="user_id or key_id that started it; null: a schedule"
                ),
                "created_at": NTIME,
                "updated_at": NTIME,
            },
        ),
        "RecipientList": obj(
            ["list_id", "name", "size", "created_at", "source"],
            {
                "list_id": STR,
                "name": STR,
                "size": nullable("integer"),
                "status": STR,
                "source": {"type": "object", "description": "The same as `selection` (API.md's name)."},
                "selection": {"type": "object", "description": "Who the list was made from."},
                "job_id": NSTR,
                "created_at": TIME,
                "updated_at": NTIME,
            },
        ),
        "RecipientListPage": page_of("RecipientList"),
        "Tag": obj(
            ["tag", "count"],
            {"tag": {**STR, "description": "As first written in the account"}, "count": INT},
        ),
        "TagPage": page_of("Tag"),
        "RenderedCampaign": obj(
            ["subject", "html", "text"],
            {"subject": STR, "html": STR, "text": STR},
            "The e-mail as the client (or a sample client) would get it; its links record nothing.",
        ),
        "TestSendResult": obj(
            ["campaign_id", "to", "subject"],
            {"campaign_id": STR, "to": STR, "subject": STR, "message_id": NSTR},
        ),
        "Campaign": obj(
            [
                "campaign_id",
                "name",
                "kind",
                "status",
                "subject",
                "audience",
                "segment_after",
                "segment_list_id",
            ],
            {
                "campaign_id": STR,
                "name": STR,
                "kind": {"enum": ["standard", "reactivation", "automatic"]},
                "status": {
                    "enum": [
                        "draft",
                        "scheduled",
                        "sending",
                        "sent",
                        "awaiting_responses",
                        "segmented",
                        "paused",
                        "cancelled",
                        "active",
                    ]
                },
                "subject": STR,
                "html": NSTR,
                "text": NSTR,
                "language": NSTR,
                "audience": {"type": "object", "description": "The same as `selection` (API.md's name)."},
                "selection": {"type": "object", "description": "Who the campaign goes to."},
                "send_at": {**NTIME, "description": "While scheduled: when it will be sent."},
                "schedule_error": {
                    **NSTR,
                    "description": "Why a scheduled send did not start (the campaign went back to draft).",
                },
                "terms_url": NSTR,
                "legitimate_interest_url": NSTR,
                "wait_days": nullable("integer"),
                "cooldown_days": nullable("integer"),
                "segment_after": NTIME,
                "segment_list_id": NSTR,
                "paused_reason": NSTR,
                "job_id": NSTR,
                "progress": {"type": "object"},
                "started_at": NTIME,
                "finished_at": NTIME,
                "created_at": TIME,
                "updated_at": TIME,
                "warnings": {"type": "array"},
            },
        ),
        "CampaignPage": page_of("Campaign"),
        "Warning": obj(["code", "count", "message"], {"code": STR, "count": INT, "message": STR}),
        "CampaignPreview": obj(
            ["recipients", "consented", "not_consented", "suppressed", "will_send", "warnings"],
            {
                **{k: INT for k in ["recipients", "consented", "not_consented", "suppressed", "will_send"]},
                "warnings": {"type": "array", "items": ref("Warning")},
            },
        ),
        "CampaignReport": obj(
            list(REPORT_FIELDS),
            {
                **{k: INT for k in REPORT_FIELDS},
                "campaign_id": STR,
                "status": STR,
                "paused_reason": NSTR,
                "segment_list_id": NSTR,
                "confirmed_after_segment": {
                    **INT,
                    "description": "Reactivation: clients who confirmed after the segment's list was made.",
                },
                "refresh_would_add": {
                    **INT,
                    "description": "Of those, how many `segment` with `refresh: true` would add.",
                },
            },
        ),
        "ApiKey": obj(
            ["key_id", "name", "prefix", "created_at", "last_used_at"],
            {
                "key_id": STR,
                "name": STR,
                "prefix": {"type": "string", "description": "the key's first characters"},
                "created_at": TIME,
                "last_used_at": {**NTIME, "description": "updated at most every 5 minutes"},
                "revoked_at": NTIME,
            },
            "An API key as its owners see it: never the secret.",
        ),
        "CreatedApiKey": obj(
            ["key_id", "name", "api_key", "prefix", "created_at"],
            {
                "key_id": STR,
                "name": STR,
                "api_key": {"type": "string", "description": "the secret, shown only in this answer"},
                "prefix": STR,
                "created_at": TIME,
                "last_used_at": NTIME,
                "revoked_at": NTIME,
            },
        ),
        "ApiKeyPage": page_of("ApiKey"),
        "User": obj(
            ["user_id", "email", "role", "status", "created_at"],
            {
                "user_id": STR,
                "email": STR,
                "role": {"enum": ["owner", "staff"]},
                "status": {"enum": ["invited", "active"], "description": "active once a password is set"},
                "language": NSTR,
                "invited_by": {**NSTR, "description": "user_id or key_id; null: the operator"},
                "created_at": TIME,
                "updated_at": TIME,
            },
            "A person who signs in to the account's console.",
        ),
        "UserPage": page_of("User"),
        "SegmentResult": obj(
            ["list_id", "size"],
            {
                "list_id": STR,
                "size": nullable("integer"),
                "status": STR,
                "job_id": NSTR,
                "added": {**nullable("integer"), "description": "With `refresh`: members added."},
            },
        ),
    }
)

# The campaign, and the job that re-enqueues what it still waits for (resume / cancel of a
# campaign whose deliveries do not fit in the request's read: ``requeue_sync_limit``).
schemas["CampaignWithJob"] = {
    **schemas["Campaign"],
    "required": [*schemas["Campaign"]["required"], "job"],
    "properties": {
        **schemas["Campaign"]["properties"],
        "job": {
            **ref("Job"),
            "description": "The `campaign_requeue` job (as `GET /v1/jobs/{job_id}`): `total` is how many "
            "deliveries wait (from the campaign's counters), `done` how many are re-enqueued so far.",
        },
    },
    "description": "The campaign (every field of `Campaign`) and `job`.",
}

ERRORS = {
    400: "Invalid input; `details` lists the offending fields",
    401: "Missing or bad API key",
    403: "Authenticated but not allowed (an account key on an operator route)",
    404: "Absent, or belonging to another account",
    409: "Conflict, or an acknowledgement is needed",
    413: "Body too large",
    415: "Unsupported content type",
    423: "Account suspended",
    429: "Rate limited (after too many failed authentications from one address, with Retry-After)",
}


def error(code: int) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": {"application/json": {"schema": ref("Error")}}}


def json_ok(status: int, schema: str | None, description: str) -> dict[str, Any]:
    if schema is None:
        return {str(status): {"description": description}}
    return {
        str(status): {"description": description, "content": {"application/json": {"schema": ref(schema)}}}
    }


LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
}
CURSOR = {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}}


def op(
    method: str,
    path: str,
    summary: str,
    tag: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    auth: str = "account",
    params: list[dict[str, Any]] | None = None,
    body_content: dict[str, Any] | None = None,
    operation_id: str,
) -> tuple[str, str, dict[str, Any]]:
    codes = set(errors)
    if auth in ("account", "operator"):
        codes |= {401, 429}
    if auth == "operator":
        codes.add(403)
    if body is not None or body_content is not None:
        codes |= {400, 413}
    if body is not None:
        codes.add(415)  # Chalice refuses other content types; the API gives it the error body
    if "{" in path:
        codes.add(404)
    responses = dict(ok)
    for code in sorted(codes):
        responses[str(code)] = error(code)
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if auth == "operator":
        operation["security"] = [{"operatorKey": []}]
        operation["x-permesso-operator"] = True
        operation["description"] = "Operator route: Bearer = the operator key."
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    all_params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    all_params += params or []
    if all_params:
        operation["parameters"] = all_params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if body_content is not None:
        operation["requestBody"] = {"required": True, "content": body_content}
    operation["responses"] = responses
    return path, method.lower(), operation


OPS = [
    op(
        "POST",
        "/v1/accounts",
        "Create an account (returns its API key once)",
        "Operator",
        json_ok(201, "CreatedAccount", "Created"),
        body=model(accounts.NewAccount),
        auth="operator",
        errors=(409,),
        operation_id="createAccount",
    ),
    op(
        "POST",
        "/v1/accounts/{account_id}/reinstate",
        "Reinstate a suspended account",
        "Operator",
        json_ok(200, "Account", "The account, status active"),
        auth="operator",
        errors=(409,),
        operation_id="reinstateAccount",
    ),
    op(
        "PUT",
        "/v1/accounts/{account_id}/limits",
        "Set an account's sending limits (its settings may only be lower)",
        "Operator",
        json_ok(200, "Account", "The account with its new limits"),
        body=model(AccountLimits),
        auth="operator",
        errors=(409,),
        operation_id="setAccountLimits",
    ),
    op(
        "POST",
        "/v1/sender-domains",
        "Register a sender domain (SES Easy DKIM): the DNS records to publish",
        "Sender domains",
        {
            **json_ok(201, "SenderDomain", "Registered"),
            **json_ok(200, "SenderDomain", "The account already holds this domain"),
        },
        body=model(NewSenderDomain),
        errors=(409,),
        operation_id="registerSenderDomain",
    ),
    op(
        "GET",
        "/v1/sender-domains",
        "The account's sender domains, with their status (pending ones refreshed from SES)",
        "Sender domains",
        json_ok(200, "SenderDomainPage", "A page of domains"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listSenderDomains",
    ),
    op(
        "GET",
        "/v1/sender-domains/{domain}",
        "One sender domain, its status refreshed from SES",
        "Sender domains",
        json_ok(200, "SenderDomain", "The domain"),
        operation_id="getSenderDomain",
    ),
    op(
        "DELETE",
        "/v1/sender-domains/{domain}",
        "Remove a sender domain (not the one of the account's sender_email)",
        "Sender domains",
        json_ok(204, None, "Removed"),
        errors=(409,),
        operation_id="deleteSenderDomain",
    ),
    op(
        "GET",
        "/v1/account",
        "The calling account",
        "Account",
        json_ok(200, "Account", "The account"),
        operation_id="getAccount",
    ),
    op(
        "PATCH",
        "/v1/account/settings",
        "Partial update of the account's settings",
        "Account",
        json_ok(200, "Account", "The account"),
        body=model(AccountSettingsPatch),
        errors=(409,),
        operation_id="updateSettings",
    ),
    op(
        "POST",
        "/v1/clients",
        "Create a client",
        "Clients",
        json_ok(201, "Client", "Created"),
        body=model(ClientInput),
        errors=(409,),
        operation_id="createClient",
    ),
    op(
        "GET",
        "/v1/clients",
        "List clients",
        "Clients",
        json_ok(200, "ClientPage", "A page of clients"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listClients",
    ),
    op(
        "GET",
        "/v1/clients/{client_id}",
        "Get a client",
        "Clients",
        json_ok(200, "Client", "The client"),
        operation_id="getClient",
    ),
    op(
        "PATCH",
        "/v1/clients/{client_id}",
        "Partial update of a client",
        "Clients",
        json_ok(200, "Client", "The client"),
        body=model(ClientPatch),
        errors=(409,),
        operation_id="updateClient",
    ),
    op(
        "DELETE",
        "/v1/clients/{client_id}",
        "GDPR erasure",
        "GDPR",
        json_ok(204, None, "Erased"),
        errors=(409,),
        operation_id="eraseClient",
    ),
    op(
        "GET",
        "/v1/clients/{client_id}/export",
        "GDPR export: everything held",
        "GDPR",
        json_ok(200, "ClientExport", "The export"),
        operation_id="exportClient",
    ),
    op(
        "GET",
        "/v1/clients/{client_id}/consent",
        "Consent and its ledger (oldest first)",
        "Consent",
        json_ok(200, "Consent", "Consent"),
        operation_id="getConsent",
    ),
    op(
        "PUT",
        "/v1/clients/{client_id}/consent",
        "Record consent given or withdrawn by staff",
        "Consent",
        json_ok(200, "Consent", "Consent"),
        body=model(consent.StaffConsentInput),
        errors=(409,),
        operation_id="putConsent",
    ),
    op(
        "POST",
        "/v1/clients/search",
        "Search clients with the filter language (pending sign-ups of the intake form excluded)",
        "Targeting",
        json_ok(200, "ClientCountedPage", "A page of matching clients"),
        body=model(SearchRequest),
        operation_id="searchClients",
    ),
    op(
        "POST",
        "/v1/clients/import",
        "Import clients from CSV (header row)",
        "Targeting",
        {
            **json_ok(200, "ImportResult", "Imported in the request: the summary (row = 1-based data row)"),
            "202": {
                "description": (
                    "More rows to apply than the request handles (`PERMESSO_IMPORT_INLINE_ROWS`, 500): "
                    "the whole file was read and validated, and a background job imports it; "
                    "`GET /v1/jobs/{job_id}` shows its progress and, when `done`, the summary in "
                    "`result`"
                ),
                "content": {
                    "application/json": {
                        "schema": ref("ImportAccepted"),
                        "example": {
                            "job_id": "job_01JD3Z6Q8N5V4K2M7X9T0B1C2D",
                            "status": "queued",
                            "done": 12,
                            "total": 10000,
                        },
                    }
                },
            },
        },
        body_content={"text/csv": {"schema": {"type": "string"}}},
        params=[
            {"name": "update_existing", "in": "query", "required": False, "schema": {"type": "boolean"}},
            {"name": "accept_consent", "in": "query", "required": False, "schema": {"type": "boolean"}},
            {
                "name": "custom_fields",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean"},
                "description": "Import unknown headers as custom fields (otherwise they are reported).",
            },
        ],
        errors=(415,),
        operation_id="importClients",
    ),
    op(
        "POST",
        "/v1/clients/bulk-tags",
        "Add/remove tags on a selection",
        "Targeting",
        {
            **json_ok(200, "BulkTagsResult", "Done at once"),
            **json_ok(202, "JobAccepted", "Large selection: a background job"),
        },
        body=model(bulk_tags.BulkTagsRequest),
        errors=(404, 409),  # 404: a ``list_id`` selection naming a list the account lacks
        operation_id="bulkTags",
    ),
    op(
        "GET",
        "/v1/tags",
        "The account's tags with how many clients hold each",
        "Targeting",
        json_ok(200, "TagPage", "A page of tags"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listTags",
    ),
    op(
        "GET",
        "/v1/jobs/{job_id}",
        "A background job's progress",
        "Targeting",
        json_ok(200, "Job", "The job"),
        operation_id="getJob",
    ),
    op(
        "POST",
        "/v1/lists",
        "Create a recipient list (a snapshot)",
        "Lists",
        json_ok(201, "RecipientList", "Created"),
        body=model(lists.NewList),
        errors=(404,),  # a ``list_id`` selection naming a list the account lacks
        operation_id="createList",
    ),
    op(
        "GET",
        "/v1/lists",
        "List recipient lists",
        "Lists",
        json_ok(200, "RecipientListPage", "A page of lists"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listLists",
    ),
    op(
        "GET",
        "/v1/lists/{list_id}",
        "Get a list",
        "Lists",
        json_ok(200, "RecipientList", "The list"),
        operation_id="getList",
    ),
    op(
        "DELETE",
        "/v1/lists/{list_id}",
        "Delete a list",
        "Lists",
        json_ok(204, None, "Deleted"),
        errors=(409,),
        operation_id="deleteList",
    ),
    op(
        "GET",
        "/v1/lists/{list_id}/members",
        "A list's members (clients)",
        "Lists",
        json_ok(200, "ClientCountedPage", "A page of clients"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listMembers",
    ),
    op(
        "POST",
        "/v1/campaigns",
        "Create a campaign (draft)",
        "Campaigns",
        json_ok(201, "Campaign", "Created"),
        body=model(campaigns.NewCampaign),
        errors=(404,),  # a ``list_id`` audience naming a list the account lacks
        operation_id="createCampaign",
    ),
    op(
        "GET",
        "/v1/campaigns",
        "List campaigns",
        "Campaigns",
        json_ok(200, "CampaignPage", "A page of campaigns"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listCampaigns",
    ),
    op(
        "GET",
        "/v1/campaigns/{campaign_id}",
        "Get a campaign",
        "Campaigns",
        json_ok(200, "Campaign", "The campaign"),
        operation_id="getCampaign",
    ),
    op(
        "PATCH",
        "/v1/campaigns/{campaign_id}",
        "Edit a draft",
        "Campaigns",
        json_ok(200, "Campaign", "The campaign"),
        body=model(campaigns.CampaignPatch),
        errors=(409,),
        operation_id="updateCampaign",
    ),
    op(
        "DELETE",
        "/v1/campaigns/{campaign_id}",
        "Delete a draft",
        "Campaigns",
        json_ok(204, None, "Deleted"),
        errors=(409,),
        operation_id="deleteCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/duplicate",
        "A new draft with the same content and selection",
        "Campaigns",
        json_ok(201, "Campaign", "The new draft"),
        operation_id="duplicateCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/render",
        "The e-mail as a client (or a sample client) would get it",
        "Campaigns",
        json_ok(200, "RenderedCampaign", "Subject, HTML and text"),
        body=model(previews.RenderInput),
        operation_id="renderCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/test",
        "Send one test e-mail ([TEST] subject, links that record nothing)",
        "Campaigns",
        json_ok(202, "TestSendResult", "Sent"),
        body=model(previews.CampaignTestInput),
        errors=(409, 429),
        operation_id="testCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/preview",
        "Audience counts and warnings",
        "Campaigns",
        {
            **json_ok(200, "CampaignPreview", "The audience counted in the request"),
            **json_ok(
                202,
                "Job",
                "The audience has more recipients than one request counts (`PERMESSO_PREVIEW_MAX_CLIENTS`, "
                "1,000): an `audience_count` job counts the rest; once `done`, its `result` holds "
                "`recipients`, `consented`, `not_consented`, `suppressed` and `will_send`, and for an "
                "hour the consent gate of `send` decides on them",
            ),
        },
        operation_id="previewCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/send",
        "Start sending, or schedule it (`send_at`)",
        "Campaigns",
        json_ok(202, "Campaign", "Sending"),
        body=model(campaigns.SendInput),
        errors=(409, 423),
        operation_id="sendCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/pause",
        "Pause sending",
        "Campaigns",
        json_ok(200, "Campaign", "Paused"),
        errors=(409,),
        operation_id="pauseCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/resume",
        "Resume sending",
        "Campaigns",
        {
            **json_ok(200, "Campaign", "Resumed; what still waits is re-enqueued"),
            **json_ok(
                202,
                "CampaignWithJob",
                "Resumed; the campaign's deliveries are more than one bounded read "
                "(`PERMESSO_REQUEUE_SYNC_LIMIT`, 1,000), so a job re-enqueues what still waits",
            ),
        },
        errors=(400, 409, 423),
        operation_id="resumeCampaign",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/cancel",
        "Cancel",
        "Campaigns",
        {
            **json_ok(
                200, "Campaign", "Cancelled; what still waits is settled `failed` (reason `cancelled`)"
            ),
            **json_ok(
                202,
                "CampaignWithJob",
                "Cancelled; the campaign's deliveries are more than one bounded read "
                "(`PERMESSO_REQUEUE_SYNC_LIMIT`, 1,000), so a job hands what still waits to the "
                "workers, which settle it `failed` (reason `cancelled`)",
            ),
        },
        errors=(409,),
        operation_id="cancelCampaign",
    ),
    op(
        "GET",
        "/v1/campaigns/{campaign_id}/report",
        "Delivery and response counts",
        "Campaigns",
        json_ok(200, "CampaignReport", "Report"),
        operation_id="campaignReport",
    ),
    op(
        "POST",
        "/v1/campaigns/{campaign_id}/segment",
        "Build the list of who confirmed (reactivation)",
        "Campaigns",
        json_ok(200, "SegmentResult", "The segment list"),
        body=model(segmentation.SegmentInput),
        errors=(409,),
        operation_id="segmentCampaign",
    ),
]

OPS += [
    op(
        "POST",
        "/v1/api-keys",
        "Create a named API key (the secret is shown once)",
        "API keys",
        json_ok(201, "CreatedApiKey", "Created"),
        body=model(api_keys.NewApiKey),
        operation_id="createApiKey",
    ),
    op(
        "GET",
        "/v1/api-keys",
        "The account's API keys (never a secret)",
        "API keys",
        json_ok(200, "ApiKeyPage", "A page of keys, oldest first"),
        params=[
            LIMIT,
            CURSOR,
            {"name": "include_revoked", "in": "query", "required": False, "schema": {"type": "boolean"}},
        ],
        errors=(400,),
        operation_id="listApiKeys",
    ),
    op(
        "DELETE",
        "/v1/api-keys/{key_id}",
        "Revoke a key: it answers 401 from the next request on",
        "API keys",
        json_ok(204, None, "Revoked"),
        errors=(409,),
        operation_id="revokeApiKey",
    ),
    op(
        "POST",
        "/v1/users",
        "Invite a person to the console (an e-mail with a link valid 7 days)",
        "Users",
        json_ok(201, "User", "Invited"),
        body=model(users.NewUser),
        errors=(409,),
        operation_id="inviteUser",
    ),
    op(
        "GET",
        "/v1/users",
        "The account's console users",
        "Users",
        json_ok(200, "UserPage", "A page of users"),
        params=[LIMIT, CURSOR],
        errors=(400,),
        operation_id="listUsers",
    ),
    op(
        "GET",
        "/v1/users/{user_id}",
        "A console user",
        "Users",
        json_ok(200, "User", "The user"),
        operation_id="getUser",
    ),
    op(
        "PATCH",
        "/v1/users/{user_id}",
        "Change a user's role (409 last_owner for the account's only owner)",
        "Users",
        json_ok(200, "User", "The user"),
        body=model(users.RoleChange),
        errors=(409,),
        operation_id="changeUserRole",
    ),
    op(
        "DELETE",
        "/v1/users/{user_id}",
        "Remove a user: their sessions end at once (409 last_owner for the only owner)",
        "Users",
        json_ok(204, None, "Removed"),
        errors=(409,),
        operation_id="removeUser",
    ),
    op(
        "POST",
        "/v1/users/{user_id}/invitation",
        "Send an invited user a new invitation link",
        "Users",
        json_ok(202, "User", "Sent"),
        errors=(409,),
        operation_id="resendInvitation",
    ),
]

model(AccountSettings)

# --- links: how a created resource's id feeds the operations on it (stateful fuzzing and readers)
LINKS: dict[tuple[str, str], tuple[str, str, list[str]]] = {
    # (operationId, status): (response field, path parameter, operations it feeds)
    ("createAccount", "201"): ("account_id", "account_id", ["reinstateAccount", "setAccountLimits"]),
    ("registerSenderDomain", "201"): ("domain", "domain", ["getSenderDomain", "deleteSenderDomain"]),
    ("createClient", "201"): (
        "client_id",
        "client_id",
        ["getClient", "updateClient", "eraseClient", "exportClient", "getConsent", "putConsent"],
    ),
    ("bulkTags", "202"): ("job_id", "job_id", ["getJob"]),
    ("importClients", "202"): ("job_id", "job_id", ["getJob"]),
    ("resumeCampaign", "202"): ("job/job_id", "job_id", ["getJob"]),
    ("previewCampaign", "202"): ("job_id", "job_id", ["getJob"]),
    ("cancelCampaign", "202"): ("job/job_id", "job_id", ["getJob"]),
    ("createApiKey", "201"): ("key_id", "key_id", ["revokeApiKey"]),
    ("inviteUser", "201"): (
        "user_id",
        "user_id",
        ["getUser", "changeUserRole", "resendInvitation", "removeUser"],
    ),
    ("createList", "201"): ("list_id", "list_id", ["getList", "listMembers", "deleteList"]),
    ("segmentCampaign", "200"): ("list_id", "list_id", ["getList", "listMembers"]),
    ("createCampaign", "201"): (
        "campaign_id",
        "campaign_id",
        [
            "getCampaign",
            "previewCampaign",
            "sendCampaign",
            "pauseCampaign",
            "resumeCampaign",
            "cancelCampaign",
            "campaignReport",
            "segmentCampaign",
            "updateCampaign",
            "duplicateCampaign",
            "renderCampaign",
            "testCampaign",
            "deleteCampaign",
        ],
    ),
    ("duplicateCampaign", "201"): ("campaign_id", "campaign_id", ["getCampaign", "deleteCampaign"]),
}

# --- request examples: a valid body per operation (the fuzzer's first cases; readers' starting point)
FILTER_EXAMPLE = {
    "all": [
        {"field": "tags", "op": "contains", "value": "vip"},
        {"field": "consent.confirmed_at", "op": "is_set"},
    ]
}
EXAMPLES: dict[str, Any] = {
    "createAccount": {
        "name": "Salon Bella",
        "sender_email": "hello@salon-bella.example",
        "language": "it",
        "owner_email": "owner@salon-bella.example",
    },
    "updateSettings": {"consent_only_campaigns": True, "reactivation_wait_days": 7},
    "setAccountLimits": {"send_rate_per_second": 10, "hourly_send_cap": 5000, "daily_send_cap": 20000},
    "registerSenderDomain": {"domain": "news.salon-bella.example"},
    "createClient": {
        "email": "anna@example.com",
        "first_name": "Anna",
        "last_name": "Novak",
        "language": "cs",
        "tags": ["vip"],
        "last_visit_at": "2026-10-01T10:00:00Z",
    },
    "updateClient": {"first_name": "Anna", "tags": ["vip", "haircut"]},
    "putConsent": {"granted": True, "note": "Asked in person at the counter"},
    "searchClients": {"filter": FILTER_EXAMPLE, "limit": 50},
    "bulkTags": {
        "selection": {"filter": {"field": "auto_status", "op": "eq", "value": "lost"}},
        "add": ["winback"],
    },
    "createList": {"name": "VIP confirmed", "selection": {"filter": FILTER_EXAMPLE}},
    "createCampaign": {
        "name": "Autumn offer",
        "kind": "standard",
        "subject": "Hello {{ first_name }}",
        "html": "<p>20% off this week, {{ first_name }}.</p>",
        "selection": {"tag": "vip"},
    },
    "updateCampaign": {"subject": "Autumn offer for you, {{ first_name }}"},
    "renderCampaign": {},
    "testCampaign": {},
    "sendCampaign": {"acknowledge_non_consented": False},
    "segmentCampaign": {"force": False, "refresh": False},
    "importClients": "email,first_name,tags\nanna@example.com,Anna,vip\n",
    "createApiKey": {"name": "Booking system"},
    "inviteUser": {"email": "front.desk@salon-bella.example", "role": "staff", "language": "it"},
    "changeUserRole": {"role": "owner"},
}


def add_links_and_examples(paths: dict[str, dict[str, Any]]) -> None:
    by_id = {operation["operationId"]: operation for item in paths.values() for operation in item.values()}
    for (source, status), (field, parameter, targets) in LINKS.items():
        response = by_id[source]["responses"][status]
        response["links"] = {
            target: {"operationId": target, "parameters": {parameter: f"$response.body#/{field}"}}
            for target in targets
        }
    for operation_id, example in EXAMPLES.items():
        for media in by_id[operation_id]["requestBody"]["content"].values():
            media["example"] = example


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in OPS:
        paths.setdefault(path, {})[method] = operation
    add_links_and_examples(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Permesso API",
            "version": "1",
            "description": (
                "Client base, consent proof, re-permission campaigns and promotional e-mail for small "
                "businesses. JSON in and out; timestamps are ISO 8601 UTC. Errors have the body "
                '`{"error": {"code", "message", "details"}}`. Lists paginate with `limit` '
                "(default 50, max 500) and an opaque `cursor`; `next_cursor` is null at the end. "
                "Operator routes are marked `x-permesso-operator` and need the operator key. "
                "Public pages under `/p/` (HTML, links in e-mails) and the staff console under `/app/` "
                "are outside this document. Every change records its `actor`: the `key_id` of the "
                "API key used (the console records the signed-in user's `user_id`)."
            ),
        },
        "servers": [
            {"url": ".", "description": "this deployment (relative to where this document is served)"},
            {"url": "http://127.0.0.1:8000", "description": "local stack (make run)"},
        ],
        "security": [{"apiKey": []}],
        "tags": [
            {"name": t}
            for t in [
                "Operator",
                "Account",
                "Sender domains",
                "API keys",
                "Users",
                "Clients",
                "GDPR",
                "Consent",
                "Targeting",
                "Lists",
                "Campaigns",
            ]
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "The account's API key"},
                "operatorKey": {"type": "http", "scheme": "bearer", "description": "The operator key"},
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


class _Plain(yaml.SafeDumper):
    """Writes shared sub-schemas out in full: no YAML anchors or aliases for readers to chase."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


YAML_DOCUMENT = ROOT / "chalicelib" / "openapi" / "openapi.yaml"
JSON_DOCUMENT = YAML_DOCUMENT.with_suffix(".json")


def json_text(document: dict[str, Any]) -> str:
    """The JSON form the Lambda reads: same content, key order kept, one trailing newline."""
    import json

    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write_json() -> None:
    JSON_DOCUMENT.write_text(json_text(yaml.safe_load(YAML_DOCUMENT.read_text(encoding="utf-8"))))
    print(JSON_DOCUMENT.relative_to(ROOT))


if __name__ == "__main__":
    if "--json" not in sys.argv[1:]:
        text = yaml.dump(build(), Dumper=_Plain, sort_keys=False, allow_unicode=True, width=100)
        YAML_DOCUMENT.write_text(
            "# Generated by bench/openapi_build.py, then reviewed; the API's contract.\n" + text
        )
        print(YAML_DOCUMENT.relative_to(ROOT))
    write_json()
