"""Reactivation campaigns (seed 003): CTA tokens, template rules, the wait (pure).

CTA tokens are compact signed tokens (``domain.signing``, purpose ``cta``)
bound to the account, the campaign, the client and the action (confirm or
decline). A forged, tampered, truncated or foreign token verifies as
nothing, without any database read.

A business may write its own subject and body, but the e-mail must always
carry both calls to action (anchors with ``data-cta="confirm"`` /
``data-cta="decline"`` whose ``href`` is ``{{ confirm_url }}`` /
``{{ decline_url }}``) and the links to the terms and the legitimate-interest
pages: ``reactivation_template_problems`` says what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser

from chalicelib.domain.signing import KeyRing, sign, verify

PURPOSE = "cta"
_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")

RECOMMENDED_WAIT_DAYS = (5, 7)


class Action(StrEnum):
    CONFIRM = "confirm"
    DECLINE = "decline"

    @property
    def other(self) -> Action:
        return Action.DECLINE if self is Action.CONFIRM else Action.CONFIRM

    @property
    def response(self) -> str:
        """The delivery's ``response`` this choice records."""
        return "confirmed" if self is Action.CONFIRM else "declined"


_CODES = {Action.CONFIRM: "c", Action.DECLINE: "d"}
_ACTIONS = {code: action for action, code in _CODES.items()}


@dataclass(frozen=True)
class CtaClaim:
    account_id: str
    campaign_id: str
    client_id: str
    action: Action


# Opening a link (GET) is evidence, not a choice: one ``opened`` event per link per period is
# enough, however often a person or a mail scanner opens it (the ledger is append-only).
OPENED_PERIOD_SECONDS = 3600


def opened_marker(claim: CtaClaim) -> str:
    """The key of the marker that stands for a link's latest recorded opening."""
    return f"opened#{claim.campaign_id}#{claim.client_id}#{claim.action.value}"


def mint_cta(ring: KeyRing, account_id: str, campaign_id: str, client_id: str, action: Action) -> str:
    for value in (account_id, campaign_id, client_id):
        if not _ID.match(value):
            raise ValueError("ids are alphanumeric with underscores")
    payload = f"{_CODES[action]}|{account_id}|{campaign_id}|{client_id}"
    return sign(ring, PURPOSE, payload.encode("ascii"))


def read_cta(ring: KeyRing, token: str) -> CtaClaim | None:
    """The claim of a genuine token, else ``None`` (never an exception)."""
    payload = verify(ring, PURPOSE, token)
    if payload is None:
        return None
    try:
        parts = payload.decode("ascii").split("|")
    except UnicodeDecodeError:
        return None
    if len(parts) != 4 or parts[0] not in _ACTIONS or not all(_ID.match(p) for p in parts[1:]):
        return None
    return CtaClaim(parts[1], parts[2], parts[3], _ACTIONS[parts[0]])


def wait_days_warning(wait_days: int) -> dict[str, object] | None:
    """A warning for a wait outside the recommended 5 to 7 days (accepted anyway: 0 to 30)."""
    low, high = RECOMMENDED_WAIT_DAYS
    if low <= wait_days <= high:
        return None
    return {
        "code": "wait_days_unusual",
        "count": wait_days,
        "message": f"a wait of {wait_days} day(s) is outside the recommended {low}-{high} days",
    }


# --- template rules ------------------------------------------------------------------------

_REQUIRED_VARIABLES = ("confirm_url", "decline_url", "terms_url", "legitimate_interest_url")
_HREF_VARIABLE = re.compile(r"^\s*\{\{\s*([a-z_]+)\s*\}\}\s*$")


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ctas: dict[str, str] = {}  # data-cta → the variable its href names

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        cta = values.get("data-cta")
        match = _HREF_VARIABLE.match(values.get("href") or "")
        if cta and match:
            self.ctas.setdefault(cta, match.group(1))


def reactivation_template_problems(html: str) -> list[str]:
    """What a reactivation e-mail's HTML template lacks (empty: usable)."""
    problems = []
    anchors = _Anchors()
    anchors.feed(html)
    anchors.close()
    for action in Action:
        if anchors.ctas.get(action.value) != f"{action.value}_url":
            problems.append(
                f'needs an anchor <a href="{{{{ {action.value}_url }}}}" data-cta="{action.value}">'
            )
    for name in _REQUIRED_VARIABLES:
        if not re.search(r"\{\{\s*" + name + r"\s*\}\}", html):
            problems.append(f"must show the link {{{{ {name} }}}}")
    return problems


def latest_confirmed(response: str | None, consent_state: str, suppressed: bool) -> bool:
    """Whether a recipient belongs to the campaign's segment: their latest choice through
    the campaign is to confirm, their consent still stands and the address may be written to
    (an unsubscribe, bounce or complaint since keeps them out)."""
    return response == "confirmed" and consent_state == "granted" and not suppressed


def is_non_responder(status: str, response: str | None, bounce: str | None, unsubscribed: bool) -> bool:
    """A recipient who received the e-mail and did nothing with it."""
    return status == "sent" and response is None and bounce != "hard" and not unsubscribed
