"""The pure helpers of large imports: cutting the rows into stored parts, and the row errors a
job keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.views import job_view
from chalicelib.domain.csv_import import ConsentClaim, parts_of
from chalicelib.domain.jobs import MAX_JOB_ERRORS, Job, kept_errors

ROWS = st.lists(
    st.fixed_dictionaries(
        {"n": st.integers(1, 10_000), "p": st.dictionaries(st.text(max_size=5), st.text())}
    ),
    max_size=60,
)


@given(ROWS, st.integers(1, 10), st.integers(1, 400))
def test_parts_keep_every_row_in_order_within_their_limits(rows: list, max_rows: int, max_bytes: int) -> None:
    parts = parts_of(rows, max_rows, max_bytes)
    assert [row for part in parts for row in part] == rows
    assert all(part for part in parts)
    for part in parts:
        assert len(part) <= max_rows
        size = sum(len(json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode()) + 1 for r in part)
        assert len(part) == 1 or size <= max_bytes


def test_a_full_import_fits_items_far_below_dynamodb_s_limit() -> None:
    row = {"n": 1, "p": {"email": "x" * 200 + "@example.com", "first_name": "ř" * 100}, "c": None}
    parts = parts_of([dict(row, n=n) for n in range(10_000)], 200, 200_000)
    assert len(parts) == 50
    assert max(len(json.dumps(p).encode()) for p in parts) < 400_000


def test_a_job_keeps_the_first_errors_only() -> None:
    assert kept_errors(None, []) is None
    assert kept_errors([], []) == []
    first = [{"row": n} for n in range(3)]
    assert kept_errors(first, [{"row": 9}], limit=4) == [*first, {"row": 9}]
    assert kept_errors(first, [{"row": 9}, {"row": 10}], limit=4) == [*first, {"row": 9}]
    assert kept_errors(first, [{"row": 9}], limit=3) == first
    many = kept_errors(None, [{"row": n} for n in range(MAX_JOB_ERRORS + 5)])
    assert many is not None and len(many) == MAX_JOB_ERRORS


def test_the_job_view_shows_errors_by_row_and_how_many_are_not_shown() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job(
        account_id="a",
        job_id="job_1",
        kind="import_clients",
        params={},
        created_at=now,
        updated_at=now,
        result={"created": 2, "errors": 5},
        errors=[{"row": 7, "code": "x", "message": "m"}, {"row": 3, "code": "y", "message": "n"}],
    )
    result = job_view(job)["result"]
    assert [e["row"] for e in result["errors"]] == [3, 7] and result["errors_not_shown"] == 3
    assert result["created"] == 2
    plain = job_view(Job("a", "job_2", "bulk_tags", {}, now, now, result={"updated": 1}))
    assert plain["result"] == {"updated": 1}


def test_a_stored_row_comes_back_as_validated() -> None:
    from chalicelib.services.imports import _Row

    profile = {"email": "Jana@Example.com", "first_name": "Jana", "tags": ["vip"], "fields": {"points": 12}}
    from chalicelib.domain.client_profile import ClientInput

    claim = ConsentClaim(True, datetime(2019, 5, 1, 10, 0, tzinfo=UTC), "paper form")
    row = _Row(4, ClientInput.model_validate(profile), claim, profile)
    again = _Row.loaded(json.loads(json.dumps(row.stored())))
    assert again == row and again.data.model_fields_set == row.data.model_fields_set


def test_a_job_keeps_row_error_messages_short() -> None:
    from chalicelib.services.imports import JOB_MESSAGE_CHARS, _kept

    short = {"row": 1, "code": "invalid_row", "message": "email: not valid"}
    assert _kept(short) == short
    long = _kept({"row": 2, "code": "invalid_row", "message": "x" * 5000, "extra": 1})
    assert len(long["message"]) == JOB_MESSAGE_CHARS and long["message"].endswith("…")
    assert set(long) == {"row", "code", "message"}
