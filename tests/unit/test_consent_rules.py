"""The rules of consent state (pure domain code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.consent import (
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Eligibility,
    EventType,
    Source,
    SuppressionReason,
    apply_event,
    is_explicit_choice,
    lifts_suppression,
    marketing_eligibility,
    next_event_id,
    reactivation_targetable,
    replay,
    stronger_suppression,
    suppression_for,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
events_st = st.lists(
    st.tuples(st.sampled_from(list(EventType)), st.sampled_from(list(Source)), st.integers(0, 10_000)),
    max_size=30,
)


def as_events(raw: list[tuple[EventType, Source, int]]) -> list[ConsentEvent]:
    return [
        ConsentEvent(event_id=f"evt_{i:026d}", type=t, at=T0 + timedelta(minutes=m), source=s)
        for i, (t, s, m) in enumerate(raw)
    ]


def test_default_is_unknown() -> None:
    assert replay([]) == ConsentStatus(ConsentState.UNKNOWN, None, None)


def test_grant_sets_confirmation_and_source() -> None:
    status = apply_event(ConsentStatus(), EventType.GRANTED, Source.INTAKE_FORM, T0)
    assert status == ConsentStatus(ConsentState.GRANTED, T0, Source.INTAKE_FORM)


@pytest.mark.parametrize("event_type", [EventType.DENIED, EventType.UNSUBSCRIBED, EventType.ERASED])
def test_withdrawals_deny_and_clear_the_confirmation(event_type: EventType) -> None:
    granted = apply_event(ConsentStatus(), EventType.GRANTED, Source.STAFF, T0)
    status = apply_event(granted, event_type, Source.ONE_CLICK_UNSUBSCRIBE, T0 + timedelta(days=1))
    assert status.state is ConsentState.DENIED and status.confirmed_at is None


@pytest.mark.parametrize("event_type", [EventType.OPENED, EventType.BOUNCED, EventType.COMPLAINED])
def test_evidence_without_a_choice_changes_nothing(event_type: EventType) -> None:
    granted = apply_event(ConsentStatus(), EventType.GRANTED, Source.STAFF, T0)
    assert apply_event(granted, event_type, Source.BOUNCE, T0 + timedelta(days=1)) == granted
    assert not is_explicit_choice(event_type)


@given(events_st)
def test_latest_explicit_choice_wins(raw: list[tuple[EventType, Source, int]]) -> None:
    events = as_events(raw)
    status = replay(events)
    choices = [e for e in events if is_explicit_choice(e.type)]
    if not choices:
        assert status == ConsentStatus()
        return
    last = choices[-1]
    assert status.state is (ConsentState.GRANTED if last.type is EventType.GRANTED else ConsentState.DENIED)
    assert status.source is last.source
    # confirmed_at: the most recent confirmation, while consent stands.
    assert status.confirmed_at == (last.at if last.type is EventType.GRANTED else None)


@given(events_st, events_st)
def test_incremental_application_equals_replay(first: list, second: list) -> None:
    """What the service stores step by step is what the whole ledger proves."""
    events = as_events(first + second)
    status = replay(events[: len(first)])
    for event in events[len(first) :]:
        status = apply_event(status, event.type, event.source, event.at)
    assert status == replay(events)


def test_marketing_eligibility() -> None:
    G, D, U = ConsentState.GRANTED, ConsentState.DENIED, ConsentState.UNKNOWN
    assert marketing_eligibility(G, False, True) is Eligibility.SEND
    assert marketing_eligibility(U, False, False) is Eligibility.SEND
    assert marketing_eligibility(U, False, True) is Eligibility.EXCLUDED_NO_CONSENT
    for consent_only in (True, False):
        assert marketing_eligibility(D, False, consent_only) is Eligibility.DENIED
        for state in (G, D, U):
            assert marketing_eligibility(state, True, consent_only) is Eligibility.SUPPRESSED


@given(events_st, st.booleans())
def test_withdrawn_or_suppressed_clients_are_never_sendable(raw: list, consent_only: bool) -> None:
    events = as_events(raw)
    status = replay(events)
    last_choice = [e.type for e in events if is_explicit_choice(e.type)][-1:]
    suppressed = any(suppression_for(e.type, e.source) for e in events)
    verdict = marketing_eligibility(status.state, suppressed, consent_only)
    if last_choice and last_choice[0] in (EventType.DENIED, EventType.UNSUBSCRIBED, EventType.ERASED):
        assert verdict is not Eligibility.SEND
    if any(
        e.type in (EventType.BOUNCED, EventType.COMPLAINED, EventType.UNSUBSCRIBED, EventType.ERASED)
        for e in events
    ):
        assert verdict is Eligibility.SUPPRESSED


def test_reactivation_targets_only_unknown_unsuppressed() -> None:
    assert reactivation_targetable(ConsentState.UNKNOWN, False)
    assert not reactivation_targetable(ConsentState.UNKNOWN, True)
    assert not reactivation_targetable(ConsentState.GRANTED, False)
    assert not reactivation_targetable(ConsentState.DENIED, False)


def test_which_events_suppress() -> None:
    assert (
        suppression_for(EventType.UNSUBSCRIBED, Source.ONE_CLICK_UNSUBSCRIBE)
        is SuppressionReason.UNSUBSCRIBED
    )
    assert suppression_for(EventType.DENIED, Source.REACTIVATION_CAMPAIGN) is SuppressionReason.DECLINED
    assert suppression_for(EventType.DENIED, Source.STAFF) is None
    assert suppression_for(EventType.BOUNCED, Source.BOUNCE) is SuppressionReason.HARD_BOUNCE
    assert suppression_for(EventType.COMPLAINED, Source.COMPLAINT) is SuppressionReason.COMPLAINT
    assert suppression_for(EventType.ERASED, Source.STAFF) is SuppressionReason.ERASED
    assert suppression_for(EventType.GRANTED, Source.STAFF) is None
    assert suppression_for(EventType.OPENED, Source.REACTIVATION_CAMPAIGN) is None


def test_only_a_clients_own_reactivation_confirm_lifts_only_a_decline() -> None:
    assert lifts_suppression(EventType.GRANTED, Source.REACTIVATION_CAMPAIGN, SuppressionReason.DECLINED)
    assert not lifts_suppression(EventType.GRANTED, Source.STAFF, SuppressionReason.DECLINED)
    assert not lifts_suppression(EventType.GRANTED, Source.IMPORT, SuppressionReason.DECLINED)
    assert not lifts_suppression(EventType.GRANTED, Source.INTAKE_FORM, SuppressionReason.ERASED)
    for reason in SuppressionReason:
        if reason is not SuppressionReason.DECLINED:
            for source in Source:
                assert not lifts_suppression(EventType.GRANTED, source, reason)


def test_suppression_is_never_weakened() -> None:
    assert stronger_suppression(None, SuppressionReason.DECLINED)
    assert stronger_suppression(SuppressionReason.DECLINED, SuppressionReason.ERASED)
    assert not stronger_suppression(SuppressionReason.ERASED, SuppressionReason.DECLINED)
    assert not stronger_suppression(SuppressionReason.UNSUBSCRIBED, SuppressionReason.HARD_BOUNCE)
    assert not stronger_suppression(SuppressionReason.DECLINED, SuppressionReason.DECLINED)


@given(st.lists(st.integers(min_value=-(10**6), max_value=10**6), min_size=1, max_size=40))
def test_event_ids_grow_in_commit_order_whatever_the_clock(offsets_ms: list[int]) -> None:
    previous: str | None = None
    for offset in offsets_ms:
        current = next_event_id(previous, T0 + timedelta(milliseconds=offset))
        assert current.startswith("evt_") and len(current) == 30
        if previous is not None:
            assert current > previous
        previous = current


def test_event_id_follows_the_clock_when_it_moves_forward() -> None:
    first = next_event_id(None, T0)
    later = next_event_id(first, T0 + timedelta(seconds=1))
    assert later[4:14] > first[4:14]  # the ULID's time part
