"""Security: 10,000 mutated tracking tokens — bit flips, truncations, extensions, and tokens
minted with another deployment's key — are all refused; only the genuine ones are read."""

from __future__ import annotations

import random

from chalicelib.domain.reactivation import Action, mint_cta, read_cta
from chalicelib.domain.signing import KeyRing
from chalicelib.domain.unsubscribe import mint_unsubscribe, read_unsubscribe

RING = KeyRing.parse("k2:deployment-secret-key-000002,k1:deployment-secret-key-000001")
FOREIGN = KeyRing.parse("k2:someone-elses-secret-key-0002")


def mutations(token: str, rng: random.Random, n: int) -> set[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    out: set[str] = set()
    while len(out) < n:
        kind = rng.randrange(4)
        if kind == 0:  # flip one bit of one character
            i = rng.randrange(len(token))
            candidate = token[:i] + chr(ord(token[i]) ^ (1 << rng.randrange(7))) + token[i + 1 :]
        elif kind == 1:  # replace one character by another of the alphabet
            i = rng.randrange(len(token))
            candidate = token[:i] + rng.choice(alphabet) + token[i + 1 :]
        elif kind == 2:  # truncate
            candidate = token[: rng.randrange(len(token))]
        else:  # extend
            candidate = token + "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4)))
        if candidate != token:
            out.add(candidate)
    return out


def test_ten_thousand_mutated_tokens_are_all_refused() -> None:
    rng = random.Random(9)
    genuine = {
        "confirm": mint_cta(RING, "acc_A", "cmp_A", "cl_A", Action.CONFIRM),
        "decline": mint_cta(RING, "acc_A", "cmp_A", "cl_A", Action.DECLINE),
    }
    assert read_cta(RING, genuine["confirm"]) is not None
    accepted = 0
    for token in genuine.values():
        for mutated in mutations(token, rng, 4000):
            claim = read_cta(RING, mutated)
            # a mutation may only ever read back as the very same claim (never seen: canonical encoding)
            accepted += claim is not None
    unsubscribe = mint_unsubscribe(RING, "acc_A", "cmp_A", "cl_A")
    for mutated in mutations(unsubscribe, rng, 1000):
        accepted += read_unsubscribe(RING, mutated) is not None
    foreign = [mint_cta(FOREIGN, "acc_A", "cmp_A", f"cl_{i}", Action.CONFIRM) for i in range(1000)]
    accepted += sum(read_cta(RING, token) is not None for token in foreign)
    assert accepted == 0


def test_a_token_for_one_action_cannot_be_read_as_an_unsubscribe() -> None:
    assert read_unsubscribe(RING, mint_cta(RING, "acc_A", "cmp_A", "cl_A", Action.CONFIRM)) is None
    assert read_cta(RING, mint_unsubscribe(RING, "acc_A", "cmp_A", "cl_A")) is None
