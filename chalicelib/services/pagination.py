"""Opaque, signed pagination cursors bound to one account and one listing."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.signing import KeyRing, sign, verify
from chalicelib.errors import InvalidInput

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def encode_cursor(ring: KeyRing, account_id: str, listing: str, key: dict[str, Any] | None) -> str | None:
    if key is None:
        return None
    payload = json.dumps({"a": account_id, "l": listing, "k": key}, separators=(",", ":"))
    return sign(ring, "cursor", payload.encode())


def decode_cursor(ring: KeyRing, account_id: str, listing: str, cursor: str | None) -> dict[str, Any] | None:
    if not cursor:  # absent or empty (``?cursor=``): the first page
        return None
    payload = verify(ring, "cursor", cursor)
    data = json.loads(payload) if payload is not None else None
    if not isinstance(data, dict) or data.get("a") != account_id or data.get("l") != listing:
        raise InvalidInput(
            "the cursor is not valid for this listing",
            code="invalid_cursor",
            details=[{"field": "cursor", "message": "pass back next_cursor exactly as received"}],
        )
    key = data.get("k")
    return key if isinstance(key, dict) else None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}",
            details=[{"field": "limit", "message": f"between 1 and {MAX_LIMIT}"}],
        )
    return limit
