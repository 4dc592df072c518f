"""Campaign rules: who receives what, the preview counts, the report, unsubscribe tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.campaign_status import CampaignKind, DeliveryStatus, can_move
from chalicelib.domain.campaigns import NOT_TARGETED, AudienceCounts, Delivery, batches, classify, report
from chalicelib.domain.signing import KeyRing
from chalicelib.domain.unsubscribe import mint_unsubscribe, read_unsubscribe

STD, REACT = CampaignKind.STANDARD, CampaignKind.REACTIVATION
RING = KeyRing.parse("k1:unit-test-secret-000001,k0:unit-test-secret-000000")


@pytest.mark.parametrize(
    ("state", "suppressed", "consent_only", "expected"),
    [
        ("granted", False, False, DeliveryStatus.QUEUED),
        ("unknown", False, False, DeliveryStatus.QUEUED),
        ("unknown", False, True, DeliveryStatus.EXCLUDED_NO_CONSENT),
        ("granted", False, True, DeliveryStatus.QUEUED),
        ("denied", False, False, DeliveryStatus.SUPPRESSED),
        ("granted", True, False, DeliveryStatus.SUPPRESSED),
        ("unknown", True, True, DeliveryStatus.SUPPRESSED),
    ],
)
def test_standard_classification(
    state: str, suppressed: bool, consent_only: bool, expected: DeliveryStatus
) -> None:
    assert classify(STD, state, suppressed, consent_only) == expected


@pytest.mark.parametrize(
    ("state", "suppressed", "expected"),
    [
        ("unknown", False, DeliveryStatus.QUEUED),
        ("granted", False, NOT_TARGETED),
        ("denied", False, NOT_TARGETED),
        ("unknown", True, DeliveryStatus.SUPPRESSED),
    ],
)
def test_reactivation_asks_only_the_undocumented(state: str, suppressed: bool, expected: object) -> None:
    for consent_only in (False, True):  # the consent gate never applies to reactivation
        assert classify(REACT, state, suppressed, consent_only) == expected


@given(
    st.lists(st.tuples(st.sampled_from(["granted", "denied", "unknown"]), st.booleans()), max_size=50),
    st.booleans(),
)
def test_preview_counts_add_up(clients: list[tuple[str, bool]], consent_only: bool) -> None:
    counts = AudienceCounts()
    for state, suppressed in clients:
        counts.add(STD, state, suppressed, consent_only)
    assert counts.recipients == len(clients)
    assert counts.consented + counts.not_consented + counts.suppressed == counts.recipients
    expected_send = counts.consented + (0 if consent_only else counts.not_consented)
    assert counts.will_send == expected_send
    assert counts.needs_acknowledgement(STD, consent_only) == (not consent_only and counts.not_consented > 0)
    assert not counts.needs_acknowledgement(REACT, consent_only)


def _delivery(status: DeliveryStatus, **kw: object) -> Delivery:
    return Delivery("cmp_1", f"cl_{id(kw)}", "acc_1", status, **kw)  # type: ignore[arg-type]


def test_report_adds_up_to_the_recipients() -> None:
    deliveries = [
        _delivery(DeliveryStatus.SENT),
        _delivery(DeliveryStatus.SENT, bounce="hard"),
        _delivery(DeliveryStatus.SENT, bounce="complaint", unsubscribed=True),
        _delivery(DeliveryStatus.SUPPRESSED),
        _delivery(DeliveryStatus.EXCLUDED_NO_CONSENT),
        _delivery(DeliveryStatus.FAILED, reason="MessageRejected"),
        _delivery(DeliveryStatus.SENT, response="confirmed"),
    ]
    r = report(deliveries)
    assert r["recipients"] == 7
    assert r["sent"] + r["suppressed"] + r["excluded_no_consent"] + r["failed"] == r["recipients"]
    assert (r["sent"], r["bounced"], r["complained"], r["unsubscribed"], r["confirmed"]) == (4, 1, 1, 1, 1)


def test_only_a_refused_send_may_return_to_the_queue() -> None:
    assert can_move(DeliveryStatus.SENDING, DeliveryStatus.QUEUED)
    assert can_move(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    assert not can_move(DeliveryStatus.SENT, DeliveryStatus.QUEUED)
    assert not can_move(DeliveryStatus.SENT, DeliveryStatus.SENDING)


def test_batches_cover_everything_once() -> None:
    items = [str(i) for i in range(53)]
    groups = batches(items, 25)
    assert [len(g) for g in groups] == [25, 25, 3]
    assert [item for group in groups for item in group] == items


def test_unsubscribe_tokens_round_trip_and_resist_tampering() -> None:
    token = mint_unsubscribe(RING, "acc_1", "cmp_2", "cl_3")
    claim = read_unsubscribe(RING, token)
    assert claim is not None and (claim.account_id, claim.campaign_id, claim.client_id) == (
        "acc_1",
        "cmp_2",
        "cl_3",
    )
    kid, payload, tag = token.split(".")
    assert read_unsubscribe(RING, f"{kid}.{payload}.{tag[:-2]}AA") is None
    assert read_unsubscribe(RING, "garbage") is None
    other = KeyRing.parse("k1:another-secret-entirely-0001")
    assert read_unsubscribe(other, token) is None
    with pytest.raises(ValueError):
        mint_unsubscribe(RING, "acc|x", "cmp_2", "cl_3")


def test_the_report_of_expired_deliveries_comes_from_the_counters() -> None:
    from chalicelib.domain.campaigns import report_from_counters

    counters = {
        "sent": 90,
        "failed": 3,
        "suppressed": 5,
        "excluded_no_consent": 2,
        "bounced": 4,
        "unsubscribed": 1,
    }
    kept = report_from_counters(counters)
    assert kept["recipients"] == 100
    assert kept["no_response"] == 90 - 4 - 1
    assert kept["queued"] == kept["sending"] == 0
    # The fan-out's total, once known, is the recipients; all settled: nothing queued.
    assert report_from_counters(counters, recipients=100) == kept


def test_a_campaign_still_sending_reports_what_is_not_settled_as_queued() -> None:
    from chalicelib.domain.campaigns import report_from_counters

    counters = {"sent": 60, "failed": 2, "suppressed": 3, "excluded_no_consent": 1}
    report = report_from_counters(counters, recipients=100)
    assert report["recipients"] == 100 and report["queued"] == 34 and report["sending"] == 0
    # Before the fan-out's total is known, the recipients are those settled so far.
    early = report_from_counters(counters, recipients=None)
    assert early["recipients"] == 66 and early["queued"] == 0
