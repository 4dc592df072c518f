"""Staff passwords: what is accepted, and how it is hashed (argon2id).

Rules (CONSOLE.md, NIST SP 800-63B §5.1.1.2): at least ``MIN_LENGTH`` characters, at
most ``MAX_LENGTH`` (hashing cost stays bounded), and not a common password. Common
means: in the shipped list of the 30,000 most used passwords (``data/common-passwords.txt``,
see ``tools/common_passwords.py`` for its source and licence), or one of them with only
digits and punctuation added around it (``Password123!``, ``!!sunshine2024``), or one short
piece repeated (``abcabcabcabc``), or the user's own address or its local part. There is no
rule on character classes: length and the list do what composition rules only pretend to.

Hashing uses argon2-cffi's argon2id with the parameters below, chosen by measuring them
(``docs/ARCHITECTURE.md``, *Staff identity*). The hash string records its parameters, so
raising them later only means rehashing at the next successful sign-in
(``needs_rehash``). argon2 is imported on first use: only sign-in pays for it.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12
MAX_LENGTH = 256
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"

# argon2id: 19 MiB, 2 passes, 1 lane — OWASP's recommended minimum configuration. About
# 40 ms on a development machine's core; a 512 MB Lambda has about a third of a vCPU, so
# roughly 0.15 s there. Heavier profiles (64 MiB, t=3) cost about 7 times more per sign-in,
# which would make the sign-in form a cheap way to burn the account's Lambda time, while
# online guessing is already bounded by the sign-in throttle.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1

PasswordProblem = Literal["too_short", "too_long", "common", "mismatch", "required"]
_AROUND = "0123456789!@#$%^&*()-_=+[]{};:'\",.<>/?\\|`~ "


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _normalised(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _is_repetition(text: str) -> bool:
    """``aaaa…``, ``abcabc…``, ``passwordpassword``: one piece of up to half the length repeated."""
    size = len(text)
    return any(size % n == 0 and text[:n] * (size // n) == text for n in range(1, size // 2 + 1))


def is_common(password: str, *, context: tuple[str, ...] = ()) -> bool:
    """Whether ``password`` is common (see the module's rules); ``context`` are words that
    belong to the user (the address, its local part) and are as guessable as the list."""
    text = _normalised(password).lower()
    core = text.strip(_AROUND)
    words = common_passwords()
    if text in words or (core and core in words) or _is_repetition(text):
        return True
    for word in context:
        word = word.strip().lower()
        if len(word) >= 3 and (core == word or text == word):
            return True
    return False


def password_problem(
    password: str, confirmation: str | None = None, *, email: str | None = None
) -> PasswordProblem | None:
    """Why ``password`` cannot be used, or ``None``. The confirmation, when asked for, must
    repeat it. Length is counted in characters after NFKC normalisation."""
    text = _normalised(password)
    if not text:
        return "required"
    if len(text) < MIN_LENGTH:
        return "too_short"
    if len(text) > MAX_LENGTH:
        return "too_long"
    context: tuple[str, ...] = ()
    if email:
        context = (email, email.partition("@")[0])
    if is_common(text, context=context):
        return "common"
    if confirmation is not None and _normalised(confirmation) != text:
        return "mismatch"
    return None


@cache
def hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, type=Type.ID
    )


def hash_password(password: str) -> str:
    return hasher().hash(_normalised(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; any malformed hash or mismatch is simply ``False``."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return hasher().verify(password_hash, _normalised(password)[: MAX_LENGTH * 4])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """A hash to verify against when the address is unknown, so that answer costs the same
    time as a wrong password (computed once per process, with the current parameters)."""
    return hash_password("an unknown address gets this hash, never a match")
