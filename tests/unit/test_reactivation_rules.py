"""Reactivation rules: CTA tokens (round trip, bit flips, truncation, other account or
action), the template rules, the default templates, the wait warning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.campaign_content import check_template, render_message
from chalicelib.domain.reactivation import (
    Action,
    CtaClaim,
    is_non_responder,
    latest_confirmed,
    mint_cta,
    reactivation_template_problems,
    read_cta,
    wait_days_warning,
)
from chalicelib.domain.signing import KeyRing, sign
from chalicelib.domain.unsubscribe import mint_unsubscribe

RING = KeyRing.parse("k2:second-secret-000000,k1:first-secret-0000000")
ids = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True)
actions = st.sampled_from(list(Action))


@given(ids, ids, ids, actions)
def test_round_trip(account: str, campaign: str, client: str, action: Action) -> None:
    token = mint_cta(RING, account, campaign, client, action)
    assert read_cta(RING, token) == CtaClaim(account, campaign, client, action)
    assert len(token) < 160  # compact enough for any mail client's link


@given(ids, ids, ids, actions, st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_bit_flip_is_rejected(
    account: str, campaign: str, client: str, action: Action, position: int, bit: int
) -> None:
    token = mint_cta(RING, account, campaign, client, action)
    raw = bytearray(token.encode())
    raw[position % len(raw)] ^= 1 << bit
    try:
        mutated = raw.decode()
    except UnicodeDecodeError:
        return
    if mutated != token:
        assert read_cta(RING, mutated) is None


@given(ids, ids, ids, actions, st.integers(min_value=1, max_value=200))
def test_truncation_is_rejected(account: str, campaign: str, client: str, action: Action, cut: int) -> None:
    token = mint_cta(RING, account, campaign, client, action)
    assert read_cta(RING, token[: max(0, len(token) - cut)]) is None


@given(ids, ids, ids, ids, actions)
def test_a_token_names_exactly_one_account_and_action(
    account: str, other: str, campaign: str, client: str, action: Action
) -> None:
    claim = read_cta(RING, mint_cta(RING, account, campaign, client, action))
    assert claim is not None
    assert (claim.account_id == other) == (account == other)
    assert claim.action is action and claim.action is not action.other


def test_other_purposes_keys_and_payloads_do_not_verify() -> None:
    unsub = mint_unsubscribe(RING, "acc_1", "cmp_1", "cli_1")
    assert read_cta(RING, unsub) is None
    assert read_cta(RING, sign(RING, "cta", b"x|acc_1|cmp_1|cli_1")) is None  # unknown action code
    assert read_cta(RING, sign(RING, "cta", b"c|acc_1|cmp_1")) is None
    assert read_cta(RING, sign(RING, "cta", "c|acc|cmp|clï".encode())) is None
    foreign = KeyRing.parse("k2:another-secret-0000000")
    assert read_cta(foreign, mint_cta(RING, "acc_1", "cmp_1", "cli_1", Action.CONFIRM)) is None
    # Rotation: a token signed with the old key still verifies while the key is in the ring.
    old = KeyRing.parse("k1:first-secret-0000000")
    assert read_cta(RING, mint_cta(old, "acc_1", "cmp_1", "cli_1", Action.DECLINE)) is not None
    with pytest.raises(ValueError):
        mint_cta(RING, "acc|1", "cmp_1", "cli_1", Action.CONFIRM)


GOOD = (
    '<a href="{{ confirm_url }}" data-cta="confirm">Yes</a>'
    '<a href="{{decline_url}}" data-cta="decline">No</a>'
    '<a href="{{ terms_url }}">T</a><a href="{{ legitimate_interest_url }}">L</a>'
)


def test_template_rules() -> None:
    assert reactivation_template_problems(GOOD) == []
    assert len(reactivation_template_problems("<p>nothing</p>")) == 6
    swapped = GOOD.replace('data-cta="confirm"', 'data-cta="x"')
    assert reactivation_template_problems(swapped) == [
        'needs an anchor <a href="{{ confirm_url }}" data-cta="confirm">'
    ]
    no_terms = GOOD.replace("{{ terms_url }}", "https://x.example")
    assert reactivation_template_problems(no_terms) == ["must show the link {{ terms_url }}"]


@pytest.mark.parametrize("language", ["en", "cs", "it"])
def test_default_templates_are_complete_and_render(language: str) -> None:
    from chalicelib.mail.reactivation import default_html, default_subject

    html, subject = default_html(language), default_subject(language)
    check_template(html, html=True)
    check_template(subject, html=False)
    assert reactivation_template_problems(html) == []
    context = {
        "first_name": "<Anna>",
        "business_name": "Salon & Co",
        "confirm_url": "https://p.example/c",
        "decline_url": "https://p.example/d",
        "terms_url": "https://s.example/t",
        "legitimate_interest_url": "https://s.example/l",
        "unsubscribe_url": "https://p.example/u",
    }
    message = render_message(subject, html, None, context)
    assert "&lt;Anna&gt;" in message.html and "<Anna>" not in message.html
    assert "Salon &amp; Co" in message.html and "Salon & Co" in message.subject
    assert f'lang="{language}"' in message.html
    for url in context.values():
        if url.startswith("https"):
            assert url in message.text
    no_name = render_message(subject, html, None, {**context, "first_name": None})
    assert "None" not in no_name.html


def test_wait_warning_and_segment_rules() -> None:
    assert [d for d in range(31) if wait_days_warning(d) is None] == [5, 6, 7]
    assert latest_confirmed("confirmed", "granted", False)
    assert not latest_confirmed("confirmed", "granted", True)
    assert not latest_confirmed("confirmed", "denied", False)
    assert not latest_confirmed("declined", "granted", False)
    assert is_non_responder("sent", None, None, False)
    assert not is_non_responder("sent", "declined", None, False)
    assert not is_non_responder("sent", None, "hard", False)
    assert not is_non_responder("sent", None, None, True)
    assert not is_non_responder("suppressed", None, None, False)
