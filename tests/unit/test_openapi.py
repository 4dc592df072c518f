"""The OpenAPI document is valid, and describes exactly the app's /v1 routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "chalicelib" / "openapi" / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def app_routes() -> set[tuple[str, str]]:
    from app import app

    return {
        (path, method.lower())
        for path, entries in app.routes.items()
        if path.startswith("/v1/")
        for method in entries
    }


def documented_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}


def test_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"].startswith("3.")


def test_the_json_the_lambda_reads_is_the_yaml_document(doc: dict[str, Any]) -> None:
    """``openapi.json`` (read at run time, no YAML parser in the Lambda) equals the YAML source,
    byte for byte as ``bench/openapi_build.py --json`` writes it: regenerate it after any edit."""
    import json

    from bench.openapi_build import json_text

    packaged = DOCUMENT.with_suffix(".json").read_text(encoding="utf-8")
    assert json.loads(packaged) == doc, "openapi.json is stale: python bench/openapi_build.py --json"
    assert packaged == json_text(doc)


def test_docs_copy_is_the_packaged_document() -> None:
    assert (ROOT / "docs" / "openapi.yaml").read_bytes() == DOCUMENT.read_bytes()


def test_every_app_route_is_documented(doc: dict[str, Any]) -> None:
    assert len(app_routes()) >= 30
    assert app_routes() - documented_routes(doc) == set()


def test_every_documented_route_exists(doc: dict[str, Any]) -> None:
    assert documented_routes(doc) - app_routes() == set()
    assert all(path.startswith("/v1/") for path in doc["paths"])


def test_operator_routes_are_marked_and_use_the_operator_key(doc: dict[str, Any]) -> None:
    operator = {
        (path, method)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS and op.get("x-permesso-operator")
    }
    assert operator == {
        ("/v1/accounts", "post"),
        ("/v1/accounts/{account_id}/reinstate", "post"),
        ("/v1/accounts/{account_id}/limits", "put"),
    }
    for path, method in operator:
        assert doc["paths"][path][method]["security"] == [{"operatorKey": []}]
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The account's API key",
    }


def test_every_operation_documents_its_errors(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "401" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= codes, (method, path)
            for code in codes - {"200", "201", "202", "204"}:
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            ok = [c for c in codes if c.startswith("2")]
            assert ok, (method, path)


def test_path_parameters_match_the_template(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, path


def test_request_schemas_follow_the_models(doc: dict[str, Any]) -> None:
    """A request model changed since the document was written → the document is stale."""
    from chalicelib.domain.account_settings import AccountSettingsPatch
    from chalicelib.domain.client_profile import ClientInput, ClientPatch
    from chalicelib.services import accounts, bulk_tags, campaigns, consent, lists, previews, segmentation
    from chalicelib.services.search import SearchRequest

    models = [
        campaigns.CampaignPatch,
        previews.RenderInput,
        previews.CampaignTestInput,
        accounts.NewAccount,
        AccountSettingsPatch,
        ClientInput,
        ClientPatch,
        consent.StaffConsentInput,
        SearchRequest,
        bulk_tags.BulkTagsRequest,
        lists.NewList,
        campaigns.NewCampaign,
        campaigns.SendInput,
        segmentation.SegmentInput,
    ]
    components = doc["components"]["schemas"]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            assert components[name] == sub, name
        assert components[model.__name__] == schema, model.__name__


def test_docs_page_escapes_what_the_document_says(doc: dict[str, Any]) -> None:
    import copy

    from chalicelib.api.openapi_docs import operations, render_page

    evil = "<img src=x onerror=alert(1)>"
    tampered = copy.deepcopy(doc)
    tampered["info"]["description"] = evil
    tampered["paths"]["/v1/account"]["get"]["summary"] = evil
    tampered["components"]["schemas"]["Client"]["description"] = evil
    page = render_page(tampered)
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert len(operations(doc)) == sum(len(item) for item in doc["paths"].values())
    for operation in operations(doc):
        assert f'id="{operation["id"]}"' in page


def test_committed_document_is_what_the_builder_writes(doc: dict[str, Any]) -> None:
    """Edit ``bench/openapi_build.py`` and regenerate; never let the two drift apart."""
    from bench.openapi_build import build

    assert build() == doc


def test_cold_start_does_not_load_swagger_ui_or_flask() -> None:
    """The docs routes locate Swagger UI's files lazily; ``flask_swagger_ui`` (and the Flask
    its ``__init__`` imports) is never imported, at cold start or when serving."""
    import subprocess
    import sys

    probe = (
        "import sys, app\n"
        "from chalicelib.api.openapi_docs import asset_text, swagger_page\n"
        "loaded_at_start = sorted(m for m in ('flask', 'flask_swagger_ui') if m in sys.modules)\n"
        "swagger_page(); asset_text('swagger-ui-bundle.js')\n"
        "print(loaded_at_start, sorted(m for m in ('flask', 'flask_swagger_ui') if m in sys.modules))\n"
    )
    result = subprocess.run(  # nosec B603 — our own interpreter and code
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[] []"
