"""The operator's secrets tool (infra/operator_secrets.py) against moto's SSM, read back
through the same loader the Lambda functions use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import SECRET_FIELDS, Settings, with_secrets
from chalicelib.domain.signing import KeyRing, sign, verify
from infra.operator_secrets import SecretStore, main

REGION = "eu-central-1"
DAY1 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY2 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def run(ssm: Any, *argv: str, now: datetime = DAY1) -> int:
    return main([*argv, "--stage", "prod"], client=ssm, now=now)


def ring(ssm: Any) -> KeyRing:
    value = SecretStore("prod", ssm).get("token_keys")
    assert value is not None
    return KeyRing.parse(value)


def lambda_settings() -> Settings:
    return Settings.from_environ(
        with_secrets(
            {
                "PERMESSO_STAGE": "prod",
                "AWS_REGION": REGION,
                "PERMESSO_SECRETS_PARAMETER_PATH": "/permesso/prod",
            }
        )
    )


def test_init_creates_every_secret_once_and_never_prints_them(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(ssm, "init") == 0
    store = SecretStore("prod", ssm)
    values = {field: store.get(field) for field in SECRET_FIELDS}
    assert all(values.values())
    first = capsys.readouterr().out
    assert all(value not in first for value in values.values() if value)
    for field in SECRET_FIELDS:
        parameter = ssm.get_parameter(Name=f"/permesso/prod/{field}")["Parameter"]
        assert parameter["Type"] == "SecureString"
    assert run(ssm, "init") == 0  # idempotent: nothing is replaced
    assert {field: store.get(field) for field in SECRET_FIELDS} == values
    assert capsys.readouterr().out.count("kept") == len(SECRET_FIELDS)
    settings = lambda_settings()  # what a cold start reads
    assert settings.require("operator_key") == values["operator_key"]
    assert ring(ssm).active == "k20261124"


def test_token_key_rotation_keeps_old_links_valid_until_retired(ssm: Any) -> None:
    run(ssm, "init")
    old_ring = ring(ssm)
    old_token = sign(old_ring, "cta", b"payload")

    run(ssm, "add-token-key", now=DAY2)  # step 1: the new key only verifies
    step1 = ring(ssm)
    assert step1.active == "k20261124" and "k20270201" in step1.keys
    assert verify(step1, "cta", old_token) == b"payload"

    run(ssm, "promote-token-key", "k20270201")  # step 2: it signs
    step2 = ring(ssm)
    assert step2.active == "k20270201"
    new_token = sign(step2, "cta", b"payload")
    assert verify(step2, "cta", old_token) == b"payload"
    assert verify(step1, "cta", new_token) == b"payload"  # a container still on step 1 accepts it

    with pytest.raises(SystemExit, match="signing key"):
        run(ssm, "retire-token-key", "k20270201")
    run(ssm, "retire-token-key", "k20261124")  # step 3
    step3 = ring(ssm)
    assert list(step3.keys) == ["k20270201"]
    assert verify(step3, "cta", old_token) is None
    assert verify(step3, "cta", new_token) == b"payload"


def test_two_new_keys_on_one_day_get_distinct_ids(ssm: Any) -> None:
    run(ssm, "init")
    run(ssm, "add-token-key")
    assert sorted(ring(ssm).keys) == ["k20261124", "k20261124n2"]


def test_operator_key_rotation_and_show(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ssm, "init")
    store = SecretStore("prod", ssm)
    before = store.get("operator_key")
    run(ssm, "rotate-operator-key")
    assert store.get("operator_key") not in (None, before)
    capsys.readouterr()
    run(ssm, "show")
    out = capsys.readouterr().out
    assert "/permesso/prod/email_hash_key: present" in out
    assert "token key ids: k20261124" in out
    assert str(store.get("operator_key")) not in out


def test_show_reports_missing_secrets(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ssm, "show")
    assert capsys.readouterr().out.count("MISSING") == len(SECRET_FIELDS)
    with pytest.raises(SystemExit, match="run init first"):
        run(ssm, "add-token-key")
