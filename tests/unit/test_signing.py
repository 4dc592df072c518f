from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.signing import KeyRing, sign, verify

RING = KeyRing.parse("k2:second-secret-000000,k1:first-secret-0000000")


@given(st.binary(max_size=300))
def test_round_trip(payload: bytes) -> None:
    assert verify(RING, "cursor", sign(RING, "cursor", payload)) == payload


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_bit_flip_is_rejected(payload: bytes, position: int, bit: int) -> None:
    token = sign(RING, "cta", payload)
    raw = bytearray(token.encode())
    i = position % len(raw)
    raw[i] ^= 1 << bit
    try:
        mutated = raw.decode()
    except UnicodeDecodeError:
        return
    if mutated != token:
        assert verify(RING, "cta", mutated) is None


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=40))
def test_truncation_is_rejected(payload: bytes, cut: int) -> None:
    token = sign(RING, "cta", payload)
    assert verify(RING, "cta", token[: max(0, len(token) - cut)]) is None


def test_purpose_and_key_bind_the_token() -> None:
    token = sign(RING, "cursor", b"x")
    assert verify(RING, "cta", token) is None
    other = KeyRing.parse("k2:another-secret-0000000")
    assert verify(other, "cursor", token) is None


def test_rotation_old_keys_still_verify() -> None:
    old = KeyRing.parse("k1:first-secret-0000000")
    token = sign(old, "cta", b"payload")
    assert verify(RING, "cta", token) == b"payload"
    assert sign(RING, "cta", b"p").startswith("k2.")


@pytest.mark.parametrize("junk", ["", "a", "a.b", "a.b.c", "k2..", "k2.!!.??", "k9.AAAA.AAAA", "x" * 5000])
def test_junk_is_rejected_without_exception(junk: str) -> None:
    assert verify(RING, "cta", junk) is None


@pytest.mark.parametrize("spec", ["", "nokey", "k1:short", "k-1:long-enough-secret-000"])
def test_bad_key_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        KeyRing.parse(spec)
