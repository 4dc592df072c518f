"""The API's own documentation, public: ``GET /openapi.yaml`` and ``GET /docs``.

The document is ``chalicelib/openapi/openapi.yaml`` (packaged with the Lambda,
as all of ``chalicelib/``); ``docs/openapi.yaml`` links to it. ``/docs`` is a
server-side page (Jinja2, autoescaped, no script; template
``chalicelib/openapi/docs.html``) listing every operation, its parameters,
request body and responses, and every schema.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
PAGE_TEMPLATE = "docs.html"
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

api = Blueprint(__name__)


@lru_cache(maxsize=1)
def document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    import yaml  # loaded by the docs routes only

    loaded: dict[str, Any] = yaml.safe_load(document_text())
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
                        {"name": p["name"], "in": p["in"], "type": _type_of(p.get("schema", {}))}
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
                    {"name": field, "type": _type_of(sub), "required": field in required}
                    for field, sub in schema.get("properties", {}).items()
                ],
            }
        )
    return listed


@api.route("/openapi.yaml", methods=["GET"])
def openapi_document() -> Response:
    return Response(
        body=document_text(), status_code=200, headers={**DOC_HEADERS, "Content-Type": "application/yaml"}
    )


def render_page(doc: dict[str, Any]) -> str:
    """The reference page of ``doc`` (Jinja2, every value autoescaped)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(DOCUMENT.parent)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    ops = operations(doc)
    tags = list(dict.fromkeys(op["tag"] for op in ops))
    return env.get_template(PAGE_TEMPLATE).render(
        info=doc["info"], tags=tags, operations=ops, schemas=schemas(doc)
    )


@lru_cache(maxsize=1)
def page() -> str:
    return render_page(document())


@api.route("/docs", methods=["GET"])
def docs_page() -> Response:
    return Response(body=page(), status_code=200, headers=PAGE_HEADERS)
