"""The rules of consent: what the ledger's events are and what they do to a client's state.

Pure functions only. The service layer (``services/consent.py``) records an
event and the state these rules derive from it in one transaction; the same
rules replayed over the whole ledger (``replay``) give the same state, which
is how the client's ``consent`` can be proven from its evidence.

Rules (PRODUCT.md §2, §3):
- the state is ``granted``, ``denied`` or ``unknown`` (default);
- the latest *explicit choice* wins: ``granted`` grants; ``denied``,
  ``unsubscribed`` and ``erased`` deny; ``opened``, ``bounced`` and
  ``complained`` are evidence that changes no choice (bounces and complaints
  suppress the address instead);
- ``confirmed_at`` is the time of the most recent explicit confirmation while
  consent stands; a later denial clears it, so the seed's segment
  "confirmation date is filled" never includes a client who later declined;
- ``denied`` and suppressed clients (unsubscribed, bounced, complained,
  erased, declined) are never sendable for marketing; a reactivation
  campaign may target only ``unknown``, unsuppressed clients.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ulid import ULID


class ConsentState(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class EventType(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    UNSUBSCRIBED = "unsubscribed"
    OPENED = "opened"
    ERASED = "erased"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Source(StrEnum):
    STAFF = "staff"
    INTAKE_FORM = "intake_form"
    REACTIVATION_CAMPAIGN = "reactivation_campaign"
    ONE_CLICK_UNSUBSCRIBE = "one_click_unsubscribe"
    IMPORT = "import"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    DECLINED = "declined"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    SOFT_BOUNCES = "soft_bounces"
    ERASED = "erased"


class Eligibility(StrEnum):
    """Whether a client may receive a marketing e-mail, and if not, why."""

    SEND = "send"
    SUPPRESSED = "suppressed"
    DENIED = "denied"
    EXCLUDED_NO_CONSENT = "excluded_no_consent"


_STATE_AFTER: dict[EventType, ConsentState] = {
    EventType.GRANTED: ConsentState.GRANTED,
    EventType.DENIED: ConsentState.DENIED,
    EventType.UNSUBSCRIBED: ConsentState.DENIED,
    EventType.ERASED: ConsentState.DENIED,
}

# A decline through a reactivation e-mail is the one suppression its author can lift
# again, by confirming through the same kind of link (PRODUCT.md §3: "decline-then-confirm
# is in"). Every other reason is permanent: no later grant, import or form undoes it.
_LIFTABLE: frozenset[SuppressionReason] = frozenset({SuppressionReason.DECLINED})
_LIFTING_SOURCES: frozenset[Source] = frozenset({Source.REACTIVATION_CAMPAIGN})
# API.md: "a denial that came from the client (decline, unsubscribe, complaint) is lifted only
# by a new explicit consent: the client's own confirmation, or staff recording one with a note
# saying how it was given". These are the client's own denials; bounces and erasure are not
# choices and no consent lifts them.
CLIENT_DENIAL_SOURCES: frozenset[Source] = frozenset(
    {Source.REACTIVATION_CAMPAIGN, Source.ONE_CLICK_UNSUBSCRIBE, Source.COMPLAINT}
)
CLIENT_DENIAL_REASONS: frozenset[SuppressionReason] = frozenset(
    {SuppressionReason.DECLINED, SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINT}
)


def is_explicit_choice(event_type: EventType) -> bool:
    return event_type in _STATE_AFTER


@dataclass(frozen=True)
class ConsentStatus:
    """A client's current consent, as stored on the client."""

    state: ConsentState = ConsentState.UNKNOWN
    confirmed_at: datetime | None = None
    source: Source | None = None


@dataclass(frozen=True)
class ConsentEvent:
    """One entry of the append-only ledger: what, when, how, and the evidence."""

    event_id: str
    type: EventType
    at: datetime
    source: Source
    ip: str | None = None
    user_agent: str | None = None
    campaign_id: str | None = None
    terms_url: str | None = None
    legitimate_interest_url: str | None = None
    actor: str | None = None
    note: str | None = None
    # Set only by erasure: the keyed hash of the erased address, which still links
    # the pseudonymised evidence to the suppression entry.
    email_hash: str | None = None


def apply_event(current: ConsentStatus, event_type: EventType, source: Source, at: datetime) -> ConsentStatus:
    """The state after one more event: the latest explicit choice wins."""
    state = _STATE_AFTER.get(event_type)
    if state is None:
        return current
    if state is ConsentState.GRANTED:
        return ConsentStatus(state=state, confirmed_at=at, source=source)
    return replace(current, state=state, confirmed_at=None, source=source)


def replay(events: list[ConsentEvent]) -> ConsentStatus:
    """The state a ledger (oldest first) proves."""
    status = ConsentStatus()
    for event in events:
        status = apply_event(status, event.type, event.source, event.at)
    return status


def suppression_for(event_type: EventType, source: Source) -> SuppressionReason | None:
    """The suppression an event puts on the address, if any.

    A staff denial does not suppress: staff may correct it later. A client's own
    decline, unsubscribe, a bounce, a complaint and an erasure do.
    """
    if event_type is EventType.UNSUBSCRIBED:
        return SuppressionReason.UNSUBSCRIBED
    if event_type is EventType.DENIED and source is Source.REACTIVATION_CAMPAIGN:
        return SuppressionReason.DECLINED
    if event_type is EventType.BOUNCED:
        return SuppressionReason.HARD_BOUNCE
    if event_type is EventType.COMPLAINED:
        return SuppressionReason.COMPLAINT
    if event_type is EventType.ERASED:
        return SuppressionReason.ERASED
    return None


def denied_by_client(state: ConsentState, source: Source | None, reason: SuppressionReason | None) -> bool:
    """Whether the client's current refusal is the client's own (declined, unsubscribed,
    complained): then only a documented consent lifts it."""
    if reason in CLIENT_DENIAL_REASONS:
        return True
    return state is ConsentState.DENIED and source in CLIENT_DENIAL_SOURCES


def lifts_suppression(
    event_type: EventType, source: Source, reason: SuppressionReason, *, documented: bool = False
) -> bool:
    """Whether this event removes an existing suppression of the address: the client's own
    confirmation through a reactivation e-mail lifts a decline; staff recording consent with a
    note saying how it was given (``documented``) lifts any of the client's own denials."""
    if event_type is not EventType.GRANTED:
        return False
    if source is Source.STAFF and documented:
        return reason in CLIENT_DENIAL_REASONS
    return source in _LIFTING_SOURCES and reason in _LIFTABLE


def stronger_suppression(existing: SuppressionReason | None, new: SuppressionReason) -> bool:
    """Whether ``new`` should replace ``existing``: a permanent reason beats a liftable one,
    and otherwise the first reason stays (so it is never weakened)."""
    if existing is None:
        return True
    return existing in _LIFTABLE and new not in _LIFTABLE


def marketing_eligibility(state: ConsentState, suppressed: bool, consent_only: bool) -> Eligibility:
    """May a standard or automatic campaign reach this client?"""
    if suppressed:
        return Eligibility.SUPPRESSED
    if state is ConsentState.DENIED:
        return Eligibility.DENIED
    if consent_only and state is not ConsentState.GRANTED:
        return Eligibility.EXCLUDED_NO_CONSENT
    return Eligibility.SEND


def reactivation_targetable(state: ConsentState, suppressed: bool) -> bool:
    """A reactivation campaign asks only clients whose consent is not documented."""
    return state is ConsentState.UNKNOWN and not suppressed


def next_event_id(previous: str | None, at: datetime) -> str:
    """A new ``evt_<ULID>`` that sorts after ``previous``.

    The ledger is read in key order, so the id must grow in commit order even
    when two events share a millisecond or the clock steps back; the service
    writes the event conditional on the client version that holds ``previous``.
    """
    candidate = ULID.from_datetime(at)
    if previous is not None:
        last = ULID.from_str(previous.removeprefix("evt_"))
        if int(candidate) <= int(last):
            candidate = ULID.from_int(int(last) + 1)
    return f"evt_{candidate}"
