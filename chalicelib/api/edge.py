"""What the edge (API Gateway) answers by itself, in the API's error contract.

API Gateway answers some requests without invoking the Lambda: a path or
method no route has (``MISSING_AUTHENTICATION_TOKEN``: its own ``403
{"message": "Missing Authentication Token"}``), stage or WAF throttling, a
body over its limit, its own failures. Each of those is configured here as a
Gateway Response in the error shape ``{"error": {"code", "message",
"details"}}`` — an unknown route is a 404 ``not_found`` like any absent
resource. ``infra/stack.py`` turns ``GATEWAY_RESPONSES`` into the REST API's
Gateway Responses; ``local/api.py`` answers an unknown route in ``chalice
local`` with the same response, so the local stack behaves as deployed.

Gateway Responses cannot vary by path, so the public pages' HTML 404 comes
from the app itself: ``/p/{proxy+}`` (``chalicelib/api/public.py``) matches
every path under ``/p/`` that no other route has, and renders the uniform
404 page. Pure data: nothing here is imported by a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    code: str
    message: str

    def body(self) -> str:
        return json.dumps({"error": {"code": self.code, "message": self.message, "details": None}})


# API Gateway's response type -> what it answers. DEFAULT_4XX / DEFAULT_5XX cover every type
# not listed (an API key, authorizer or integration failure: none is configured today).
GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(404, "not_found", "No such route"),
    # The same unknown route with an ``Authorization`` header (every API client sends its key):
    # API Gateway reads the header as an incomplete AWS signature. No route uses AWS signatures.
    "INCOMPLETE_SIGNATURE": GatewayResponse(404, "not_found", "No such route"),
    "THROTTLED": GatewayResponse(429, "rate_limited", "Too many requests; retry later"),
    "WAF_FILTERED": GatewayResponse(403, "forbidden", "The request was refused"),
    "REQUEST_TOO_LARGE": GatewayResponse(413, "payload_too_large", "The request body is too large"),
    "DEFAULT_4XX": GatewayResponse(400, "invalid_request", "The request could not be accepted"),
    "DEFAULT_5XX": GatewayResponse(502, "service_unavailable", "The service is unavailable; retry later"),
}
UNKNOWN_ROUTE = GATEWAY_RESPONSES["MISSING_AUTHENTICATION_TOKEN"]
# Headers every Gateway Response carries, as the app's own JSON errors do.
GATEWAY_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# Types whose status API Gateway chooses (DEFAULT_4XX covers 400, 403, 404…; DEFAULT_5XX
# 500, 502, 504): the template keeps API Gateway's status and only gives the body its shape.
KEEP_STATUS = frozenset({"DEFAULT_4XX", "DEFAULT_5XX"})


def sam_gateway_responses() -> dict[str, Any]:
    """``GATEWAY_RESPONSES`` as the ``GatewayResponses`` property of an ``AWS::Serverless::Api``."""
    responses: dict[str, Any] = {}
    for kind, response in GATEWAY_RESPONSES.items():
        entry: dict[str, Any] = {
            "ResponseParameters": {
                "Headers": {name: f"'{value}'" for name, value in GATEWAY_HEADERS.items()}
            },
            "ResponseTemplates": {"application/json": response.body()},
        }
        if kind not in KEEP_STATUS:
            entry["StatusCode"] = str(response.status)
        responses[kind] = entry
    return responses
