"""Pure rules of the second API round: tag keys, brand colours, test links, scheduling
transitions, and which refusals only a documented consent lifts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.business import check_brand_colour, contrast_ratio, footer_lines
from chalicelib.domain.campaign_status import (
    CampaignAction,
    CampaignKind,
    CampaignStatus,
    TransitionRefused,
    next_status,
)
from chalicelib.domain.consent import (
    ConsentState,
    EventType,
    Source,
    SuppressionReason,
    denied_by_client,
    lifts_suppression,
)
from chalicelib.domain.reactivation import Action, mint_cta, read_cta
from chalicelib.domain.signing import KeyRing
from chalicelib.domain.tags import has_tag, label_key, retagged, spelled, unique_tags
from chalicelib.domain.test_links import mint_test_link, read_test_link
from chalicelib.domain.unsubscribe import mint_unsubscribe, read_unsubscribe

RING = KeyRing.parse("k1:unit-test-signing-secret-000001")


# --- tags ---------------------------------------------------------------------------------------


def test_one_key_per_tag_whatever_its_spelling() -> None:
    assert label_key(" VIP ") == label_key("vip") == label_key("Vip")
    assert label_key("Café") == label_key("cafe\u0301".upper())  # composed or not, any case
    assert label_key("Straße") == label_key("STRASSE")
    assert unique_tags(["VIP", "vip", "Hair", "HAIR", "nails"]) == ["VIP", "Hair", "nails"]
    assert has_tag(["VIP"], "vip") and not has_tag(["VIP"], "vipp")


def test_retagging_keeps_spellings_and_order() -> None:
    assert retagged(["vip", "hair"], ["VIP", "Gold"], []) == ["vip", "hair", "Gold"]
    assert retagged(["vip", "hair"], [], ["HAIR"]) == ["vip"]
    assert retagged(["VIP", "vip"], [], []) == ["VIP"]  # legacy data: one spelling left
    assert spelled(["vip", "HAIR"], {"vip": "VIP"}) == ["VIP", "HAIR"]


@given(
    st.lists(st.text(min_size=1, max_size=8), max_size=8),
    st.lists(st.text(min_size=1, max_size=8), max_size=4),
)
def test_retagged_never_holds_two_spellings(tags: list[str], add: list[str]) -> None:
    result = retagged(tags, add, [])
    keys = [label_key(tag) for tag in result]
    assert len(keys) == len(set(keys))
    assert all(has_tag(result, tag) for tag in add)


# --- the business's identity -------------------------------------------------------------------


def test_contrast_ratio_is_wcags() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#ffbf47", "#ffffff") < 3  # the old focus ring


@pytest.mark.parametrize("colour", ["#0b4f9c", "#7A1F5C", "#000000", "#767676"])
def test_brand_colours_readable_with_white_are_accepted(colour: str) -> None:
    assert check_brand_colour(colour) == colour.lower()


@pytest.mark.parametrize("colour", ["#ffd700", "#777777", "#ffffff", "blue", "#fff", "#0b4f9c00"])
def test_unreadable_or_malformed_brand_colours_are_refused(colour: str) -> None:
    with pytest.raises(ValueError):
        check_brand_colour(colour)


def test_footer_lines() -> None:
    class Settings:
        business_address = "Via Roma 12\n20121 Milano"
        website_url = "https://salon.example/"
        contact_email = "ciao@salon.example"
        contact_phone = None

    assert footer_lines(Settings()) == [
        "Via Roma 12, 20121 Milano",
        "https://salon.example/",
        "ciao@salon.example",
    ]


# --- test links ------------------------------------------------------------------------------


def test_test_links_carry_no_client_and_never_pass_for_real_ones() -> None:
    token = mint_test_link(RING, "confirm", "acc_1", "cmp_1")
    link = read_test_link(RING, token)
    assert link is not None and (link.action, link.account_id, link.campaign_id) == (
        "confirm",
        "acc_1",
        "cmp_1",
    )
    assert read_cta(RING, token) is None and read_unsubscribe(RING, token) is None
    real = mint_cta(RING, "acc_1", "cmp_1", "cl_1", Action.CONFIRM)
    assert read_test_link(RING, real) is None
    assert read_test_link(RING, mint_unsubscribe(RING, "acc_1", "cmp_1", "cl_1")) is None
    assert read_test_link(RING, token[:-2] + "AA") is None
    with pytest.raises(ValueError):
        mint_test_link(RING, "erase", "acc_1", "cmp_1")


# --- scheduling -----------------------------------------------------------------------------


def test_scheduling_transitions() -> None:
    standard, draft, scheduled = CampaignKind.STANDARD, CampaignStatus.DRAFT, CampaignStatus.SCHEDULED
    assert next_status(standard, draft, CampaignAction.SCHEDULE, None) is scheduled
    assert next_status(standard, scheduled, CampaignAction.SCHEDULE, None) is scheduled  # rescheduled
    assert next_status(standard, scheduled, CampaignAction.SEND, None) is CampaignStatus.SENDING
    assert next_status(CampaignKind.AUTOMATIC, scheduled, CampaignAction.SEND, None) is CampaignStatus.ACTIVE
    assert next_status(standard, scheduled, CampaignAction.CANCEL, None) is draft  # nothing was sent
    assert next_status(standard, draft, CampaignAction.CANCEL, None) is CampaignStatus.CANCELLED
    for action in (CampaignAction.PAUSE, CampaignAction.RESUME):
        with pytest.raises(TransitionRefused):
            next_status(standard, scheduled, action, None)
    with pytest.raises(TransitionRefused):
        next_status(standard, CampaignStatus.SENDING, CampaignAction.SCHEDULE, None)


# --- consent: the client's own refusal --------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "source", "reason", "own"),
    [
        (ConsentState.DENIED, Source.REACTIVATION_CAMPAIGN, SuppressionReason.DECLINED, True),
        (ConsentState.DENIED, Source.ONE_CLICK_UNSUBSCRIBE, SuppressionReason.UNSUBSCRIBED, True),
        (ConsentState.GRANTED, Source.STAFF, SuppressionReason.COMPLAINT, True),  # a complaint suppresses
        (ConsentState.DENIED, Source.STAFF, None, False),  # staff's own denial
        (ConsentState.UNKNOWN, None, SuppressionReason.HARD_BOUNCE, False),  # a bounce is no choice
        (ConsentState.UNKNOWN, None, None, False),
    ],
)
def test_whose_refusal_it_is(
    state: ConsentState, source: Source | None, reason: SuppressionReason | None, own: bool
) -> None:
    assert denied_by_client(state, source, reason) is own


def test_only_a_documented_consent_lifts_the_clients_own_refusal() -> None:
    granted = EventType.GRANTED
    for reason in (SuppressionReason.DECLINED, SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINT):
        assert not lifts_suppression(granted, Source.STAFF, reason)
        assert lifts_suppression(granted, Source.STAFF, reason, documented=True)
    for reason in (SuppressionReason.HARD_BOUNCE, SuppressionReason.ERASED, SuppressionReason.SOFT_BOUNCES):
        assert not lifts_suppression(granted, Source.STAFF, reason, documented=True)
    assert lifts_suppression(granted, Source.REACTIVATION_CAMPAIGN, SuppressionReason.DECLINED)
    assert not lifts_suppression(granted, Source.REACTIVATION_CAMPAIGN, SuppressionReason.UNSUBSCRIBED)
    assert not lifts_suppression(EventType.DENIED, Source.STAFF, SuppressionReason.DECLINED, documented=True)
