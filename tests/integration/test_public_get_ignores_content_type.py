"""Security review: a GET carries no body, so a page never refuses one for its
``Content-Type`` header (a browser extension, proxy or scanner may send any). Every GET
route outside ``/v1`` — the public pages under ``/p/``, the console under ``/app`` and the
API reference — answers its page, never the JSON API's 415.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Http

CONTENT_TYPES = (
    "application/json",
    "text/html",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "image/png",
    "nonsense",
    "",
)


def public_get_routes() -> list[str]:
    from app import app

    return sorted(
        path
        for path, entries in app.routes.items()
        if "GET" in entries and not path.startswith(("/v1/", "/dev/"))
    )


def test_every_public_get_route_accepts_any_content_type() -> None:
    from app import app

    routes = public_get_routes()
    assert {"/p/forms/{public_slug}", "/p/confirm/{token}", "/docs"} <= set(routes)
    for path in routes:
        assert "*/*" in app.routes[path]["GET"].content_types, path


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_public_pages_answer_a_get_whatever_its_content_type(
    api: Any, http: Http, account: dict, content_type: str
) -> None:
    pages = {
        f"/p/forms/{account['public_slug']}": 200,
        "/p/confirm/k1.bogus.token": 404,
        "/p/reactivation/k1.bogus.token": 404,
        "/p/unsubscribe/k1.bogus.token": 404,
        "/docs": 200,
        "/docs/reference": 200,
        "/openapi.yaml": 200,
        "/app/sign-in": 200,
        "/app/forgot-password": 200,
    }
    for path, expected in pages.items():
        response = api.http.get(path, headers={"Content-Type": content_type})
        assert response.status_code == expected, (path, content_type, response.body[:200])
        if path.startswith(("/p/", "/app/")):
            assert response.headers["Content-Type"].startswith("text/html"), path
