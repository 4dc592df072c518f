"""The HTTP contract of API.md, walked as written: every route answers a valid request with
the documented status and (at least) the documented field names and types, and every
documented error case with its documented status and error code.

Each case is named after the API.md line it checks. Deep behaviour (who is in an audience,
evidence recorded by the public pages, segmentation...) has its own tests; this file is
about the surface clients rely on."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.bootstrap import get_deps
from tests.integration.conftest import OPERATOR, Http, create_account, verify_sender

SENDER = "hello@salon.example"
TERMS = "https://salon.example/terms"
INTEREST = "https://salon.example/legitimate-interest"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RUN_FIRST = 30  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

# Field types: ``str | None`` is written ``(str, None)``; ``"iso"`` is an ISO 8601 UTC string.
Str, Int, Bool, Dict, List = str, int, bool, dict, list
Num = (int, float)
OptStr = (str, None)
OptIso = ("iso", None)
Nullable = object()  # any value, including null: only the name is checked

ACCOUNT = {
    "account_id": Str,
    "name": Str,
    "status": Str,
    "suspension": (dict, None),
    "settings": Dict,
    "reputation": Dict,
}
CLIENT = {
    "client_id": Str,
    "email": Str,
    "first_name": OptStr,
    "last_name": OptStr,
    "phone": OptStr,
    "language": OptStr,
    "tags": List,
    "status": OptStr,
    "last_visit_at": OptIso,
    "fields": Dict,
    "auto_status": OptStr,
    "consent": Dict,
    "suppressed": Bool,
    "created_at": "iso",
    "updated_at": "iso",
}
CONSENT_SUMMARY = {"state": Str, "confirmed_at": OptIso, "source": OptStr}
CONSENT = {"state": Str, "confirmed_at": OptIso, "events": List}
CONSENT_EVENT = {
    "type": Str,
    "at": "iso",
    "source": Str,
    "ip": OptStr,
    "user_agent": OptStr,
    "campaign_id": OptStr,
    "terms_url": OptStr,
    "legitimate_interest_url": OptStr,
    "actor": OptStr,
}
PAGE = {"items": List, "next_cursor": OptStr}
SEARCH = {**PAGE, "count": Int}
LIST = {"list_id": Str, "name": Str, "size": Int, "created_at": "iso", "source": Dict}
CAMPAIGN = {
    "campaign_id": Str,
    "name": Str,
    "kind": Str,
    "status": Str,
    "subject": OptStr,
    "audience": Dict,
    "segment_after": OptIso,
    "segment_list_id": OptStr,
}
PREVIEW = {
    "recipients": Int,
    "consented": Int,
    "not_consented": Int,
    "suppressed": Int,
    "will_send": Int,
    "warnings": List,
}
REPORT = {
    name: Int
    for name in (
        "recipients",
        "sent",
        "suppressed",
        "excluded_no_consent",
        "failed",
        "bounced",
        "complained",
        "unsubscribed",
        "confirmed",
        "declined",
        "no_response",
    )
}
IMPORT = {"created": Int, "updated": Int, "skipped": Int, "errors": List}
JOB = {"status": Str, "done": Int, "total": Int}
CAMPAIGN_STATUSES = {
    "draft",
    "sending",
    "sent",
    "awaiting_responses",
    "segmented",
    "paused",
    "cancelled",
    "active",
}


def _matches(value: Any, expected: Any) -> bool:
    if expected is Nullable:
        return True
    if isinstance(expected, tuple):
        return any(_matches(value, option) for option in expected)
    if expected is None:
        return value is None
    if expected == "iso":
        return isinstance(value, str) and bool(ISO_UTC.match(value))
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def assert_shape(body: Any, shape: dict[str, Any], where: str = "body") -> None:
    assert isinstance(body, dict), f"{where}: {body!r}"
    missing = [name for name in shape if name not in body]
    assert not missing, f"{where} lacks {missing}: {body}"
    wrong = {name: body[name] for name, kind in shape.items() if not _matches(body[name], kind)}
    assert not wrong, f"{where} has fields of the wrong type {wrong}"


def assert_error(status: int, body: Any, expected_status: int, code: str | None) -> None:
    assert status == expected_status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]["code"]), body
    if code is not None:
        assert body["error"]["code"] == code, body


# --- the world every case runs in ---------------------------------------------------------------


@dataclass
class World:
    http: Http
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        return text.format(**self.ids)


def new_client(http: Http, email: str, **extra: Any) -> str:
    status, body = http.post("/v1/clients", {"email": email, **extra})
    assert status == 201, body
    return str(body["client_id"])


def build_world(http: Http, account: dict[str, Any]) -> World:
    w = World(http)
    w.ids["account_id"] = account["account_id"]
    w.ids["client_id"] = new_client(http, "ada@example.com", first_name="Ada", tags=["vip"])
    w.ids["other_client_id"] = new_client(http, "bob@example.com", tags=["vip"])
    status, lst = http.post("/v1/lists", {"name": "VIP", "source": {"tag": "vip"}})
    assert status == 201, lst
    w.ids["list_id"] = lst["list_id"]
    status, campaign = http.post(
        "/v1/campaigns",
        {"name": "News", "subject": "Hello", "text": "Hi", "audience": {"tag": "vip"}},
    )
    assert status == 201, campaign
    w.ids["campaign_id"] = campaign["campaign_id"]
    stranger = Http(http.client, create_account(http.client, "Elsewhere", "x@elsewhere.example")["api_key"])
    w.ids["foreign_client_id"] = new_client(stranger, "foreign@example.com")
    status, lst = stranger.post("/v1/lists", {"name": "Theirs", "source": {"tag": "x"}})
    assert status == 201, lst
    w.ids["foreign_list_id"] = lst["list_id"]
    status, campaign = stranger.post(
        "/v1/campaigns", {"name": "Theirs", "subject": "Hi", "text": "Hi", "audience": {"tag": "x"}}
    )
    assert status == 201, campaign
    w.ids["foreign_campaign_id"] = campaign["campaign_id"]
    return w


# Every test starts from the same world: it is built through the API by the first test of each
# test process, its DynamoDB tables are kept, and each later test gets a copy of them in its own
# fresh moto (as create_tables does for the empty tables; the world leaves nothing in SQS or SES).
# Building it took about 0.2 s of CPU of each of this file's 129 tests, two thirds of their time.
_BUILT: dict[str, Any] = {}


@pytest.fixture
def world(api: Any) -> World:
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    from chalicelib.services.pacing import reset_registry_cache

    tables = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][get_deps().settings.region].tables
    if not _BUILT:
        account = create_account(api)
        built = build_world(Http(api, account["api_key"]), account)
        _BUILT.update(tables=copy.deepcopy(tables), account=account, ids=dict(built.ids))
        return built
    for name, table in _BUILT["tables"].items():
        tables[name] = copy.deepcopy(table)
    # The same account ids in every test: no sender registry this process read in an earlier one.
    reset_registry_cache()
    return World(Http(api, _BUILT["account"]["api_key"]), dict(_BUILT["ids"]))


@pytest.fixture
def account(world: World) -> dict[str, Any]:
    """The world's account (``http`` then holds its key, as the world's own ``http`` does)."""
    return dict(_BUILT["account"])


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    line: str
    method: str
    path: str
    body: Any = None
    status: int = 200
    shape: dict[str, Any] | None = None
    error: str | None = None
    auth: str = "account"  # account | operator | none | bad
    extra: tuple[tuple[str, Any], ...] = ()  # (dotted path, expected value) checks

    def __str__(self) -> str:
        return self.line


CREATE_CLIENT = {
    "email": "new@example.com",
    "first_name": "New",
    "last_name": "Client",
    "phone": "+420 777 123 456",
    "language": "cs",
    "tags": ["vip", "spring"],
    "status": "regular",
    "last_visit_at": "2026-11-22T10:00:00Z",
    "fields": {"hair": "long", "visits": 3},
}

CASES = [
    # General rules
    Case("General: a missing key → 401", "GET", "/v1/account", status=401, error=None, auth="none"),
    Case("General: a bad key → 401", "GET", "/v1/clients", status=401, auth="bad"),
    Case(
        "General: another account's client is absent → 404",
        "GET",
        "/v1/clients/{foreign_client_id}",
        status=404,
    ),
    Case(
        "General: 400 lists the offending fields in details",
        "POST",
        "/v1/clients",
        {"email": "not an address"},
        status=400,
        error="invalid_input",
    ),
    # Operator
    Case(
        "POST /v1/accounts → 201 {account_id, api_key, public_slug}",
        "POST",
        "/v1/accounts",
        {"name": "Barber", "sender_email": "b@barber.example", "sender_name": "Barber", "language": "it"},
        status=201,
        shape={"account_id": Str, "api_key": Str, "public_slug": Str},
        auth="operator",
    ),
    Case(
        "POST /v1/accounts (Bearer = operator key): an account key → 403",
        "POST",
        "/v1/accounts",
        {"name": "Barber", "sender_email": "b@barber.example"},
        status=403,
    ),
    Case(
        "POST /v1/accounts (Bearer = operator key): no key → 401",
        "POST",
        "/v1/accounts",
        {"name": "Barber", "sender_email": "b@barber.example"},
        status=401,
        auth="none",
    ),
    Case(
        "POST /v1/accounts/{account_id}/reinstate → 200 account, status active",
        "POST",
        "/v1/accounts/{account_id}/reinstate",
        status=200,
        shape=ACCOUNT,
        auth="operator",
        extra=(("status", "active"),),
    ),
    Case(
        "POST /v1/accounts/{account_id}/reinstate: absent → 404",
        "POST",
        "/v1/accounts/acc_01ABSENT/reinstate",
        status=404,
        auth="operator",
    ),
    Case(
        "POST /v1/accounts: name and sender_email are required → 400",
        "POST",
        "/v1/accounts",
        {"name": "Barber"},
        status=400,
        auth="operator",
    ),
    # Account
    Case(
        "GET /v1/account → {account_id, name, status, suspension, settings, reputation}",
        "GET",
        "/v1/account",
        shape=ACCOUNT,
        extra=(("status", "active"), ("suspension", None)),
    ),
    Case(
        "PATCH /v1/account/settings → 200 account",
        "PATCH",
        "/v1/account/settings",
        {
            "consent_only_campaigns": True,
            "sender_email": "team@salon.example",
            "sender_name": "Salon Bella",
            "language": "cs",
            "terms_url": TERMS,
            "legitimate_interest_url": INTEREST,
            "reactivation_wait_days": 30,
            "non_responder_action": "tag",
            "send_rate_per_second": 5,
            "daily_send_cap": 2000,
            "auto_status": {"new_days": 30, "active_days": 60, "lapsing_days": 120},
        },
        shape=ACCOUNT,
        extra=(
            ("settings.consent_only_campaigns", True),
            ("settings.reactivation_wait_days", 30),
            ("settings.non_responder_action", "tag"),
            ("settings.language", "cs"),
            ("settings.terms_url", TERMS),
        ),
    ),
    *(
        Case(
            f"PATCH /v1/account/settings: {name} {value!r} is refused → 400",
            "PATCH",
            "/v1/account/settings",
            {name: value},
            status=400,
            error="invalid_input",
        )
        for name, value in (
            ("reactivation_wait_days", 31),
            ("reactivation_wait_days", -1),
            ("non_responder_action", "delete"),
            ("terms_url", "http://salon.example/terms"),
            ("legitimate_interest_url", "not a url"),
            ("consent_only_campaigns", "yes"),
            ("language", "xx"),
            ("sender_email", "nobody"),
            ("send_rate_per_second", 0),
            ("daily_send_cap", 0),
            ("auto_status", {"active_days": 90, "lapsing_days": 30}),
            ("no_such_setting", 1),
        )
    ),
    # Clients
    Case(
        "POST /v1/clients → 201 client",
        "POST",
        "/v1/clients",
        CREATE_CLIENT,
        status=201,
        shape=CLIENT,
        extra=(
            ("email", "new@example.com"),
            ("tags", ["vip", "spring"]),
            ("status", "regular"),
            ("fields.visits", 3),
            ("consent.state", "unknown"),
            ("suppressed", False),
        ),
    ),
    Case(
        "POST /v1/clients: 409 duplicate_email",
        "POST",
        "/v1/clients",
        {"email": "ADA@example.com"},
        status=409,
        error="duplicate_email",
    ),
    Case(
        "GET /v1/clients/{client_id} → client with client_id, auto_status, consent, suppressed",
        "GET",
        "/v1/clients/{client_id}",
        shape=CLIENT,
    ),
    Case("GET /v1/clients/{client_id}: absent → 404", "GET", "/v1/clients/cl_nothere", status=404),
    Case(
        "PATCH /v1/clients/{client_id} → 200 client",
        "PATCH",
        "/v1/clients/{client_id}",
        {"last_name": "Lovelace", "tags": ["vip", "new"]},
        shape=CLIENT,
        extra=(("last_name", "Lovelace"), ("first_name", "Ada")),
    ),
    Case("DELETE /v1/clients/{client_id} → 204", "DELETE", "/v1/clients/{client_id}", status=204),
    Case(
        "DELETE /v1/clients/{client_id}: another account's → 404",
        "DELETE",
        "/v1/clients/{foreign_client_id}",
        status=404,
    ),
    Case(
        "GET /v1/clients/{client_id}/export → client, consent events, deliveries",
        "GET",
        "/v1/clients/{client_id}/export",
        shape={"client": Dict, "consent_events": List, "deliveries": List},
    ),
    Case(
        "GET /v1/clients/{client_id}/consent → {state, confirmed_at, events}",
        "GET",
        "/v1/clients/{client_id}/consent",
        shape=CONSENT,
    ),
    Case(
        'PUT /v1/clients/{client_id}/consent → 200 consent (source: "staff")',
        "PUT",
        "/v1/clients/{client_id}/consent",
        {"granted": True, "note": "asked at the desk"},
        shape=CONSENT,
        extra=(("state", "granted"), ("events.-1.source", "staff")),
    ),
    Case(
        "PUT /v1/clients/{client_id}/consent: granted must be a bool → 400",
        "PUT",
        "/v1/clients/{client_id}/consent",
        {"granted": "yes"},
        status=400,
        error="invalid_input",
    ),
    Case(
        "POST /v1/clients/search → {items, next_cursor, count}",
        "POST",
        "/v1/clients/search",
        {"filter": {"field": "tags", "op": "contains", "value": "vip"}, "limit": 10},
        shape=SEARCH,
        extra=(("count", 2), ("next_cursor", None)),
    ),
    Case(
        "POST /v1/clients/search: filter? is optional",
        "POST",
        "/v1/clients/search",
        {},
        shape=SEARCH,
        extra=(("count", 2),),
    ),
    Case(
        "Filter language: an unknown field → 400",
        "POST",
        "/v1/clients/search",
        {"filter": {"field": "shoe_size", "op": "eq", "value": 42}},
        status=400,
    ),
    Case(
        "Filter language: an unknown op → 400",
        "POST",
        "/v1/clients/search",
        {"filter": {"field": "email", "op": "sounds_like", "value": "x"}},
        status=400,
    ),
    Case(
        "POST /v1/clients/bulk-tags → 200 {matched, updated}",
        "POST",
        "/v1/clients/bulk-tags",
        {"selection": {"client_ids": ["{client_id}"]}, "add": ["gold"], "remove": ["vip"]},
        shape={"matched": Int, "updated": Int},
        extra=(("matched", 1), ("updated", 1)),
    ),
    Case(
        "POST /v1/clients/bulk-tags: selection by filter",
        "POST",
        "/v1/clients/bulk-tags",
        {"selection": {"filter": {"field": "tags", "op": "contains", "value": "vip"}}, "add": ["gold"]},
        shape={"matched": Int, "updated": Int},
        extra=(("matched", 2),),
    ),
    Case("GET /v1/jobs/{job_id}: absent → 404", "GET", "/v1/jobs/job_nothere", status=404),
    # Recipient lists
    *(
        Case(
            f"POST /v1/lists source {kind} → 201 {{list_id, name, size, created_at, source}}",
            "POST",
            "/v1/lists",
            {"name": "A list", "source": source},
            status=201,
            shape=LIST,
            extra=(("size", size),),
        )
        for kind, source, size in (
            ("tag", {"tag": "vip"}, 2),
            ("filter", {"filter": {"field": "email", "op": "starts_with", "value": "ada"}}, 1),
            ("client_ids", {"client_ids": ["{client_id}"]}, 1),
        )
    ),
    Case("GET /v1/lists", "GET", "/v1/lists", shape=PAGE),
    Case("GET /v1/lists/{list_id}", "GET", "/v1/lists/{list_id}", shape=LIST),
    Case("GET /v1/lists/{list_id}: absent → 404", "GET", "/v1/lists/lst_nothere", status=404),
    Case("DELETE /v1/lists/{list_id}", "DELETE", "/v1/lists/{list_id}", status=204),
    Case(
        "GET /v1/lists/{list_id}/members → paginated clients",
        "GET",
        "/v1/lists/{list_id}/members",
        shape=PAGE,
    ),
    # Campaigns
    Case(
        'POST /v1/campaigns → 201 campaign (status: "draft")',
        "POST",
        "/v1/campaigns",
        {
            "name": "Spring",
            "kind": "standard",
            "subject": "Spring offers",
            "html": "<p>Hello</p>",
            "text": "Hello",
            "language": "en",
            "audience": {"list_id": "{list_id}"},
        },
        status=201,
        shape=CAMPAIGN,
        extra=(("status", "draft"), ("kind", "standard")),
    ),
    *(
        Case(
            f"POST /v1/campaigns: audience {{{name}}} → 201",
            "POST",
            "/v1/campaigns",
            {"name": "Spring", "subject": "Hi", "text": "Hello", "audience": audience},
            status=201,
            shape=CAMPAIGN,
        )
        for name, audience in (
            ("tag", {"tag": "vip"}),
            ("filter", {"filter": {"field": "consent.state", "op": "eq", "value": "granted"}}),
            ("auto_status", {"auto_status": "lost"}),
        )
    ),
    Case(
        "POST /v1/campaigns: kind automatic → 201 draft",
        "POST",
        "/v1/campaigns",
        {"name": "Welcome", "kind": "automatic", "subject": "Hi", "text": "Hi", "audience": {"tag": "vip"}},
        status=201,
        shape=CAMPAIGN,
        extra=(("status", "draft"), ("kind", "automatic")),
    ),
    Case(
        "POST /v1/campaigns: reactivation with terms/legitimate-interest URLs → 201",
        "POST",
        "/v1/campaigns",
        {
            "name": "Still there?",
            "kind": "reactivation",
            "subject": "Still there?",
            "audience": {"tag": "vip"},
            "terms_url": TERMS,
            "legitimate_interest_url": INTEREST,
            "wait_days": 3,
        },
        status=201,
        shape=CAMPAIGN,
        extra=(("status", "draft"), ("kind", "reactivation")),
    ),
    Case(
        "POST /v1/campaigns: non-https terms_url → 400",
        "POST",
        "/v1/campaigns",
        {
            "name": "Still there?",
            "kind": "reactivation",
            "audience": {"tag": "vip"},
            "terms_url": "http://salon.example/terms",
            "legitimate_interest_url": INTEREST,
        },
        status=400,
        error="invalid_input",
    ),
    Case(
        "POST /v1/campaigns: wait_days outside 0-30 → 400",
        "POST",
        "/v1/campaigns",
        {
            "name": "Still there?",
            "kind": "reactivation",
            "audience": {"tag": "vip"},
            "terms_url": TERMS,
            "legitimate_interest_url": INTEREST,
            "wait_days": 31,
        },
        status=400,
        error="invalid_input",
    ),
    Case(
        "POST /v1/campaigns: a reactivation campaign without terms/legitimate-interest URLs → 400",
        "POST",
        "/v1/campaigns",
        {"name": "Still there?", "kind": "reactivation", "audience": {"tag": "vip"}},
        status=400,
    ),
    Case("GET /v1/campaigns", "GET", "/v1/campaigns", shape=PAGE),
    Case(
        "GET /v1/campaigns/{campaign_id} → campaign with status, segment_after, segment_list_id",
        "GET",
        "/v1/campaigns/{campaign_id}",
        shape=CAMPAIGN,
    ),
    Case(
        "GET /v1/campaigns/{campaign_id}: absent → 404",
        "GET",
        "/v1/campaigns/cmp_nothere",
        status=404,
    ),
    Case(
        "POST /v1/campaigns/{id}/preview → {recipients, consented, not_consented, suppressed, will_send, warnings}",
        "POST",
        "/v1/campaigns/{campaign_id}/preview",
        shape=PREVIEW,
        extra=(("recipients", 2), ("not_consented", 2)),
    ),
    Case(
        "POST /v1/campaigns/{id}/send: 409 non_consented_recipients with details.count",
        "POST",
        "/v1/campaigns/{campaign_id}/send",
        {},
        status=409,
        error="non_consented_recipients",
        extra=(("error.details.count", 2),),
    ),
    Case(
        "POST /v1/campaigns/{id}/send {acknowledge_non_consented} → 202 campaign (sending)",
        "POST",
        "/v1/campaigns/{campaign_id}/send",
        {"acknowledge_non_consented": True},
        status=202,
        shape=CAMPAIGN,
        extra=(("status", "sending"),),
    ),
    Case(
        "GET /v1/campaigns/{id}/report → {recipients, sent, ... no_response}",
        "GET",
        "/v1/campaigns/{campaign_id}/report",
        shape=REPORT,
    ),
    Case(
        "POST /v1/campaigns/{id}/segment: a standard campaign is not segmented → 409",
        "POST",
        "/v1/campaigns/{campaign_id}/segment",
        {"force": True},
        status=409,
    ),
]


def assert_timestamps_are_iso_utc(body: Any, where: str = "body") -> None:
    """General rules: every timestamp (``*_at``, ``segment_after``) is ISO 8601 UTC or null."""
    if isinstance(body, list):
        for index, item in enumerate(body):
            assert_timestamps_are_iso_utc(item, f"{where}[{index}]")
    elif isinstance(body, dict):
        for key, value in body.items():
            if (key.endswith("_at") or key == "segment_after") and not isinstance(value, dict | list):
                assert value is None or (isinstance(value, str) and ISO_UTC.match(value)), (where, key, value)
            elif key != "fields":  # custom fields are the business's own data
                assert_timestamps_are_iso_utc(value, f"{where}.{key}")


def _pick(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return world.fill(value) if "{" in value and not value.startswith('{"') else value
    if isinstance(value, list):
        return [_fill(item, world) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, world) for key, item in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=str)
def test_contract(world: World, case: Case) -> None:
    headers = {
        "account": None,
        "operator": OPERATOR,
        "none": {"Authorization": ""},
        "bad": {"Authorization": "Bearer not-a-key"},
    }[case.auth]
    body = _fill(case.body, world)
    status, answer = world.http.call(case.method, world.fill(case.path), body, headers=headers)
    if case.status >= 400:
        assert_error(status, answer, case.status, case.error)
        if case.status == 400:
            assert answer["error"]["details"], answer
    else:
        assert status == case.status, answer
        if case.status == 204:
            assert answer is None
    if case.shape is not None:
        assert_shape(answer, case.shape)
    assert_timestamps_are_iso_utc(answer)
    for dotted, expected in case.extra:
        assert _pick(answer, dotted) == expected, (dotted, answer)


# --- nested shapes -------------------------------------------------------------------------------


def test_nested_fields_of_account_client_and_consent(world: World) -> None:
    http = world.http
    _, me = http.get("/v1/account")
    assert_shape(me["reputation"], {"sent_7d": Int, "bounce_rate_7d": Num, "complaint_rate_7d": Num})
    # PATCH /v1/account/settings defaults: consent_only_campaigns false, reactivation_wait_days 7.
    assert me["settings"]["consent_only_campaigns"] is False
    assert me["settings"]["reactivation_wait_days"] == 7
    assert me["settings"]["non_responder_action"] in ("none", "tag", "erase")
    documented = {
        "consent_only_campaigns",
        "sender_email",
        "sender_name",
        "language",
        "terms_url",
        "legitimate_interest_url",
        "reactivation_wait_days",
        "non_responder_action",
        "send_rate_per_second",
        "daily_send_cap",
        "auto_status",
    }
    assert documented <= set(me["settings"]), sorted(documented - set(me["settings"]))

    _, client = http.get(world.fill("/v1/clients/{client_id}"))
    assert_shape(client["consent"], CONSENT_SUMMARY, "client.consent")
    assert client["consent"]["state"] in ("granted", "denied", "unknown")

    http.put(world.fill("/v1/clients/{client_id}/consent"), {"granted": True})
    http.put(world.fill("/v1/clients/{client_id}/consent"), {"granted": False})
    _, consent = http.get(world.fill("/v1/clients/{client_id}/consent"))
    assert consent["state"] == "denied" and len(consent["events"]) == 2
    for event in consent["events"]:
        assert_shape(event, CONSENT_EVENT, "consent.events[]")
    assert [e["at"] for e in consent["events"]] == sorted(e["at"] for e in consent["events"])  # oldest first

    _, preview = http.post(world.fill("/v1/campaigns/{campaign_id}/preview"))
    assert preview["warnings"], preview
    for warning in preview["warnings"]:
        assert_shape(warning, {"code": Str, "count": Int, "message": Str}, "preview.warnings[]")


# --- General rules -------------------------------------------------------------------------------


def test_general_malformed_json_is_400_and_oversized_body_is_413(world: World) -> None:
    http = world.http
    status, body = http.post("/v1/clients", raw=b'{"email": ')
    assert_error(status, body, 400, "invalid_json")
    huge = {"email": "big@example.com", "fields": {"note": "x" * 1000}, "pad": "y" * 300_000}
    status, body = http.post("/v1/clients", huge)
    assert_error(status, body, 413, None)


def test_general_lists_paginate_with_limit_default_50_max_500_and_next_cursor(world: World) -> None:
    http = world.http
    for n in range(50):  # 52 clients with the world's two
        new_client(http, f"c{n:02d}@example.com")
    for path in ("/v1/clients", "/v1/clients/search"):
        call = http.get if path == "/v1/clients" else (lambda p: http.post(p, {}))
        status, first = call(path)
        assert status == 200 and len(first["items"]) == 50 and first["next_cursor"], path
        sep = "?"
        if path == "/v1/clients":
            status, rest = http.get(f"{path}?cursor={first['next_cursor']}")
        else:
            status, rest = http.post(path, {"cursor": first["next_cursor"]})
        assert status == 200 and len(rest["items"]) == 2 and rest["next_cursor"] is None, (path, sep)
        ids = {c["client_id"] for c in first["items"]} | {c["client_id"] for c in rest["items"]}
        assert len(ids) == 52
    assert len(http.get("/v1/clients?limit=500")[1]["items"]) == 52
    # An empty cursor is the first page, like none.
    status, again = http.get("/v1/clients?limit=50&cursor=")
    assert status == 200 and again["items"] == first["items"], again
    status, again = http.post("/v1/clients/search", {"cursor": ""})
    assert status == 200 and len(again["items"]) == 50, again
    assert_error(*http.get("/v1/clients?limit=501"), 400, "invalid_input")
    assert_error(*http.post("/v1/clients/search", {"limit": 501}), 400, "invalid_input")
    assert_error(*http.get("/v1/clients?cursor=forged"), 400, None)
    status, members = http.get(world.fill("/v1/lists/{list_id}/members?limit=1"))
    assert status == 200 and len(members["items"]) == 1 and members["next_cursor"]


# --- Filter language -----------------------------------------------------------------------------

DOCUMENTED_OPS = [
    ("eq", "email", "ada@example.com", 1),
    ("ne", "email", "ada@example.com", 1),
    ("in", "auto_status", ["new", "lost"], 2),
    ("not_in", "status", ["regular"], 2),
    ("contains", "tags", "vip", 2),
    ("not_contains", "tags", "vip", 0),
    ("is_set", "first_name", None, 1),
    ("is_not_set", "consent.confirmed_at", None, 2),
    ("gt", "created_at", "2000-01-01T00:00:00Z", 2),
    ("gte", "fields.visits", 3, 1),
    ("lt", "last_visit_at", "2100-01-01T00:00:00Z", 0),
    ("lte", "fields.visits", 3, 1),
    ("before", "created_at", "2000-01-01T00:00:00Z", 0),
    ("after", "created_at", "2000-01-01T00:00:00Z", 2),
    ("starts_with", "first_name", "ad", 1),
]


@pytest.mark.parametrize(
    ("op", "field_name", "value", "count"), DOCUMENTED_OPS, ids=[o[0] for o in DOCUMENTED_OPS]
)
def test_filter_language_every_documented_op(
    world: World, op: str, field_name: str, value: Any, count: int
) -> None:
    world.http.patch(world.fill("/v1/clients/{client_id}"), {"fields": {"visits": 3}})
    condition: dict[str, Any] = {"field": field_name, "op": op}
    if value is not None:
        condition["value"] = value
    status, body = world.http.post("/v1/clients/search", {"filter": condition})
    assert status == 200, body
    assert body["count"] == count, body


def test_filter_language_nodes_and_fields_of_the_example(world: World) -> None:
    example = {
        "all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {
                "any": [
                    {"field": "status", "op": "eq", "value": "regular"},
                    {"field": "auto_status", "op": "in", "value": ["lapsing", "lost", "new"]},
                ]
            },
            {"not": {"field": "consent.confirmed_at", "op": "is_set"}},
        ]
    }
    status, body = world.http.post("/v1/clients/search", {"filter": example})
    assert status == 200 and body["count"] == 2, body
    for name in ("email", "first_name", "last_name", "phone", "language", "status", "fields.hair"):
        status, body = world.http.post(
            "/v1/clients/search",
            {
                "filter": {"field": name, "op": "is_not_set"}
                if name != "email"
                else {"field": name, "op": "starts_with", "value": "a"}
            },
        )
        assert status == 200, (name, body)
    for name, op, value in (
        ("consent.state", "eq", "unknown"),
        ("suppressed", "eq", False),
        ("created_at", "before", "2100-01-01T00:00:00Z"),
        ("last_visit_at", "is_not_set", None),
    ):
        condition = {"field": name, "op": op, **({"value": value} if value is not None else {})}
        status, body = world.http.post("/v1/clients/search", {"filter": condition})
        assert status == 200 and body["count"] == 2, (name, body)
    status, body = world.http.post("/v1/clients/search", {"filter": {"field": "shoe_size", "op": "eq"}})
    assert status == 400 and "shoe_size" in str(body["error"]), body
    status, body = world.http.post("/v1/clients/search", {"filter": {"field": "email", "op": "sounds_like"}})
    assert status == 400 and "sounds_like" in str(body["error"]), body


# --- Clients: import, bulk tags, jobs ------------------------------------------------------------


def test_import_csv_counts_and_1_based_row_errors(world: World) -> None:
    http = world.http
    csv = b"email,first_name,tags\nada@example.com,Ada L,vip\nnew@example.com,New,\nnot-an-address,X,\n"
    status, body = http.post("/v1/clients/import", raw=csv, headers={"Content-Type": "text/csv"})
    assert status == 200, body
    assert_shape(body, IMPORT)
    # Ada exists (skipped without update_existing); the third data row holds a bad address.
    assert (body["created"], body["updated"], body["skipped"]) == (1, 0, 1), body
    assert [error["row"] for error in body["errors"]] == [3], body
    for error in body["errors"]:
        assert_shape(error, {"row": Int, "code": Str, "message": Str}, "errors[]")
    status, body = http.post(
        "/v1/clients/import?update_existing=true", raw=csv, headers={"Content-Type": "text/csv"}
    )
    # Ada's name changes; the row imported a moment ago holds nothing new.
    assert status == 200 and (body["created"], body["updated"], body["skipped"]) == (0, 1, 1), body


def test_bulk_tags_large_selection_is_202_job_and_jobs_route(world: World, tune: Any) -> None:
    from tests.integration.conftest import drain_jobs

    tune(bulk_sync_limit=1)
    status, body = world.http.post(
        "/v1/clients/bulk-tags",
        {"selection": {"filter": {"field": "tags", "op": "contains", "value": "vip"}}, "add": ["gold"]},
    )
    assert status == 202, body
    assert_shape(body, {"job_id": Str})
    drain_jobs(world.http.client)
    status, job = world.http.get(f"/v1/jobs/{body['job_id']}")
    assert status == 200, job
    assert_shape(job, JOB)
    assert job["status"] == "done" and job["done"] == job["total"] == 2, job


# --- Campaigns -----------------------------------------------------------------------------------


def test_send_409_counts_only_the_reachable_non_consented(world: World) -> None:
    http = world.http
    for email, granted in (("yes@example.com", True), ("no@example.com", False)):
        client_id = new_client(http, email, tags=["vip"])
        assert http.put(f"/v1/clients/{client_id}/consent", {"granted": granted})[0] == 200
    status, body = http.post(
        world.fill("/v1/campaigns/{campaign_id}/send"), {"acknowledge_non_consented": False}
    )
    assert_error(status, body, 409, "non_consented_recipients")
    assert body["error"]["details"]["count"] == 2, body  # Ada and Bob: unknown; "no" is denied


def test_send_without_acknowledgement_when_consent_only_or_reactivation(world: World) -> None:
    http = world.http
    assert http.patch("/v1/account/settings", {"consent_only_campaigns": True})[0] == 200
    status, body = http.post(world.fill("/v1/campaigns/{campaign_id}/send"), {})
    assert status == 202 and body["status"] == "sending", body


def test_send_by_a_suspended_account_is_423_account_suspended(world: World) -> None:
    from chalicelib.services.suspension import suspend

    suspend(get_deps(), world.ids["account_id"], "complaint_rate")
    status, body = world.http.post(
        world.fill("/v1/campaigns/{campaign_id}/send"), {"acknowledge_non_consented": True}
    )
    assert_error(status, body, 423, "account_suspended")
    _, me = world.http.get("/v1/account")
    assert me["status"] == "suspended"
    assert_shape(me["suspension"], {"reason": Str, "at": "iso"}, "suspension")
    status, me = world.http.post(world.fill("/v1/accounts/{account_id}/reinstate"), headers=OPERATOR)
    assert status == 200 and me["status"] == "active" and me["suspension"] is None, me


def test_pause_resume_cancel(world: World) -> None:
    http = world.http
    status, body = http.post(
        world.fill("/v1/campaigns/{campaign_id}/send"), {"acknowledge_non_consented": True}
    )
    assert status == 202, body
    for action, expected in (("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")):
        status, body = http.post(world.fill(f"/v1/campaigns/{{campaign_id}}/{action}"))
        assert status == 200, (action, body)
        assert_shape(body, CAMPAIGN)
        assert body["status"] == expected and body["status"] in CAMPAIGN_STATUSES, (action, body)


# --- Reactivation, segmentation and the public pages, end to end ---------------------------------


@pytest.fixture
def sent_reactivation(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, Any]]:
    from tests.integration.sending_support import drain, simulated

    verify_sender(SENDER)
    with simulated() as (time, queue):
        status, campaign = world.http.post(
            "/v1/campaigns",
            {
                "name": "Still there?",
                "kind": "reactivation",
                "audience": {"tag": "vip"},
                "terms_url": TERMS,
                "legitimate_interest_url": INTEREST,
                "wait_days": 2,
            },
        )
        assert status == 201, campaign
        world.ids["reactivation_id"] = campaign["campaign_id"]
        status, body = world.http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {})
        assert status == 202 and body["status"] == "sending", body  # reactivation: no acknowledgement
        drain(world.http.client, queue)
        yield world, time


def _mails() -> dict[str, Any]:
    from tests.integration.sending_support import parsed, sent_messages

    return {str(parsed(m)["To"]).lower(): parsed(m) for m in sent_messages()}


def test_reactivation_mail_ctas_pages_and_segment(sent_reactivation: tuple[World, Any]) -> None:
    world, _time = sent_reactivation
    http = world.http
    mails = _mails()
    assert set(mails) == {"ada@example.com", "bob@example.com"}
    ctas: dict[str, dict[str, str]] = {}
    for address, mail in mails.items():
        html = mail.get_body(preferencelist=("html",)).get_content()
        ctas[address] = {
            cta: urlsplit(href).path
            for href, cta in re.findall(r'<a href="([^"]+)" data-cta="([a-z]+)"', html)
        }
        assert {"confirm", "decline", "unsubscribe"} <= set(ctas[address]), html
        for path in ctas[address].values():
            assert path.startswith("/p/"), path
        assert mail["List-Unsubscribe"].startswith("<https://"), mail["List-Unsubscribe"]

    _, campaign = http.get(world.fill("/v1/campaigns/{reactivation_id}"))
    assert campaign["status"] == "awaiting_responses" and ISO_UTC.match(campaign["segment_after"]), campaign

    # GET of a CTA link → 200 page with a POST form; POST → 200 thank-you page.
    confirm = ctas["ada@example.com"]["confirm"]
    response = http.client.http.get(confirm)
    page = response.body.decode()
    assert response.status_code == 200 and '<form method="post"' in page and "<button" in page
    assert response.headers["Content-Type"].startswith("text/html")
    response = http.client.http.post(confirm, headers=FORM, body=b"")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    _, client = http.get(world.fill("/v1/clients/{client_id}"))
    assert client["consent"]["state"] == "granted", client
    _, consent = http.get(world.fill("/v1/clients/{client_id}/consent"))
    [choice] = [e for e in consent["events"] if e["type"] == "granted"]
    assert choice["source"] == "reactivation_campaign", choice
    assert choice["campaign_id"] == world.ids["reactivation_id"], choice
    assert (choice["terms_url"], choice["legitimate_interest_url"]) == (TERMS, INTEREST), choice
    # A script's bare POST (no body, no Content-Type) is the same choice.
    response = http.client.http.post(ctas["bob@example.com"]["decline"])
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")

    # Invalid/tampered token → 404 page, same look.
    tampered = confirm[:-3] + ("aaa" if not confirm.endswith("aaa") else "bbb")
    for response in (http.client.http.get(tampered), http.client.http.post(tampered, headers=FORM, body=b"")):
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")

    # 409 wait_not_elapsed with details.segment_after; {force: true} → 200 {list_id, size}.
    status, body = http.post(world.fill("/v1/campaigns/{reactivation_id}/segment"), {})
    assert_error(status, body, 409, "wait_not_elapsed")
    assert body["error"]["details"]["segment_after"] == campaign["segment_after"], body
    status, body = http.post(world.fill("/v1/campaigns/{reactivation_id}/segment"), {"force": True})
    assert status == 200, body
    assert_shape(body, {"list_id": Str, "size": Int})
    _, campaign = http.get(world.fill("/v1/campaigns/{reactivation_id}"))
    assert campaign["status"] == "segmented" and campaign["segment_list_id"] == body["list_id"], campaign
    status, report = http.get(world.fill("/v1/campaigns/{reactivation_id}/report"))
    assert status == 200, report
    assert_shape(report, REPORT)
    assert (report["confirmed"], report["declined"]) == (1, 1), report


def test_unsubscribe_one_click_post_and_page(sent_reactivation: tuple[World, Any]) -> None:
    world, _time = sent_reactivation
    http = world.http
    mails = _mails()
    one_click = urlsplit(mails["ada@example.com"]["List-Unsubscribe"].strip("<>")).path
    assert one_click.startswith("/p/"), one_click
    # Mail providers send it form-encoded; a client that names no Content-Type is served too.
    for headers in (FORM, {}):
        response = http.client.http.post(one_click, headers=headers, body=b"List-Unsubscribe=One-Click")
        assert response.status_code == 200, (headers, response.body)
    _, client = http.get(world.fill("/v1/clients/{client_id}"))
    assert client["suppressed"] is True, client
    _, consent = http.get(world.fill("/v1/clients/{client_id}/consent"))
    unsubscribed = [e["source"] for e in consent["events"] if e["type"] == "unsubscribed"]
    assert unsubscribed and set(unsubscribed) == {"one_click_unsubscribe"}, consent

    html = mails["bob@example.com"].get_body(preferencelist=("html",)).get_content()
    [link] = [
        href
        for href, cta in re.findall(r'<a href="([^"]+)" data-cta="([a-z]+)"', html)
        if cta == "unsubscribe"
    ]
    response = http.client.http.get(urlsplit(link).path)
    assert response.status_code == 200 and '<form method="post"' in response.body.decode()
    response = http.client.http.post(
        urlsplit(link).path[:-2] + "xx", headers=FORM, body=b"List-Unsubscribe=One-Click"
    )
    assert response.status_code == 404


def test_intake_form_and_double_opt_in_link(world: World, account: dict[str, Any]) -> None:
    from urllib.parse import urlencode

    from chalicelib.mail.outbox import parse_raw_message
    from tests.integration.conftest import sent_messages

    verify_sender(SENDER)
    http = world.http
    assert http.patch("/v1/account/settings", {"terms_url": TERMS})[0] == 200
    path = f"/p/forms/{account['public_slug']}"
    response = http.client.http.get(path)
    assert response.status_code == 200 and "<form" in response.body.decode()
    assert response.headers["Content-Type"].startswith("text/html")
    fields = {"email": "marco@example.com", "first_name": "Marco", "consent": "yes"}
    response = http.client.http.post(path, headers=FORM, body=urlencode(fields).encode())
    assert response.status_code == 200, response.body
    assert http.client.http.get("/p/forms/no-such-business").status_code == 404

    [message] = sent_messages()
    mail = parse_raw_message(message.id, message.raw_data)
    [link] = [link.href for link in mail.links if link.cta == "confirm"]  # data-cta="confirm"
    confirm = urlsplit(link).path
    assert confirm.startswith("/p/")
    response = http.client.http.get(confirm)
    assert response.status_code == 200 and '<form method="post"' in response.body.decode()
    response = http.client.http.post(confirm, headers=FORM, body=b"")
    assert response.status_code == 200


# --- General: another account's resources are indistinguishable from absent ---------------------

FOREIGN = [
    ("GET", "/v1/clients/{id}", None),
    ("PATCH", "/v1/clients/{id}", {"first_name": "X"}),
    ("DELETE", "/v1/clients/{id}", None),
    ("GET", "/v1/clients/{id}/export", None),
    ("GET", "/v1/clients/{id}/consent", None),
    ("PUT", "/v1/clients/{id}/consent", {"granted": True}),
    ("GET", "/v1/lists/{id}", None),
    ("DELETE", "/v1/lists/{id}", None),
    ("GET", "/v1/lists/{id}/members", None),
    ("GET", "/v1/campaigns/{id}", None),
    ("POST", "/v1/campaigns/{id}/preview", None),
    ("POST", "/v1/campaigns/{id}/send", {"acknowledge_non_consented": True}),
    ("POST", "/v1/campaigns/{id}/pause", None),
    ("POST", "/v1/campaigns/{id}/resume", None),
    ("POST", "/v1/campaigns/{id}/cancel", None),
    ("GET", "/v1/campaigns/{id}/report", None),
    ("POST", "/v1/campaigns/{id}/segment", {"force": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN, ids=[f"{m} {p}" for m, p, _ in FOREIGN])
def test_general_another_accounts_resource_is_404_like_an_absent_one(
    world: World, method: str, path: str, body: Any
) -> None:
    kind = "client" if "/clients/" in path else "list" if "/lists/" in path else "campaign"
    absent = {"client": "cl_01ABSENT", "list": "lst_01ABSENT", "campaign": "cmp_01ABSENT"}[kind]
    answers = []
    for target in (world.ids[f"foreign_{kind}_id"], absent):
        status, answer = world.http.call(method, path.replace("{id}", target), body)
        assert_error(status, answer, 404, None)
        answers.append({k: v for k, v in answer["error"].items() if k != "message"})
    assert answers[0] == answers[1], answers


def test_general_every_account_route_needs_a_key_and_operator_routes_the_operator_key(world: World) -> None:
    from app import app

    checked = 0
    for path, entries in app.routes.items():
        if not path.startswith("/v1/"):
            continue
        concrete = re.sub(r"\{[a-z_]+\}", "x1", path)
        for method in entries:
            for authorization in ("", "Bearer not-a-key", "Basic dXNlcjpwYXNz"):
                status, body = world.http.call(method, concrete, {}, headers={"Authorization": authorization})
                assert_error(status, body, 401, None)
            if path.startswith("/v1/accounts"):
                status, body = world.http.call(method, concrete, {})  # an account key
                assert_error(status, body, 403, None)
            checked += 1
    assert checked >= 30, checked


def test_reactivation_takes_the_urls_from_settings(world: World) -> None:
    http = world.http
    body = {"name": "Still there?", "kind": "reactivation", "audience": {"tag": "vip"}}
    assert_error(*http.post("/v1/campaigns", body), 400, None)
    settings = {"terms_url": TERMS, "legitimate_interest_url": INTEREST}
    assert http.patch("/v1/account/settings", settings)[0] == 200
    status, campaign = http.post("/v1/campaigns", body)
    assert status == 201 and campaign["status"] == "draft", campaign


FIELD_VALUES = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+420777123456",
    "language": "cs",
    "tags": "vip",
    "status": "regular",
    "auto_status": "new",
    "consent.state": "unknown",
    "consent.confirmed_at": "2026-11-22T10:00:00Z",
    "suppressed": False,
    "created_at": "2026-11-22T10:00:00Z",
    "last_visit_at": "2026-11-22T10:00:00Z",
    "fields.hair": "long",
}


@pytest.mark.parametrize("field_name", list(FIELD_VALUES))
def test_filter_language_equality_and_presence_apply_to_every_documented_field(
    world: World, field_name: str
) -> None:
    value = FIELD_VALUES[field_name]
    for op, operand in (("eq", value), ("ne", value), ("in", [value]), ("not_in", [value])):
        condition = {"field": field_name, "op": op, "value": operand}
        status, body = world.http.post("/v1/clients/search", {"filter": condition})
        assert status == 200, (condition, body)
    for op in ("is_set", "is_not_set"):
        status, body = world.http.post("/v1/clients/search", {"filter": {"field": field_name, "op": op}})
        assert status == 200, (field_name, op, body)


def test_standard_mail_unsubscribe_anchor_and_one_click_header(world: World) -> None:
    from tests.integration.sending_support import drain, simulated

    verify_sender(SENDER)
    with simulated() as (_time, queue):
        status, body = world.http.post(
            world.fill("/v1/campaigns/{campaign_id}/send"), {"acknowledge_non_consented": True}
        )
        assert status == 202 and body["status"] == "sending", body
        drain(world.http.client, queue)
    mails = _mails()
    assert set(mails) == {"ada@example.com", "bob@example.com"}
    for mail in mails.values():
        html = mail.get_body(preferencelist=("html",)).get_content()
        ctas = dict((cta, href) for href, cta in re.findall(r'<a href="([^"]+)" data-cta="([a-z]+)"', html))
        assert urlsplit(ctas["unsubscribe"]).path.startswith("/p/"), html
        assert mail["List-Unsubscribe"].startswith("<https://"), mail["List-Unsubscribe"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    status, campaign = world.http.get(world.fill("/v1/campaigns/{campaign_id}"))
    assert campaign["status"] == "sent", campaign
    status, report = world.http.get(world.fill("/v1/campaigns/{campaign_id}/report"))
    assert status == 200 and report["sent"] == 2 and report["recipients"] == 2, report
