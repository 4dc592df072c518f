"""Unknown routes answer as the deployed API does: JSON 404 in the error contract, HTML under /p/.

API Gateway answers a path or method no route has itself; the stack configures that
Gateway Response (``chalicelib/api/edge.py``) and ``local.gateway`` gives ``chalice local``
and this in-process client the same answer. Under ``/p/`` (links in e-mails, opened by
people) the greedy ``/p/{proxy+}`` route renders the uniform 404 page instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.edge import GATEWAY_RESPONSES, UNKNOWN_ROUTE, sam_gateway_responses


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/v1/nowhere"),
        ("POST", "/v1/clients/x/y/z"),
        ("GET", "/v2/clients"),
        ("DELETE", "/docs"),  # a route without this method
        ("GET", "/"),
        ("GET", "/pages/x"),  # not under /p/
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer pk_some-key"])
def test_an_unknown_route_is_a_json_404_in_the_error_shape(
    api: Any, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = api.http.request(method, path, headers=headers, body=b"{}")
    assert response.status_code == 404, (method, path, response.body)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(response.body) == {
        "error": {"code": "not_found", "message": UNKNOWN_ROUTE.message, "details": None}
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/p/nowhere"),
        ("GET", "/p/confirm"),  # a route's prefix, without its token
        ("GET", "/p/forms/a/b/c"),
        ("POST", "/p/nowhere/deeper"),
        ("GET", "/p/reactivation/x/extra"),
    ],
)
def test_an_unknown_page_under_p_is_the_uniform_html_404(api: Any, method: str, path: str) -> None:
    response = api.http.request(method, path, headers={"Accept-Language": "it"})
    assert response.status_code == 404, (method, path)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.body.decode()
    assert "Pagina non trovata" in body  # the same page a tampered link gets
    assert body == api.http.get("/p/confirm/not-a-token", headers={"Accept-Language": "it"}).body.decode()


def test_known_pages_still_win_over_the_greedy_route(api: Any) -> None:
    response = api.http.get("/p/forms/no-such-form")
    assert response.status_code == 404  # the form view ran: its own 404, same page
    assert api.http.get("/docs/reference").status_code == 200


def test_every_gateway_response_is_in_the_error_shape() -> None:
    sam = sam_gateway_responses()
    assert set(sam) == set(GATEWAY_RESPONSES)
    for kind, entry in sam.items():
        body = json.loads(entry["ResponseTemplates"]["application/json"])
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, kind
        assert entry["ResponseParameters"]["Headers"]["Content-Type"] == "'application/json'"
    assert sam["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert sam["INCOMPLETE_SIGNATURE"] == sam["MISSING_AUTHENTICATION_TOKEN"]  # the same, with a key
    assert "StatusCode" not in sam["DEFAULT_4XX"]  # API Gateway's own status is kept
