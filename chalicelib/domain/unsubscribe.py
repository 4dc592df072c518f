"""Unsubscribe links: signed tokens bound to (account, campaign, client).

The same token serves the ``List-Unsubscribe`` header (RFC 8058 one-click
POST) and the visible link in the e-mail (a page with a button: never act
on GET). It needs no database read to be checked, and a tampered or foreign
token verifies as nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain.signing import KeyRing, sign, verify

PURPOSE = "unsub"
_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class UnsubscribeClaim:
    account_id: str
    campaign_id: str
    client_id: str


def mint_unsubscribe(ring: KeyRing, account_id: str, campaign_id: str, client_id: str) -> str:
    for value in (account_id, campaign_id, client_id):
        if not _ID.match(value):
            raise ValueError("ids are alphanumeric with underscores")
    return sign(ring, PURPOSE, f"{account_id}|{campaign_id}|{client_id}".encode())


def read_unsubscribe(ring: KeyRing, token: str) -> UnsubscribeClaim | None:
    payload = verify(ring, PURPOSE, token)
    if payload is None:
        return None
    try:
        parts = payload.decode("ascii").split("|")
    except UnicodeDecodeError:
        return None
    if len(parts) != 3 or not all(_ID.match(p) for p in parts):
        return None
    return UnsubscribeClaim(*parts)
