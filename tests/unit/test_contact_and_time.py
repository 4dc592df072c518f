from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.client_profile import clean_tags
from chalicelib.domain.contact import email_hash, email_key, normalise_email, normalise_phone
from chalicelib.domain.time import parse_timestamp, to_iso


def test_email_key_is_case_insensitive() -> None:
    assert email_key(" Anna@Example.COM ") == email_key("anna@example.com")


def test_email_hash_is_keyed() -> None:
    assert email_hash(b"k1", "A@b.example") == email_hash(b"k1", "a@B.example")
    assert email_hash(b"k1", "a@b.example") != email_hash(b"k2", "a@b.example")


@pytest.mark.parametrize("bad", ["", "plain", "a@", "@b.example", "a b@c.example", "a@b"])
def test_bad_emails(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_email(bad)


def test_phone() -> None:
    assert normalise_phone(" +420 777 123 456 ") == "+420 777 123 456"
    with pytest.raises(ValueError):
        normalise_phone("call me")


def test_tags_are_trimmed_and_deduplicated() -> None:
    assert clean_tags([" vip", "vip ", "hair"]) == ["vip", "hair"]
    with pytest.raises(ValueError):
        clean_tags(["ok", "bad\x00"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22T11:00:00+01:00", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-22T10:00:00", datetime(2026, 11, 22, 10, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected
    assert to_iso(parse_timestamp(text)) == to_iso(expected)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", 17, None, "0001-01-01"])
def test_parse_timestamp_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(bad)
