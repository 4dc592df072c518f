"""Real responses conform to the schemas the OpenAPI document gives them; the document is served."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.integration.conftest import OPERATOR, Http, create_account

DOCUMENT = Path(__file__).resolve().parents[2] / "chalicelib" / "openapi" / "openapi.yaml"


@lru_cache(maxsize=1)
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def conforms(path: str, method: str, status: int, body: Any) -> None:
    """Validate ``body`` against the documented response of (path, method, status)."""
    responses = doc()["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} → {status} is not documented"
    content = responses[str(status)].get("content")
    if content is None:
        assert body is None, body
        return
    schema = {**content["application/json"]["schema"], "components": doc()["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_account_routes_conform(api: Any) -> None:
    status, created = Http(api, None).post(
        "/v1/accounts", {"name": "Salon Bella", "sender_email": "hello@salon.example"}, headers=OPERATOR
    )
    conforms("/v1/accounts", "POST", status, created)
    http = Http(api, created["api_key"])
    conforms("/v1/account", "GET", *http.get("/v1/account"))
    conforms(
        "/v1/account/settings", "PATCH", *http.patch("/v1/account/settings", {"reactivation_wait_days": 3})
    )
    status, body = Http(api, None).post("/v1/accounts", {"name": "x"}, headers=OPERATOR)
    assert status == 400
    conforms("/v1/accounts", "POST", status, body)
    status, body = http.post("/v1/accounts", {"name": "x", "sender_email": "a@b.example"})
    assert status == 403
    conforms("/v1/accounts", "POST", status, body)
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": "Copy", "sender_email": "x@salon.example"}, headers=OPERATOR
    )
    assert status == 409 and body["error"]["code"] == "domain_taken"
    conforms("/v1/accounts", "POST", status, body)
    limits = {"send_rate_per_second": 10, "hourly_send_cap": 5000, "daily_send_cap": 20000}
    path = f"/v1/accounts/{created['account_id']}/limits"
    conforms("/v1/accounts/{account_id}/limits", "PUT", *Http(api, None).put(path, limits, headers=OPERATOR))
    status, body = http.patch("/v1/account/settings", {"send_rate_per_second": 11})
    assert status == 400 and body["error"]["code"] == "above_account_limit"
    conforms("/v1/account/settings", "PATCH", status, body)


def test_sender_domain_routes_conform(http: Http) -> None:
    status, body = http.post("/v1/sender-domains", {"domain": "news.salon.example"})
    assert status == 201
    conforms("/v1/sender-domains", "POST", status, body)
    conforms("/v1/sender-domains", "POST", *http.post("/v1/sender-domains", {"domain": "news.salon.example"}))
    conforms("/v1/sender-domains", "GET", *http.get("/v1/sender-domains"))
    conforms("/v1/sender-domains/{domain}", "GET", *http.get("/v1/sender-domains/news.salon.example"))
    conforms("/v1/sender-domains/{domain}", "DELETE", *http.delete("/v1/sender-domains/news.salon.example"))
    status, body = http.delete("/v1/sender-domains/salon.example")
    assert status == 409
    conforms("/v1/sender-domains/{domain}", "DELETE", status, body)
    conforms("/v1/sender-domains/{domain}", "GET", *http.get("/v1/sender-domains/nope.example"))


def test_client_routes_conform(http: Http) -> None:
    status, client = http.post(
        "/v1/clients",
        {"email": "ada@example.com", "first_name": "Ada", "tags": ["vip"], "fields": {"pet": "cat"}},
    )
    assert status == 201
    conforms("/v1/clients", "POST", status, client)
    client_path = f"/v1/clients/{client['client_id']}"
    conforms("/v1/clients/{client_id}", "GET", *http.get(client_path))
    conforms("/v1/clients/{client_id}", "PATCH", *http.patch(client_path, {"last_name": "Lovelace"}))
    conforms("/v1/clients", "GET", *http.get("/v1/clients?limit=10"))
    status, found = http.post(
        "/v1/clients/search", {"filter": {"field": "tags", "op": "contains", "value": "vip"}}
    )
    assert status == 200 and found["count"] == 1
    conforms("/v1/clients/search", "POST", status, found)
    conforms("/v1/clients/{client_id}/consent", "PUT", *http.put(f"{client_path}/consent", {"granted": True}))
    conforms("/v1/clients/{client_id}/consent", "GET", *http.get(f"{client_path}/consent"))
    conforms("/v1/clients/{client_id}/export", "GET", *http.get(f"{client_path}/export"))
    conforms(
        "/v1/clients/bulk-tags",
        "POST",
        *http.post(
            "/v1/clients/bulk-tags", {"selection": {"client_ids": [client["client_id"]]}, "add": ["x"]}
        ),
    )
    status, body = http.post(
        "/v1/clients/import", raw=b"email\nbob@example.com\n", headers={"Content-Type": "text/csv"}
    )
    assert status == 200
    conforms("/v1/clients/import", "POST", status, body)
    conforms("/v1/clients/{client_id}", "DELETE", *http.delete(client_path))


def test_a_large_import_and_its_job_conform(api: Any, http: Http, tune: Any) -> None:
    from tests.integration.conftest import drain_jobs

    tune(import_inline_rows=1)
    status, body = http.post(
        "/v1/clients/import",
        raw=b"email\nbob@example.com\nnot-an-address\neva@example.com\n",
        headers={"Content-Type": "text/csv"},
    )
    assert status == 202 and body["total"] == 3 and body["done"] == 1, body
    conforms("/v1/clients/import", "POST", status, body)
    drain_jobs(api)
    status, job = http.get(f"/v1/jobs/{body['job_id']}")
    assert job["status"] == "done" and job["result"]["created"] == 2, job
    conforms("/v1/jobs/{job_id}", "GET", status, job)


def test_list_and_campaign_routes_conform(http: Http) -> None:
    http.post("/v1/clients", {"email": "ada@example.com", "tags": ["vip"]})
    status, lst = http.post("/v1/lists", {"name": "VIP", "source": {"tag": "vip"}})
    conforms("/v1/lists", "POST", status, lst)
    conforms("/v1/lists", "GET", *http.get("/v1/lists"))
    conforms("/v1/lists/{list_id}", "GET", *http.get(f"/v1/lists/{lst['list_id']}"))
    conforms("/v1/lists/{list_id}/members", "GET", *http.get(f"/v1/lists/{lst['list_id']}/members"))
    status, campaign = http.post(
        "/v1/campaigns",
        {"name": "Spring", "kind": "standard", "subject": "Hello", "text": "Hi", "audience": {"tag": "vip"}},
    )
    assert status == 201, campaign
    conforms("/v1/campaigns", "POST", status, campaign)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    conforms("/v1/campaigns", "GET", *http.get("/v1/campaigns"))
    conforms("/v1/campaigns/{campaign_id}", "GET", *http.get(path))
    conforms("/v1/campaigns/{campaign_id}/preview", "POST", *http.post(f"{path}/preview"))
    conforms("/v1/campaigns/{campaign_id}/report", "GET", *http.get(f"{path}/report"))
    status, refused = http.post(f"{path}/send", {})
    assert status == 409 and refused["error"]["code"] == "non_consented_recipients"
    conforms("/v1/campaigns/{campaign_id}/send", "POST", status, refused)
    conforms("/v1/campaigns/{campaign_id}/cancel", "POST", *http.post(f"{path}/cancel"))
    conforms("/v1/lists/{list_id}", "DELETE", *http.delete(f"/v1/lists/{lst['list_id']}"))


@pytest.mark.parametrize(
    ("method", "path", "template", "body", "headers", "expected"),
    [
        ("POST", "/v1/clients", "/v1/clients", {"email": "not an e-mail"}, None, 400),
        ("POST", "/v1/clients", "/v1/clients", None, {"Authorization": "Bearer nope"}, 401),
        ("GET", "/v1/clients/missing", "/v1/clients/{client_id}", None, None, 404),
        ("POST", "/v1/clients", "/v1/clients", {"email": "a@b.example", "x": "y" * 300_000}, None, 413),
        (
            "POST",
            "/v1/clients/search",
            "/v1/clients/search",
            {"filter": {"field": "nope", "op": "eq"}},
            None,
            400,
        ),
        ("GET", "/v1/jobs/missing", "/v1/jobs/{job_id}", None, None, 404),
        ("POST", "/v1/clients", "/v1/clients", {"email": "a@b.example"}, {"Content-Type": "text/plain"}, 415),
        ("POST", "/v1/clients/import", "/v1/clients/import", {"email": "a"}, None, 415),
        ("POST", "/v1/accounts", "/v1/accounts", {"name": "x", "sender_email": "a@b.example"}, None, 403),
    ],
)
def test_error_bodies_conform(
    http: Http,
    method: str,
    path: str,
    template: str,
    body: Any,
    headers: dict[str, str] | None,
    expected: int,
) -> None:
    status, answer = http.call(method, path, body, headers=headers)
    assert status == expected, answer
    conforms(template, method, status, answer)


def test_duplicate_email_conforms(http: Http) -> None:
    http.post("/v1/clients", {"email": "ada@example.com"})
    status, body = http.post("/v1/clients", {"email": "ada@example.com"})
    assert status == 409 and body["error"]["code"] == "duplicate_email"
    conforms("/v1/clients", "POST", status, body)


def test_the_document_is_served(api: Any) -> None:
    response = api.http.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/yaml"
    assert yaml.safe_load(response.body) == doc()


def test_the_document_is_served_as_json_too(api: Any) -> None:
    import json

    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == doc()


def test_the_plain_reference_lists_every_operation(api: Any) -> None:
    response = api.http.get("/docs/reference")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.body.decode()
    assert "<script" not in page
    for path, item in doc()["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in page, (method, path)
            assert path in page
    assert "operator" in page
    # Relative to /docs/reference (and to any API Gateway stage prefix before it).
    assert 'href="../openapi.yaml"' in page
    assert 'href="../docs"' in page


def test_the_docs_page_is_swagger_ui_from_this_origin(api: Any) -> None:
    from chalicelib.api.openapi_docs import ASSETS

    response = api.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "connect-src 'self';" in csp
    assert "unsafe" not in csp
    page = response.body.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 2
    assert all(body.strip() == "" and 'src="docs/assets/' in attrs for attrs, body in scripts)
    assert "//" not in page  # no absolute or protocol-relative URL: nothing from another host
    assert 'data-document="openapi.yaml"' in page
    assert 'href="docs/reference"' in page
    linked = set(re.findall(r'(?:src|href)="docs/assets/([^"?]+)\?v=[0-9.]+"', page))
    assert linked == set(ASSETS)
    for name in linked:
        served = api.http.get(f"/docs/assets/{name}")
        assert served.status_code == 200, name
        assert served.headers["Content-Type"] == ASSETS[name][1]
        assert served.headers["Cache-Control"] == "public, max-age=86400"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert len(served.body) > 100, name


def test_swagger_ui_is_version_5_which_reads_openapi_3_1(api: Any) -> None:
    """Swagger UI 4 refuses an ``openapi: 3.1.x`` document; the pinned package must ship 5+."""
    from chalicelib.api.openapi_docs import swagger_ui_version

    assert doc()["openapi"].startswith("3.1")
    assert int(swagger_ui_version().split(".")[0]) >= 5
    page = api.http.get("/docs").body.decode()
    assert f"?v={swagger_ui_version()}" in page


@pytest.mark.parametrize(
    "name",
    [
        "nope.js",
        "swagger-ui.js",  # in the package, not on the list
        "swagger-ui-standalone-preset.js",
        "VERSION",
        "LICENSE",
        "__init__.py",
        "index.template.html",
        "openapi.yaml",
        "docs.html",
        "..%2Fopenapi.yaml",
        "..%2F..%2Fapp.py",
        "%2Fetc%2Fpasswd",
        "SWAGGER-UI.CSS",
        "swagger-ui.css%00",
        "x" * 300,
    ],
)
def test_an_unlisted_docs_asset_is_a_404_in_the_error_shape(api: Any, name: str) -> None:
    response = api.http.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {
        "error": {"code": "not_found", "message": "No such file of the docs page", "details": None}
    }


def test_the_assets_leave_the_lambda_as_text_within_its_response_limit() -> None:
    """API Gateway gets JS and CSS as text (no base64), each well under Lambda's 6 MB response."""
    from app import app
    from chalicelib.api.openapi_docs import ASSETS, docs_asset

    for name in ASSETS:
        proxied = docs_asset(name).to_dict(app.api.binary_types)
        assert "isBase64Encoded" not in proxied, name
        assert isinstance(proxied["body"], str)
        assert len(json.dumps(proxied).encode()) < 3 * 1024 * 1024, name


def test_an_unknown_second_account_cannot_read_docs_differently(api: Any) -> None:
    """The docs are public: no key needed, and a key changes nothing."""
    other = create_account(api, "Other", "o@other.example")
    anonymous = api.http.get("/docs").body
    keyed = api.http.get("/docs", headers={"Authorization": f"Bearer {other['api_key']}"}).body
    assert anonymous == keyed


def test_second_round_routes_conform(http: Http, mail_ready: None) -> None:
    """Drafts, render, test send, scheduling, tags: success and error bodies as documented."""
    http.post("/v1/clients", {"email": "ada@example.com", "tags": ["VIP"]})
    conforms("/v1/tags", "GET", *http.get("/v1/tags"))
    status, campaign = http.post(
        "/v1/campaigns", {"name": "Spring", "subject": "Hello", "text": "Hi", "selection": {"tag": "vip"}}
    )
    assert status == 201, campaign
    conforms("/v1/campaigns", "POST", status, campaign)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    conforms("/v1/campaigns/{campaign_id}", "PATCH", *http.patch(path, {"subject": "Hello again"}))
    status, body = http.patch(path, {"subject": "{{ nope }}"})
    assert status == 400
    conforms("/v1/campaigns/{campaign_id}", "PATCH", status, body)
    conforms("/v1/campaigns/{campaign_id}/render", "POST", *http.post(f"{path}/render", {}))
    status, body = http.post(f"{path}/render", {"client_id": "cl_nope"})
    assert status == 404
    conforms("/v1/campaigns/{campaign_id}/render", "POST", status, body)
    conforms("/v1/campaigns/{campaign_id}/test", "POST", *http.post(f"{path}/test", {}))
    status, copy = http.post(f"{path}/duplicate")
    assert status == 201
    conforms("/v1/campaigns/{campaign_id}/duplicate", "POST", status, copy)
    from datetime import UTC, datetime, timedelta

    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT09:00:00Z")
    status, scheduled = http.post(f"{path}/send", {"send_at": later, "acknowledge_non_consented": True})
    assert status == 202 and scheduled["status"] == "scheduled", scheduled
    conforms("/v1/campaigns/{campaign_id}/send", "POST", status, scheduled)
    status, body = http.delete(path)
    assert status == 409
    conforms("/v1/campaigns/{campaign_id}", "DELETE", status, body)
    conforms("/v1/campaigns/{campaign_id}/cancel", "POST", *http.post(f"{path}/cancel"))
    conforms("/v1/campaigns/{campaign_id}", "DELETE", *http.delete(path))
    conforms(
        "/v1/campaigns/{campaign_id}/report", "GET", *http.get(f"/v1/campaigns/{copy['campaign_id']}/report")
    )


def test_api_key_and_user_routes_conform(api: Any, http: Http) -> None:
    status, created = http.post("/v1/api-keys", {"name": "Booking system"})
    conforms("/v1/api-keys", "POST", status, created)
    conforms("/v1/api-keys", "GET", *http.get("/v1/api-keys?include_revoked=true"))
    conforms("/v1/api-keys/{key_id}", "DELETE", *http.delete(f"/v1/api-keys/{created['key_id']}"))
    conforms("/v1/api-keys/{key_id}", "DELETE", *http.delete(f"/v1/api-keys/{created['key_id']}"))  # 404
    conforms("/v1/api-keys", "POST", *http.post("/v1/api-keys", {"name": ""}))  # 400
    status, user = http.post("/v1/users", {"email": "staff@salon.example", "role": "owner"})
    conforms("/v1/users", "POST", status, user)
    conforms("/v1/users", "POST", *http.post("/v1/users", {"email": "staff@salon.example"}))  # 409
    conforms("/v1/users", "GET", *http.get("/v1/users"))
    path = f"/v1/users/{user['user_id']}"
    conforms("/v1/users/{user_id}", "GET", *http.get(path))
    conforms("/v1/users/{user_id}/invitation", "POST", *http.post(f"{path}/invitation"))
    status, body = http.patch(path, {"role": "staff"})
    assert status == 409  # the account's only owner
    conforms("/v1/users/{user_id}", "PATCH", status, body)
    conforms("/v1/users/{user_id}", "DELETE", *http.delete(path))  # 409 too
    status, body = Http(api, "pm_" + "Z" * 43).get("/v1/users")
    conforms("/v1/users", "GET", status, body)
