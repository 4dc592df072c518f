"""The API's own documentation, public: ``GET /openapi.yaml``, ``GET /openapi.json``, ``GET /docs``.

The document's source is ``chalicelib/openapi/openapi.yaml`` (``docs/openapi.yaml``
links to it); ``openapi.json`` beside it is the same document as JSON, written
by ``bench/openapi_build.py`` and checked equal to the YAML by
``tests/unit/test_openapi.py``. Both are packaged with the Lambda, as all of
``chalicelib/``: ``GET /openapi.yaml`` serves the YAML text as it is, and
everything that reads the document (the reference page, ``GET /openapi.json``)
reads the JSON, so the Lambda needs no YAML parser.

- ``GET /docs`` is Swagger UI (template ``chalicelib/openapi/swagger.html``)
  reading ``openapi.yaml`` by a relative URL, so it works behind the API
  Gateway stage prefix. Its files are npm's ``swagger-ui-dist`` (Swagger UI 5,
  which reads OpenAPI 3.1), pinned by version and integrity and extracted into
  ``chalicelib/openapi/swagger-ui/`` by ``tools/swagger_ui.py`` (``make venv``),
  served by ``GET /docs/assets/{name}`` from a fixed list of names (with the
  page's own initialiser ``docs-init.js`` and ``docs.css``): no CDN, no inline
  script, a Content-Security-Policy allowing this origin only.
- ``GET /docs/reference`` is the same reference without JavaScript: a
  server-side page (Jinja2, autoescaped, no script; template
  ``chalicelib/openapi/docs.html``) listing every operation, its parameters,
  request body and responses, and every schema. Descriptions are Markdown,
  rendered with markdown-it-py (CommonMark and tables, raw HTML off: a
  description's ``<tag>`` is shown as text), imported by this route only.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import ANY_CONTENT_TYPE, error_response
from chalicelib.errors import NotFound

OWN_FILES = Path(__file__).resolve().parent.parent / "openapi"
DOCUMENT = OWN_FILES / "openapi.yaml"
DOCUMENT_JSON = OWN_FILES / "openapi.json"
SWAGGER_UI_FILES = OWN_FILES / "swagger-ui"  # tools/swagger_ui.py
PAGE_TEMPLATE = "docs.html"
SWAGGER_TEMPLATE = "swagger.html"
METHODS = ("get", "post", "put", "patch", "delete")
DOC_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "X-Content-Type-Options": "nosniff",
}
PAGE_HEADERS = {
    **DOC_HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
# Swagger UI: scripts, styles, the document and images from this origin only (its
# stylesheet draws its icons as data: SVGs); nothing may be framed, posted or based elsewhere.
SWAGGER_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SWAGGER_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": SWAGGER_CSP}
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
BUNDLED = "swagger-ui-dist"
OWN = "own"
# Everything ``GET /docs/assets/{name}`` serves, and from where: any other name is a 404.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": (BUNDLED, JS),
    "swagger-ui.css": (BUNDLED, CSS),
    "docs-init.js": (OWN, JS),
    "docs.css": (OWN, CSS),
}
# The page names its assets with ``?v=<Swagger UI version>``: a new pin is fetched at once.
ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}

api = Blueprint(__name__)


@lru_cache(maxsize=1)
def document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def document_json_text() -> str:
    return DOCUMENT_JSON.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(document_json_text())
    return loaded


def _schema_name(schema: dict[str, Any] | None) -> str | None:
    if not schema:
        return None
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else schema.get("type")


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type_of(schema['items'])}"
    return " | ".join(kind) if isinstance(kind, list) else str(kind)


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the document, in its order, flattened for the page."""
    found = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            content = (operation.get("requestBody") or {}).get("content", {})
            found.append(
                {
                    "id": operation.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "tag": (operation.get("tags") or ["Other"])[0],
                    "operator": bool(operation.get("x-permesso-operator")),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "type": _type_of(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "body": [
                        {"content_type": ctype, "schema": _schema_name(media.get("schema"))}
                        for ctype, media in content.items()
                    ],
                    "responses": [
                        {
                            "status": status,
                            "description": response.get("description", ""),
                            "schema": _schema_name(
                                next(iter(response.get("content", {}).values()), {}).get("schema")
                            ),
                        }
                        for status, response in operation["responses"].items()
                    ],
                }
            )
    return found


def schemas(doc: dict[str, Any]) -> list[dict[str, Any]]:
    listed = []
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", []))
        listed.append(
            {
                "name": name,
                "description": schema.get("description", ""),
                "fields": [
                    {
                        "name": field,
                        "type": _type_of(sub),
                        "required": field in required,
                        "description": sub.get("description", ""),
                        "deprecated": bool(sub.get("deprecated")),
                    }
                    for field, sub in schema.get("properties", {}).items()
                ],
                "alternatives": [_type_of(sub) for sub in schema.get("anyOf", [])],
            }
        )
    return listed


@api.route("/openapi.yaml", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def openapi_document() -> Response:
    return Response(
        body=document_text(), status_code=200, headers={**DOC_HEADERS, "Content-Type": "application/yaml"}
    )


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # CommonMark with tables; raw HTML is escaped, and unsafe link schemes are refused.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str) -> Any:
    """A description's Markdown as safe HTML (``Markup``, so autoescape leaves it alone)."""
    from markupsafe import Markup

    # markdown-it escapes raw HTML (the "html" option is off), so its output is safe markup.
    return Markup(_markdown().render(text or ""))  # nosec B704


@api.route("/openapi.json", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def openapi_document_json() -> Response:
    return Response(
        body=document_json_text(),
        status_code=200,
        headers={**DOC_HEADERS, "Content-Type": "application/json"},
    )


def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(OWN_FILES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = markdown
    return env


def render_page(doc: dict[str, Any]) -> str:
    """The plain reference page of ``doc`` (Jinja2, every value autoescaped)."""
    ops = operations(doc)
    tags = list(dict.fromkeys(op["tag"] for op in ops))
    listed = schemas(doc)
    return (
        _templates()
        .get_template(PAGE_TEMPLATE)
        .render(
            info=doc["info"],
            tags=tags,
            operations=ops,
            schemas=listed,
            schema_names={s["name"] for s in listed},
        )
    )


def render_swagger_page(doc: dict[str, Any], swagger_ui_version: str) -> str:
    """The Swagger UI page: markup and links only, its script is ``docs-init.js``."""
    return (
        _templates()
        .get_template(SWAGGER_TEMPLATE)
        .render(info=doc["info"], swagger_ui_version=swagger_ui_version)
    )


def _swagger_ui_files() -> Path:
    """Swagger UI's extracted files; a clear error (the route's 500) when they were never fetched."""
    if not (SWAGGER_UI_FILES / "VERSION").is_file():
        raise RuntimeError("Swagger UI's files are missing: run python -m tools.swagger_ui (make venv)")
    return SWAGGER_UI_FILES


@lru_cache(maxsize=1)
def swagger_ui_version() -> str:
    """Swagger UI's version, as ``tools/swagger_ui.py`` recorded it (``5.35.0``)."""
    return (_swagger_ui_files() / "VERSION").read_text(encoding="ascii").strip()


@lru_cache(maxsize=1)
def page() -> str:
    return render_page(document())


@lru_cache(maxsize=1)
def swagger_page() -> str:
    return render_swagger_page(document(), swagger_ui_version())


@lru_cache(maxsize=len(ASSETS))
def asset_text(name: str) -> str:
    """The text of a listed asset; ``KeyError`` for any other name (never a path lookup)."""
    origin, _ = ASSETS[name]
    folder = _swagger_ui_files() if origin == BUNDLED else OWN_FILES
    text: str = (folder / name).read_text(encoding="utf-8")
    return text


@api.route("/docs", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def docs_page() -> Response:
    return Response(body=swagger_page(), status_code=200, headers=SWAGGER_HEADERS)


@api.route("/docs/reference", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def docs_reference() -> Response:
    return Response(body=page(), status_code=200, headers=PAGE_HEADERS)


@api.route("/docs/assets/{name}", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        return error_response(NotFound("No such file of the docs page"))
    return Response(
        body=asset_text(name), status_code=200, headers={**ASSET_HEADERS, "Content-Type": ASSETS[name][1]}
    )
