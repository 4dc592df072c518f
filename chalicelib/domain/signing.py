"""Compact HMAC-SHA256 signed tokens with key ids for rotation.

Format: ``<kid>.<payload b64url>.<tag b64url>``.  The tag covers the purpose
(``cursor``, ``cta``…), the key id and the payload, so a token minted for one
purpose never verifies for another.  Verification needs no database read and
compares tags in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

TAG_BYTES = 16  # 128-bit tags: forgery odds 2^-128 per attempt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict decoding: only the canonical spelling of some bytes is accepted, so no
    two different token texts (e.g. differing in base64's spare low bits) verify."""
    if any(c not in _ALPHABET for c in text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class KeyRing:
    """Signing keys by id; ``active`` signs, all verify."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``kid:secret[,kid:secret…]``; the first key is the active one."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in spec.split(","):
            kid, sep, secret = part.strip().partition(":")
            if not sep or not kid.isalnum() or len(secret) < 16:
                raise ValueError("each key must look like kid:secret (alphanumeric kid, 16+ char secret)")
            keys[kid] = secret.encode()
            order.append(kid)
        if not order:
            raise ValueError("at least one key is required")
        return cls(keys=keys, active=order[0])


def _tag(key: bytes, purpose: str, kid: str, payload: bytes) -> bytes:
    message = purpose.encode() + b"\x00" + kid.encode() + b"\x00" + payload
    return hmac.new(key, message, hashlib.sha256).digest()[:TAG_BYTES]


def sign(ring: KeyRing, purpose: str, payload: bytes) -> str:
    key = ring.keys[ring.active]
    return f"{ring.active}.{_b64(payload)}.{_b64(_tag(key, purpose, ring.active, payload))}"


def verify(ring: KeyRing, purpose: str, token: str) -> bytes | None:
    """The payload of a genuine token, else ``None`` (never an exception)."""
    if not isinstance(token, str) or len(token) > 4096:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    kid, payload_text, tag_text = parts
    key = ring.keys.get(kid)
    if key is None:
        return None
    try:
        payload = _unb64(payload_text)
        tag = _unb64(tag_text)
    except ValueError:
        return None
    if not hmac.compare_digest(tag, _tag(key, purpose, kid, payload)):
        return None
    return payload
