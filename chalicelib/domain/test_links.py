"""Links of test e-mails and previews: they open the real pages and record nothing (pure).

A test send (``POST /v1/campaigns/{id}/test``) and a rendered preview must not
carry a recipient's real confirm, decline or unsubscribe link: clicking one
in a preview would record a choice for that client. Their links are signed
tokens of their own purpose (``test``), bound to (action, account, campaign)
and to no client. The public pages recognise them, show the same page marked
as a test, and record nothing, on GET or POST; a real link's token never
verifies as a test one, nor the reverse (the purpose is inside the signature).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain.signing import KeyRing, sign, verify

PURPOSE = "test"
ACTIONS = ("confirm", "decline", "unsubscribe")
_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class LinkForTest:
    action: str
    account_id: str
    campaign_id: str


def mint_test_link(ring: KeyRing, action: str, account_id: str, campaign_id: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"action is one of {ACTIONS}")
    for value in (account_id, campaign_id):
        if not _ID.match(value):
            raise ValueError("ids are alphanumeric with underscores")
    return sign(ring, PURPOSE, f"{action}|{account_id}|{campaign_id}".encode("ascii"))


def read_test_link(ring: KeyRing, token: str) -> LinkForTest | None:
    """The claim of a genuine test token, else ``None`` (never an exception)."""
    payload = verify(ring, PURPOSE, token)
    if payload is None:
        return None
    try:
        parts = payload.decode("ascii").split("|")
    except UnicodeDecodeError:
        return None
    if len(parts) != 3 or parts[0] not in ACTIONS or not all(_ID.match(p) for p in parts[1:]):
        return None
    return LinkForTest(parts[0], parts[1], parts[2])
