"""Intake form rules: validation, honeypot, abuse windows, the double opt-in token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.intake import (
    DOI_PER_ADDRESS,
    DOI_VALIDITY,
    FORM_PER_ACCOUNT,
    FORM_PER_ACCOUNT_IP,
    FORM_PER_IP,
    FixedWindow,
    first_values,
    is_bot,
    keyed_subject,
    matches_address,
    mint_double_opt_in,
    parse_intake,
    read_double_opt_in,
)
from chalicelib.domain.signing import KeyRing, sign

RING = KeyRing.parse("k1:intake-test-secret-000001")
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
HASH = "ab" * 32


def test_valid_submission() -> None:
    parsed = parse_intake(
        {"email": " Eva@Example.COM ", "first_name": " Eva ", "consent": "yes", "language": "cs"}
    )
    assert parsed.errors == {} and parsed.data is not None
    assert parsed.data.email == "Eva@example.com" and parsed.data.first_name == "Eva"
    assert parsed.data.consent is True and parsed.data.profile() == {"first_name": "Eva", "language": "cs"}


def test_consent_only_when_ticked() -> None:
    assert parse_intake({"email": "a@example.com"}).data.consent is False  # type: ignore[union-attr]
    assert parse_intake({"email": "a@example.com", "consent": "no"}).data.consent is False  # type: ignore[union-attr]


def test_errors_name_each_field_and_keep_values() -> None:
    values = {"email": "nope", "phone": "letters", "language": "de", "first_name": "x" * 101}
    parsed = parse_intake(values)
    assert parsed.data is None and parsed.values == values
    assert parsed.errors == {
        "email": "invalid",
        "phone": "invalid",
        "language": "invalid",
        "first_name": "invalid",
    }
    assert parse_intake({}).errors == {"email": "required"}


def test_first_values_and_honeypot() -> None:
    form = {"email": ["a@example.com", "b@example.com"], "unknown": ["x"], "website": [" http://x "]}
    values = first_values(form)
    assert values == {"email": "a@example.com", "website": "http://x"}
    assert is_bot(values) and not is_bot({"email": "a@example.com"})


def test_fixed_windows() -> None:
    window = FixedWindow("form-ip", limit=5, seconds=3600)
    assert window.bucket("s", NOW) == window.bucket("s", NOW + timedelta(minutes=29))
    assert window.bucket("s", NOW) != window.bucket("s", NOW + timedelta(minutes=30))
    assert window.window_end(NOW) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert window.retry_after(NOW) == 1800
    assert DOI_PER_ADDRESS.limit <= 5  # an address cannot be mail-bombed through a form
    # a connection's ceiling across businesses is many businesses' worth of its per-business limit
    assert FORM_PER_IP.limit >= 10 * FORM_PER_ACCOUNT_IP.limit
    assert FORM_PER_ACCOUNT.limit > FORM_PER_IP.limit
    names = [w.name for w in (DOI_PER_ADDRESS, FORM_PER_ACCOUNT, FORM_PER_ACCOUNT_IP, FORM_PER_IP)]
    assert len(set(names)) == 4


def test_keyed_subject_hides_the_value() -> None:
    subject = keyed_subject(b"k", "ip", "198.51.100.4")
    assert "198" not in subject and len(subject) == 32
    assert subject != keyed_subject(b"other", "ip", "198.51.100.4")
    assert subject != keyed_subject(b"k", "email", "198.51.100.4")


def test_token_round_trip_and_binding() -> None:
    token = mint_double_opt_in(RING, "acc_1", "cl_1", HASH, NOW)
    claim = read_double_opt_in(RING, token, NOW + timedelta(days=1))
    assert claim is not None and (claim.account_id, claim.client_id) == ("acc_1", "cl_1")
    assert matches_address(claim, HASH) and not matches_address(claim, "cd" * 32)


def test_token_carries_the_submitted_details_signed() -> None:
    details = {"first_name": "Jiří", "last_name": "Nový", "phone": "+420 600 000 000", "language": "cs"}
    token = mint_double_opt_in(RING, "acc_1", "cl_1", HASH, NOW, details)
    claim = read_double_opt_in(RING, token, NOW)
    assert claim is not None and claim.profile == details
    assert read_double_opt_in(RING, mint_double_opt_in(RING, "acc_1", "cl_1", HASH, NOW), NOW).profile == {}  # type: ignore[union-attr]


def test_details_that_no_longer_pass_validation_are_dropped() -> None:
    payload = (
        '{"a":"acc_1","c":"cl_1","h":"abababababababab","x":4102444800,'
        '"v":{"f":"Ann\u202e","l":"Nová","p":"call me","g":"de","z":"x"}}'
    ).encode()
    claim = read_double_opt_in(RING, sign(RING, "doi", payload), NOW)
    assert claim is not None and claim.profile == {"last_name": "Nová"}
    bad = b'{"a":"acc_1","c":"cl_1","h":"abababababababab","x":4102444800,"v":["f"]}'
    assert read_double_opt_in(RING, sign(RING, "doi", bad), NOW) is None


def test_token_expires() -> None:
    token = mint_double_opt_in(RING, "acc_1", "cl_1", HASH, NOW)
    assert read_double_opt_in(RING, token, NOW + DOI_VALIDITY - timedelta(seconds=1)) is not None
    assert read_double_opt_in(RING, token, NOW + DOI_VALIDITY) is None


def test_token_of_another_purpose_or_key_is_rejected() -> None:
    payload = b'{"a":"acc_1","c":"cl_1","h":"abababababababab","x":4102444800}'
    assert read_double_opt_in(RING, sign(RING, "cta", payload), NOW) is None
    other = KeyRing.parse("k1:another-secret-0000000")
    assert read_double_opt_in(other, mint_double_opt_in(RING, "acc_1", "cl_1", HASH, NOW), NOW) is None


@given(st.binary(max_size=200))
def test_genuine_but_malformed_payloads_are_rejected(payload: bytes) -> None:
    claim = read_double_opt_in(RING, sign(RING, "doi", payload), NOW)
    assert claim is None or claim.expires_at > NOW


@given(st.text(max_size=300))
def test_arbitrary_text_is_never_a_token(text: str) -> None:
    assert read_double_opt_in(RING, text, NOW) is None
