"""What a Lambda cold start imports: ``import app`` registers every route and entry point
but leaves services, storage, pydantic models, PynamoDB/botocore and templating to the
first request that needs them (docs/ARCHITECTURE.md, "Cold start")."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess  # nosec B404 — runs our own interpreter on our own code
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from chalicelib.stage import STAGE_PATTERN, current_stage, resource_name, stage_from_environ

ROOT = Path(__file__).resolve().parents[2]

# Heavy third-party packages, and our own layers below the HTTP boundary.
DEFERRED = (
    "pydantic",
    "pydantic_core",
    "pynamodb",
    "botocore.client",
    "botocore.session",
    "boto3",
    "jinja2",
    "email_validator",
    "yaml",
    "markdown_it",
    "ulid",
    "aws_xray_sdk",
    "argon2",
    "_argon2_cffi_bindings",
    "chalicelib.config",
    "chalicelib.secrets",
    "chalicelib.queue",
    "chalicelib.domain.records",
    "chalicelib.services",
    "chalicelib.storage",
    "chalicelib.mail",
)


def _modules_after(code: str, stage: str) -> list[str]:
    env = {**os.environ, "PERMESSO_STAGE": stage}
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(  # nosec B603 — our own interpreter and code
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def _deferred(loaded: list[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == d or m.startswith(d + ".") for d in DEFERRED))


@pytest.mark.parametrize("stage", ["local", "prod"])
def test_import_app_defers_services_storage_and_heavy_libraries(stage: str) -> None:
    loaded = _modules_after("import app", stage)
    assert "app" in loaded and "chalicelib.api.campaigns" in loaded  # the probe did import the app
    assert _deferred(loaded) == []


def test_a_request_imports_what_its_route_needs() -> None:
    """The deferred modules are loaded by the request, not lost: GET /v1/account answers
    (401 without a key, after importing the accounts service and its storage)."""
    loaded = _modules_after(
        "import app\n"
        "from chalice.test import Client\n"
        "with Client(app.app) as client:\n"
        "    assert client.http.get('/v1/account').status_code == 401\n",
        "test",
    )
    deferred = _deferred(loaded)
    assert "chalicelib.services.accounts" in deferred
    assert "pydantic" in deferred
    assert "chalicelib.services.campaigns" not in deferred  # nor what other routes need


def _api_blueprints() -> list[object]:
    from chalicelib import api as package
    from chalicelib.api.http import ApiBlueprint

    found = []
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        blueprint = getattr(importlib.import_module(info.name), "api", None)
        if isinstance(blueprint, ApiBlueprint):
            found.append(blueprint)
    return found


def test_every_endpoint_body_names_a_pydantic_model() -> None:
    """Body models are named as strings and imported by the first request: a typo would
    only show there, so resolve every one of them here."""
    from chalicelib.api.http import ApiBlueprint, body_model

    names = [body for bp in _api_blueprints() for body in bp.body_models]  # type: ignore[attr-defined]
    assert len(names) >= 11
    for name in names:
        model = body_model(name)
        assert isinstance(model, type) and issubclass(model, BaseModel), name
    with pytest.raises(ValueError, match=r"package\.module:Model"):
        ApiBlueprint("probe").endpoint("/x", ["POST"], body="chalicelib.services.search.SearchRequest")


def test_stage_is_read_as_settings_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import Settings

    assert stage_from_environ({}) == stage_from_environ({"PERMESSO_STAGE": ""}) == "local"
    assert stage_from_environ({"PERMESSO_STAGE": "prod-2"}) == "prod-2"
    for bad in ("Prod", "1prod", "prod_2", "prod\n", "a" * 21):
        with pytest.raises(ValueError, match="PERMESSO_STAGE"):
            stage_from_environ({"PERMESSO_STAGE": bad})
    assert Settings.model_fields["stage"].metadata[0].pattern == STAGE_PATTERN
    monkeypatch.setenv("PERMESSO_STAGE", "prod")
    assert current_stage() == "prod"
    settings = Settings.from_environ({"PERMESSO_STAGE": "prod"})
    assert settings.resource_name("jobs") == resource_name("prod", "jobs") == "permesso-prod-jobs"


def test_settings_that_cannot_be_built_give_the_api_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Settings`` is no longer built by ``import app``: when the first request cannot build
    them (a secret missing in SSM), the JSON API answers its own 500 and keeps no half state."""
    from chalice.test import Client

    from app import app
    from chalicelib.api import http

    def unavailable() -> None:
        raise RuntimeError("secret operator_key is missing")

    monkeypatch.setattr(http, "get_deps", unavailable)
    with Client(app) as client:
        response = client.http.get("/v1/account", headers={"Authorization": "Bearer pk_x"})
    assert response.status_code == 500
    assert response.json_body == {
        "error": {"code": "internal_error", "message": "internal error", "details": None}
    }


def test_settings_that_cannot_be_built_give_the_public_500_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same failure on a public page (a link in an e-mail) is the product's own 500 page."""
    from chalice.test import Client

    from app import app
    from chalicelib.api import public

    def unavailable() -> None:
        raise RuntimeError("secret token_keys is missing")

    monkeypatch.setattr(public, "get_deps", unavailable)
    with Client(app) as client:
        response = client.http.get("/p/unsubscribe/abc", headers={"Accept-Language": "it"})
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<html lang="it"' in response.body.decode()
