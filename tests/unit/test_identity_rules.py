"""Pure identity rules with an injected clock: session expiry (12 h idle, 30 days absolute),
link expiry (7 days, 1 hour), when a "last used" time is written, CSRF tokens, key formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.identity import (
    OneTimeToken,
    Session,
    csrf_token,
    csrf_valid,
    due_for_touch,
    looks_like_api_key,
    looks_like_secret,
    new_api_key,
    new_secret,
    secret_hash,
    session_alive,
    session_expires_at,
    token_alive,
    token_validity,
)

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def session(created: datetime, last_seen: datetime) -> Session:
    return Session("h", "acc_1", "usr_1", 0, created, last_seen)


def test_a_session_ends_after_12_hours_without_a_request() -> None:
    s = session(T0, T0)
    assert session_alive(s, T0 + timedelta(hours=11, minutes=59))
    assert not session_alive(s, T0 + timedelta(hours=12))


def test_activity_keeps_a_session_alive_but_never_past_30_days() -> None:
    created = T0
    for day in range(30):
        last_seen = T0 + timedelta(days=day, hours=6)
        assert session_alive(session(created, last_seen), last_seen + timedelta(hours=1))
    late = session(created, T0 + timedelta(days=29, hours=23))
    assert session_alive(late, T0 + timedelta(days=29, hours=23, minutes=59))
    assert not session_alive(late, T0 + timedelta(days=30))
    assert session_expires_at(created, T0 + timedelta(days=29, hours=23)) == T0 + timedelta(days=30)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=40 * 24 * 60), st.integers(min_value=0, max_value=40 * 24 * 60))
def test_session_expiry_is_the_earlier_of_idle_and_absolute(seen_minutes: int, now_minutes: int) -> None:
    last_seen = T0 + timedelta(minutes=seen_minutes)
    now = T0 + timedelta(minutes=max(seen_minutes, now_minutes))
    alive = session_alive(session(T0, last_seen), now)
    assert alive == (now - last_seen < timedelta(hours=12) and now - T0 < timedelta(days=30))


@pytest.mark.parametrize(
    ("purpose", "validity"), [("invitation", timedelta(days=7)), ("reset", timedelta(hours=1))]
)
def test_links_expire(purpose: str, validity: timedelta) -> None:
    assert token_validity(purpose) == validity  # type: ignore[arg-type]
    token = OneTimeToken("h", purpose, "acc_1", "usr_1", T0, T0 + validity)  # type: ignore[arg-type]
    assert token_alive(token, T0 + validity - timedelta(seconds=1))
    assert not token_alive(token, T0 + validity)


def test_last_seen_and_last_used_are_written_at_most_every_five_minutes() -> None:
    assert due_for_touch(None, T0)
    assert not due_for_touch(T0, T0 + timedelta(minutes=4, seconds=59))
    assert due_for_touch(T0, T0 + timedelta(minutes=5))


def test_secrets_are_256_bits_and_stored_as_sha256() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100 and all(looks_like_secret(s) for s in secrets)
    assert all(len(s) == 43 for s in secrets)
    assert len(secret_hash("x")) == 64 and secret_hash("x") != "x"
    assert (
        not looks_like_secret("short")
        and not looks_like_secret(None)
        and not looks_like_secret("a" * 43 + "!")
    )


def test_api_key_format_is_checked_before_any_lookup() -> None:
    key = new_api_key()
    assert key.startswith("pm_") and looks_like_api_key(key)
    for bad in (
        "",
        "pm_",
        "pm_short",
        key + "x",
        key[:-1],
        "xx_" + key[3:],
        key.replace("pm_", "PM_"),
        "pm_" + "é" * 43,
    ):
        assert not looks_like_api_key(bad), bad


def test_csrf_tokens_are_bound_and_survive_key_rotation() -> None:
    old, new = b"old-key-0123456789", b"new-key-0123456789"
    token = csrf_token(old, "session:abc")
    assert csrf_valid([new, old], "session:abc", token)  # rotated: the old key still verifies
    assert not csrf_valid([new], "session:abc", token)  # retired key
    assert not csrf_valid([old], "session:abd", token)  # another session
    assert not csrf_valid([old], "session:abc", None)
    assert not csrf_valid([old], "session:abc", "")
    assert not csrf_valid([old], "session:abc", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert csrf_token(old, "visitor:x") != csrf_token(old, "session:x")
