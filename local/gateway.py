"""Make Chalice's local gateway route as API Gateway does with the deployed stack's settings.

``chalice local`` (and ``chalice.test.Client``, which uses the same gateway)
differs from the deployed REST API in two ways this module removes:

- a greedy path parameter (``/p/{proxy+}``) matches nothing locally: Chalice's
  route matcher compares segment counts. Here such a route matches one or more
  remaining segments, and only when no other route matches (API Gateway
  prefers the more specific route);
- a path no route has is answered with API Gateway's default ``403
  {"message": "Missing Authentication Token"}``, and a method its route lacks
  with Chalice's 405; the deployed API answers both with its Gateway Response
  (``chalicelib/api/edge.py``), so here they get the same: a 404 in the error
  contract's shape.

``install()`` patches ``chalice.local`` once per process; ``local/api.py``
calls it before serving, and ``tests/conftest.py`` for the in-process client.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalice import local as chalice_local

from chalicelib.api.edge import GATEWAY_HEADERS, UNKNOWN_ROUTE

_INSTALLED = False


class UnknownRouteError(chalice_local.LocalGatewayException):
    CODE = UNKNOWN_ROUTE.status


def _greedy_match(route_url: str, parts: list[str]) -> dict[str, str] | None:
    """Captures of ``route_url`` (ending in ``{name+}``) for the path ``parts``, or None."""
    url_parts = route_url.split("/")
    head, last = url_parts[:-1], url_parts[-1]
    if len(parts) <= len(head) or any(not p for p in parts[len(head) :]):
        return None
    captured = {}
    for part, pattern in zip(parts, head, strict=False):
        if pattern.startswith("{") and pattern.endswith("}"):
            captured[pattern[1:-1]] = part
        elif part != pattern:
            return None
    captured[last[1:-2]] = "/".join(parts[len(head) :])
    return captured


def _match_route(self: chalice_local.RouteMatcher, url: str) -> chalice_local.MatchResult:
    plain = [route for route in self.route_urls if not route.endswith("+}")]
    try:
        return _original_match_route(SimpleNamespace(route_urls=plain), url)  # type: ignore[arg-type]
    except ValueError:
        pass
    parsed = urlparse(url)
    path = parsed.path
    if path != "/" and path.endswith("/"):
        path = path[:-1]
    parts = path.split("/")
    greedy = sorted((r for r in self.route_urls if r.endswith("+}")), key=lambda r: -r.count("/"))
    for route_url in greedy:
        captured = _greedy_match(route_url, parts)
        if captured is not None:
            query = parse_qs(parsed.query, keep_blank_values=True)
            return chalice_local.MatchResult(route_url, captured, query)
    raise ValueError(f"No matching route found for: {url}")


def _handle_request(
    self: chalice_local.LocalGateway, method: str, path: str, headers: Any, body: bytes | None
) -> Any:
    try:
        event = self._generate_lambda_event(method, path, headers, body)
    except ValueError:
        event = None
    # API Gateway has a resource per path and a method per route: a path no route has, or a
    # method its route lacks, never reaches the Lambda (Chalice itself would answer 405).
    if event is None or method not in self._app_object.routes[event["requestContext"]["resourcePath"]]:
        raise UnknownRouteError(dict(GATEWAY_HEADERS), UNKNOWN_ROUTE.body().encode())
    return _original_handle_request(self, method, path, headers, body)


_original_match_route = chalice_local.RouteMatcher.match_route
_original_handle_request = chalice_local.LocalGateway.handle_request


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    chalice_local.RouteMatcher.match_route = _match_route  # type: ignore[method-assign]
    chalice_local.LocalGateway.handle_request = _handle_request  # type: ignore[method-assign]
    _INSTALLED = True
