"""Password rules (length, the common-password list, repetition, the user's own address) and
argon2id hashing."""

from __future__ import annotations

import pytest

from chalicelib.domain import passwords
from chalicelib.domain.passwords import (
    MIN_LENGTH,
    common_passwords,
    dummy_hash,
    hash_password,
    is_common,
    needs_rehash,
    password_problem,
    verify_password,
)


def test_the_shipped_list_is_data_with_its_source_and_licence() -> None:
    text = passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines() if line.startswith("#"))
    assert "zxcvbn" in header and "MIT" in header and "public-domain" in header
    words = common_passwords()
    assert len(words) == 30_000
    assert {"password", "123456", "qwerty", "iloveyou", "1qaz2wsx3edc"} <= words
    assert not any(word.startswith("#") for word in words)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "required"),
        ("short", "too_short"),
        ("a" * (MIN_LENGTH - 1), "too_short"),
        ("x" * 257, "too_long"),
        ("1qaz2wsx3edc", "common"),  # in the list, 12 characters
        ("qwertyuiopasdfgh", None),
        ("Password123!", "common"),  # a listed word with digits and punctuation around it
        ("!!Sunshine2024!!", "common"),
        ("abcabcabcabc", "common"),  # one piece repeated
        ("aaaaaaaaaaaaaaaa", "common"),
        ("passwordpassword", "common"),
        ("correct horse battery staple", None),
        ("Tři bílé kočky na střeše", None),  # any script, spaces allowed
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


def test_length_counts_characters_not_bytes() -> None:
    assert password_problem("žluťoučkýkůň") is None  # 12 characters, 17 bytes
    assert password_problem("žluťoučkýků") == "too_short"


def test_the_users_own_address_is_refused() -> None:
    assert is_common("anna.novak2024", context=("anna.novak@example.com", "anna.novak"))
    assert password_problem("anna.novak@example.com", email="anna.novak@example.com") == "common"
    assert password_problem("anna.novak!!2024", email="anna.novak@example.com") == "common"
    assert password_problem("anna novak likes green tea", email="anna.novak@example.com") is None


def test_confirmation_must_repeat_the_password() -> None:
    assert password_problem("correct horse battery staple", "correct horse battery stapel") == "mismatch"
    assert password_problem("correct horse battery staple", "correct horse battery staple") is None
    # The password's own problem is reported first: the confirmation is then irrelevant.
    assert password_problem("short", "other") == "too_short"


def test_hashing_is_argon2id_with_the_chosen_parameters() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapl")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(hashed)
    assert hash_password("correct horse battery staple") != hashed  # salted


def test_stronger_parameters_later_mean_a_rehash() -> None:
    from argon2 import PasswordHasher

    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(
        "correct horse battery staple"
    )
    assert verify_password(weaker, "correct horse battery staple")
    assert needs_rehash(weaker)


def test_unicode_forms_of_the_same_password_match() -> None:
    composed = "café crème brûlée"  # NFC
    decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    assert verify_password(hash_password(composed), decomposed)


def test_the_dummy_hash_never_matches_and_costs_a_verification() -> None:
    assert dummy_hash().startswith("$argon2id$")
    assert not verify_password(dummy_hash(), "")
    assert not verify_password(dummy_hash(), "an unknown address gets this hash")
