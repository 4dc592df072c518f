from __future__ import annotations

import pytest

from chalicelib import errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput("x"), 400),
        (errors.Unauthenticated("x"), 401),
        (errors.Forbidden("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.Conflict("x", code="duplicate_email"), 409),
        (errors.PayloadTooLarge("x"), 413),
        (errors.AccountSuspended("x"), 423),
        (errors.RateLimited("x"), 429),
    ],
)
def test_single_mapping(error: errors.PermessoError, status: int) -> None:
    assert errors.http_status(error) == status
    body = errors.error_body(error)["error"]
    assert set(body) == {"code", "message", "details"}


def test_custom_code_is_kept() -> None:
    assert (
        errors.error_body(errors.Conflict("x", code="duplicate_email"))["error"]["code"] == "duplicate_email"
    )
