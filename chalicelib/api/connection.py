"""The client's address: the one place that reads it.

The recorded IP (consent evidence) and the key of every per-address rate limit is
``requestContext.identity.sourceIp``, which API Gateway takes from the TCP connection.
``X-Forwarded-For``, ``Forwarded`` and their kind are written by the client and are never
read (``tests/integration/test_recorded_ip_spoofing.py``).
"""

from __future__ import annotations

from chalice.app import Request


def source_ip(request: Request) -> str | None:
    identity = (request.context or {}).get("identity") or {}
    ip = identity.get("sourceIp")
    return str(ip)[:64] if ip else None
