"""Binding of PynamoDB models to physical tables, from settings, at import time."""

from __future__ import annotations

from typing import Any

from chalicelib.aws import DYNAMODB
from chalicelib.config import get_settings


def table_meta(name: str, **extra: Any) -> type:
    """A PynamoDB ``Meta`` for logical table ``name`` in the configured stage."""
    settings = get_settings()
    attributes: dict[str, Any] = {
        "table_name": settings.resource_name(name),
        "region": settings.region,
        "host": settings.aws_endpoint_url,
        "billing_mode": "PAY_PER_REQUEST",
        # Timeouts and retries chosen on purpose (chalicelib/aws.py says why).
        **DYNAMODB,
    }
    attributes.update(extra)
    return type("Meta", (), attributes)
