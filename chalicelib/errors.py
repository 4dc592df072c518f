"""Domain exceptions and their single mapping to HTTP.

Services and storage raise these; only ``http_status`` (used by the API
boundary in ``chalicelib.api.http``) knows about status codes.  Codes are
stable snake_case strings that clients may branch on.
"""

from __future__ import annotations

from typing import Any


class PermessoError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(PermessoError):
    """The request is malformed or violates a rule; ``details`` names the fields."""

    code = "invalid_input"


class Unauthenticated(PermessoError):
    code = "unauthorized"


class Forbidden(PermessoError):
    code = "forbidden"


class NotFound(PermessoError):
    """Absent, or belonging to another account: the two are indistinguishable."""

    code = "not_found"


class Conflict(PermessoError):
    """A state conflict, or an action that needs an explicit acknowledgement."""

    code = "conflict"


class PayloadTooLarge(PermessoError):
    code = "payload_too_large"


class UnsupportedMediaType(PermessoError):
    code = "unsupported_media_type"


class AccountSuspended(PermessoError):
    code = "account_suspended"


class RateLimited(PermessoError):
    code = "rate_limited"


class ConcurrentModification(PermessoError):
    """An optimistic-locking retry budget ran out; the caller may simply retry."""

    code = "concurrent_modification"


_STATUS: dict[type[PermessoError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    ConcurrentModification: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    AccountSuspended: 423,
    RateLimited: 429,
}


def http_status(error: PermessoError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def error_body(error: PermessoError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "details": error.details}}
