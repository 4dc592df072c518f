"""The operator's tool for the stage's secrets in SSM Parameter Store (docs/DEPLOY.md).

    python -m infra.operator_secrets init --stage prod            # create what is missing
    python -m infra.operator_secrets show --stage prod            # which exist, token key ids
    python -m infra.operator_secrets add-token-key --stage prod   # rotation, step 1
    python -m infra.operator_secrets promote-token-key KID --stage prod   # step 2
    python -m infra.operator_secrets retire-token-key KID --stage prod    # step 3
    python -m infra.operator_secrets rotate-operator-key --stage prod

Values are random (256 bits), stored as SecureString with the account's
``aws/ssm`` key, and never printed: read the operator key with
``aws ssm get-parameter --with-decryption`` when you need it.  Every change
reaches the functions at their next cold start: after one, bump
``secrets_version`` in infra/config.json and deploy, which restarts them all.

The e-mail hash key is never rotated: suppression entries of erased clients
are keyed by it and the addresses are gone, so a new key would forget them.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import SECRET_FIELDS
from chalicelib.domain.signing import KeyRing

TOKEN_KEYS = "token_keys"


def _random() -> str:
    return secrets.token_urlsafe(32)


def _new_token_key(existing: list[str], now: datetime) -> str:
    kid = "k" + now.strftime("%Y%m%d")
    suffix = 1
    while kid in existing:
        suffix += 1
        kid = "k" + now.strftime("%Y%m%d") + f"n{suffix}"
    return f"{kid}:{_random()}"


GENERATORS: dict[str, Callable[[datetime], str]] = {
    "operator_key": lambda now: _random(),
    TOKEN_KEYS: lambda now: _new_token_key([], now),
    "email_hash_key": lambda now: _random(),
}


class SecretStore:
    """The stage's parameters ``/permesso/<stage>/<field>``."""

    def __init__(self, stage: str, client: Any) -> None:
        self.path = f"/permesso/{stage}"
        self.client = client

    def name(self, field: str) -> str:
        return f"{self.path}/{field}"

    def get(self, field: str) -> str | None:
        response = self.client.get_parameters(Names=[self.name(field)], WithDecryption=True)
        values = [item["Value"] for item in response["Parameters"]]
        return values[0] if values else None

    def put(self, field: str, value: str, *, overwrite: bool) -> None:
        self.client.put_parameter(
            Name=self.name(field),
            Value=value,
            Type="SecureString",
            Overwrite=overwrite,
            Description=f"Permesso {field} (infra/operator_secrets.py)",
        )

    def token_ring(self) -> list[tuple[str, str]]:
        spec = self.get(TOKEN_KEYS)
        if spec is None:
            raise SystemExit(f"{self.name(TOKEN_KEYS)} does not exist: run init first")
        KeyRing.parse(spec)  # refuse to work on a malformed ring
        return [tuple(part.split(":", 1)) for part in spec.split(",")]  # type: ignore[misc]

    def put_ring(self, ring: list[tuple[str, str]]) -> None:
        spec = ",".join(f"{kid}:{secret}" for kid, secret in ring)
        KeyRing.parse(spec)
        self.put(TOKEN_KEYS, spec, overwrite=True)


def init(store: SecretStore, now: datetime) -> list[str]:
    """Create each missing secret; existing ones are left alone. The lines to print."""
    lines = []
    for field in SECRET_FIELDS:
        if store.get(field) is None:
            store.put(field, GENERATORS[field](now), overwrite=False)
            lines.append(f"created {store.name(field)}")
        else:
            lines.append(f"kept    {store.name(field)} (exists)")
    return lines


def show(store: SecretStore) -> list[str]:
    lines = []
    for field in SECRET_FIELDS:
        present = store.get(field) is not None
        lines.append(f"{store.name(field)}: {'present' if present else 'MISSING'}")
    if store.get(TOKEN_KEYS) is not None:
        kids = [kid for kid, _ in store.token_ring()]
        lines.append(f"token key ids: {', '.join(kids)} (the first signs, all verify)")
    return lines


def add_token_key(store: SecretStore, now: datetime) -> str:
    """Step 1: a new key that only verifies (last); deploy so every function knows it."""
    ring = store.token_ring()
    kid, secret = _new_token_key([k for k, _ in ring], now).split(":", 1)
    store.put_ring([*ring, (kid, secret)])
    return kid


def promote_token_key(store: SecretStore, kid: str) -> None:
    """Step 2: the key signs from now on; the others keep verifying what they signed."""
    ring = store.token_ring()
    chosen = [item for item in ring if item[0] == kid]
    if not chosen:
        raise SystemExit(f"no token key {kid!r}; keys: {', '.join(k for k, _ in ring)}")
    store.put_ring(chosen + [item for item in ring if item[0] != kid])


def retire_token_key(store: SecretStore, kid: str) -> None:
    """Step 3, once links signed with ``kid`` may expire: they stop verifying."""
    ring = store.token_ring()
    if ring[0][0] == kid:
        raise SystemExit(f"{kid} is the signing key: promote another one first")
    remaining = [item for item in ring if item[0] != kid]
    if len(remaining) == len(ring):
        raise SystemExit(f"no token key {kid!r}")
    store.put_ring(remaining)


def rotate_operator_key(store: SecretStore) -> None:
    store.put("operator_key", _random(), overwrite=True)


def main(argv: list[str] | None = None, client: Any = None, now: datetime | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.operator_secrets", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["init", "show", "add-token-key", "promote-token-key",
                                            "retire-token-key", "rotate-operator-key"])  # fmt: skip
    parser.add_argument("kid", nargs="?", help="token key id (promote/retire)")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--region", help="default: the stage's region in infra/config.json")
    args = parser.parse_args(argv)
    if client is None:
        import boto3

        from infra.config import load_stage

        client = boto3.client("ssm", region_name=args.region or load_stage(args.stage).region)
    store = SecretStore(args.stage, client)
    now = now or datetime.now(UTC)
    restart = "then bump secrets_version in infra/config.json and deploy (docs/DEPLOY.md)"
    if args.command == "init":
        print("\n".join(init(store, now)))
        print(
            f"read the operator key: aws ssm get-parameter --with-decryption --name {store.name('operator_key')}"
        )
    elif args.command == "show":
        print("\n".join(show(store)))
    elif args.command == "add-token-key":
        print(f"added token key {add_token_key(store, now)} (verifies only); {restart}")
    elif args.command in ("promote-token-key", "retire-token-key"):
        if not args.kid:
            parser.error(f"{args.command} needs the key id")
        action = promote_token_key if args.command == "promote-token-key" else retire_token_key
        action(store, args.kid)
        print(f"{args.command.split('-')[0]}d {args.kid}; {restart}")
    else:
        rotate_operator_key(store)
        print(f"new operator key stored in {store.name('operator_key')}; {restart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
