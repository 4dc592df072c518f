"""Security review: every text a person types that can reach an e-mail header or a page is
checked by one validator (``chalicelib/domain/text.py``).

- Single-line fields (names, subjects, labels, tags, custom field values) refuse control
  characters (C0, DEL, C1) and line breaks, Unicode's line and paragraph separators
  included; multi-line ones (campaign bodies, staff notes) allow tab and line breaks only.
- Names (clients, business, sender, lists, campaigns) also refuse the invisible formatting
  characters that reorder or hide text (bidirectional overrides, zero-width characters).
- Sender and business names (the From display name) refuse what looks like an address.
- An address whose local part is not ASCII is refused when it is given: SES cannot send to
  it, so it would fail at every send.

Each bad value is a 400 naming the field, stored nowhere; the good neighbours still work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.conftest import OPERATOR, Http

CONTROL = {
    "NUL": "a\x00b",
    "BEL": "a\x07b",
    "line feed": "a\nb",
    "carriage return": "a\rb",
    "escape": "a\x1b[31mb",
    "DEL": "a\x7fb",
    "NEL (C1)": "a\x85b",
    "CSI (C1)": "a\x9bb",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
}
INVISIBLE = {
    "right-to-left override": "Salon\u202eallebA",
    "left-to-right mark": "Salon\u200eBella",
    "isolate": "Salon\u2067Bella\u2069",
    "zero-width space": "Sal\u200bon",
    "zero-width joiner": "Sal\u200don",
    "byte order mark": "\ufeffSalon",
    "soft hyphen": "Sal\u00adon",
    "tag character": "Salon\U000e0041",
}
ADDRESS_LIKE = {
    "an address": "support@paypal.com",
    "name and address": "PayPal <support@paypal.com>",
    "capitals and spaces": "  Support@PayPal.COM ",
    "fullwidth at sign": "support\uff20paypal.com",
}


def body_for(route: str, field: str, value: Any) -> tuple[str, str, dict[str, Any]]:
    """(method, path, body) of a request that carries ``value`` in ``field`` and is valid otherwise."""
    if route == "campaign":
        body = {"name": "c", "subject": "s", "html": "<p>x</p>", "audience": {"tag": "x"}}
        body[field] = value
        return "POST", "/v1/campaigns", body
    if route == "campaign audience":
        return (
            "POST",
            "/v1/campaigns",
            {"name": "c", "subject": "s", "html": "<p>x</p>", "audience": {"tag": value}},
        )
    if route == "list":
        body = {"name": "l", "source": {"tag": "x"}}
        if field == "name":
            body["name"] = value
        else:
            body["source"] = {"tag": value}
        return "POST", "/v1/lists", body
    if route == "client":
        if field.startswith("fields."):
            return "POST", "/v1/clients", {"email": "x@example.com", "fields": {field[7:]: value}}
        if field == "tags":
            return "POST", "/v1/clients", {"email": "x@example.com", "tags": [value]}
        return "POST", "/v1/clients", {"email": "x@example.com", field: value}
    if route == "settings":
        return "PATCH", "/v1/account/settings", {field: value}
    if route == "api key":
        return "POST", "/v1/api-keys", {"name": value}
    if route == "bulk tags":
        return "POST", "/v1/clients/bulk-tags", {"selection": {"client_ids": ["cl_none"]}, field: [value]}
    raise AssertionError(route)


SINGLE_LINE_FIELDS = [
    ("api key", "name"),
    ("campaign", "name"),
    ("campaign", "subject"),
    ("campaign audience", "audience.tag"),
    ("list", "name"),
    ("list", "source.tag"),
    ("client", "first_name"),
    ("client", "last_name"),
    ("client", "status"),
    ("client", "tags"),
    ("client", "fields.note"),
    ("settings", "sender_name"),
    ("bulk tags", "add"),
]
NAME_FIELDS = [
    ("api key", "name"),
    ("campaign", "name"),
    ("list", "name"),
    ("client", "first_name"),
    ("client", "last_name"),
    ("settings", "sender_name"),
]


def send(http: Http, route: str, field: str, value: Any) -> tuple[int, Any]:
    method, path, body = body_for(route, field, value)
    return http.call(method, path, body)


def refused(status: int, body: Any, field: str) -> bool:
    fields = [d["field"] for d in body["error"]["details"]] if status == 400 else []
    return status == 400 and any(f.split(".")[0] == field.split(".")[0] for f in fields)


@pytest.mark.parametrize(("route", "field"), SINGLE_LINE_FIELDS)
def test_single_line_fields_refuse_control_characters_and_line_breaks(
    http: Http, route: str, field: str
) -> None:
    for label, value in CONTROL.items():
        status, body = send(http, route, field, value)
        assert refused(status, body, field), (route, field, label, status, body)
    status, body = send(http, route, field, "Jiří & Co — ok")
    assert status in (200, 201), (route, field, body)


@pytest.mark.parametrize(("route", "field"), NAME_FIELDS)
def test_names_refuse_invisible_formatting_characters(http: Http, route: str, field: str) -> None:
    for label, value in INVISIBLE.items():
        status, body = send(http, route, field, value)
        assert refused(status, body, field), (route, field, label, status, body)


@pytest.mark.parametrize("field", ["html", "text"])
def test_campaign_bodies_allow_line_breaks_and_tabs_only(http: Http, field: str) -> None:
    for label, value in CONTROL.items():
        if label in ("line feed", "carriage return", "line separator", "paragraph separator"):
            continue
        status, body = send(http, "campaign", field, value)
        assert refused(status, body, field), (field, label, status, body)
    status, body = send(http, "campaign", field, "<p>one</p>\r\n\t<p>two</p>\n")
    assert status == 201, body


def test_staff_consent_note_allows_line_breaks_only(http: Http) -> None:
    _status, client = http.post("/v1/clients", {"email": "note@example.com"})
    path = f"/v1/clients/{client['client_id']}/consent"
    for value in ("a\x00b", "a\x1bb", "a\x85b", "a\x7fb"):
        status, body = http.put(path, {"granted": True, "note": value})
        assert refused(status, body, "note"), (value, body)
    assert http.put(path, {"granted": True, "note": "signed the paper form\r\nat the desk"})[0] == 200


@pytest.mark.parametrize("value", list(ADDRESS_LIKE.values()))
def test_sender_and_business_names_cannot_look_like_an_address(api: Any, http: Http, value: str) -> None:
    status, body = http.patch("/v1/account/settings", {"sender_name": value})
    assert refused(status, body, "sender_name"), body
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": value, "sender_email": "a@salon.example"}, headers=OPERATOR
    )
    assert refused(status, body, "name"), body
    status, body = Http(api, None).post(
        "/v1/accounts",
        {"name": "Salon", "sender_name": value, "sender_email": "a@salon.example"},
        headers=OPERATOR,
    )
    assert refused(status, body, "sender_name"), body
    # What is not an address stays a name.
    assert http.patch("/v1/account/settings", {"sender_name": "Nails@Home"})[0] == 200


def test_business_name_refuses_control_and_invisible_characters(api: Any) -> None:
    for value in (*CONTROL.values(), *INVISIBLE.values()):
        status, body = Http(api, None).post(
            "/v1/accounts", {"name": value, "sender_email": "a@salon.example"}, headers=OPERATOR
        )
        assert refused(status, body, "name"), (value, body)


ASCII_ONLY_LOCAL = ["jiří@example.com", "用户@example.com", "müller@example.de"]


@pytest.mark.parametrize("address", ASCII_ONLY_LOCAL)
def test_a_non_ascii_local_part_is_refused_when_given(api: Any, http: Http, address: str) -> None:
    status, body = http.post("/v1/clients", {"email": address})
    assert refused(status, body, "email"), body
    _status, client = http.post("/v1/clients", {"email": "ascii@example.com"})
    status, body = http.patch(f"/v1/clients/{client['client_id']}", {"email": address})
    assert refused(status, body, "email"), body
    status, body = http.patch("/v1/account/settings", {"sender_email": address})
    assert refused(status, body, "sender_email"), body
    status, body = http.post(
        "/v1/clients/import", raw=f"email\n{address}\n".encode(), headers={"Content-Type": "text/csv"}
    )
    assert status == 200 and [e["row"] for e in body["errors"]] == [1], body
    form = api.http.post(
        f"/p/forms/{http.get('/v1/account')[1]['settings'] and _slug(http)}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"email": address}).encode(),
    )
    assert form.status_code == 400
    # An internationalised domain is fine: it is sent punycoded.
    assert http.post("/v1/clients", {"email": "jiri@příklad.cz"})[0] == 201


def _slug(http: Http) -> str:
    from chalicelib.storage.models import AccountModel

    account_id = http.get("/v1/account")[1]["account_id"]
    return str(AccountModel.get(account_id).public_slug)


def test_intake_form_names_refuse_control_and_invisible_characters(api: Any, http: Http) -> None:
    slug = _slug(http)
    for value in ("Ana\x00", "Ana\u202e", "Ana\u2028x", "A\u200bna"):
        response = api.http.post(
            f"/p/forms/{slug}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode({"email": "ana@example.com", "first_name": value}).encode(),
        )
        assert response.status_code == 400, value
    assert http.get("/v1/clients")[1]["items"] == []


def test_the_document_states_the_rules(api: Any) -> None:
    import re

    import yaml

    doc = yaml.safe_load(api.http.get("/openapi.yaml").body)
    schemas: dict[str, Any] = doc["components"]["schemas"]

    def pattern(schema: str, prop: str) -> str:
        node = schemas[schema]["properties"][prop]
        node = next((n for n in node.get("anyOf", [node]) if n.get("type") == "string"), node)
        return str(node["pattern"])

    checks: list[tuple[str, str, str, Callable[[bool], bool]]] = [
        ("NewCampaign", "subject", "a\x00b", lambda ok: not ok),
        ("NewCampaign", "name", "a\u202eb", lambda ok: not ok),
        ("NewCampaign", "html", "a\nb", lambda ok: ok),
        ("NewCampaign", "html", "a\x00b", lambda ok: not ok),
        ("NewList", "name", "a\u2028b", lambda ok: not ok),
        ("ClientInput", "first_name", "a\u200bb", lambda ok: not ok),
        ("AccountSettingsPatch", "sender_name", "Bella\u200b", lambda ok: not ok),
    ]
    for schema, prop, value, expected in checks:
        ok = re.search(pattern(schema, prop), value) is not None
        assert expected(ok), (schema, prop, json.dumps(value))
