"""The cloud's secrets loader (``chalicelib.secrets``) against moto's SSM, and the
settings built from it (``config.with_secrets``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import SECRET_FIELDS, Settings, with_secrets

REGION = "eu-central-1"
PATH = "/permesso/prod"
VALUES = {
    "operator_key": "op-key-from-ssm",
    "token_keys": "k2:new-signing-secret,k1:old-signing-secret",
    "email_hash_key": "hash-key-from-ssm",
}


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ssm", region_name=REGION)
        for field, value in VALUES.items():
            client.put_parameter(Name=f"{PATH}/{field}", Value=value, Type="SecureString")
        yield client


def cloud_environ(**extra: str) -> dict[str, str]:
    return {"PERMESSO_STAGE": "prod", "AWS_REGION": REGION, "PERMESSO_SECRETS_PARAMETER_PATH": PATH, **extra}


def test_loads_every_secret_decrypted(ssm: Any) -> None:
    from chalicelib.secrets import load_secrets

    assert load_secrets(PATH, SECRET_FIELDS, region=REGION) == VALUES


def test_loads_only_the_listed_secrets(ssm: Any) -> None:
    from chalicelib.secrets import load_secrets

    assert load_secrets(PATH + "/", ["token_keys"], region=REGION) == {"token_keys": VALUES["token_keys"]}
    assert load_secrets(PATH, [], region=REGION) == {}


def test_missing_parameter_is_named_and_no_value_is_shown(ssm: Any) -> None:
    from chalicelib.secrets import SecretsUnavailable, load_secrets

    ssm.delete_parameter(Name=f"{PATH}/email_hash_key")
    with pytest.raises(SecretsUnavailable) as info:
        load_secrets(PATH, SECRET_FIELDS, region=REGION)
    message = str(info.value)
    assert f"{PATH}/email_hash_key" in message
    assert all(value not in message for value in VALUES.values())


def test_unknown_secret_name_is_refused_before_any_call() -> None:
    from chalicelib.secrets import SecretsUnavailable, load_secrets

    with pytest.raises(SecretsUnavailable, match="unknown secrets"):
        load_secrets(PATH, ["operator_key", "database_password"], region=REGION)


def test_settings_take_the_secrets_from_ssm(ssm: Any) -> None:
    environ = cloud_environ(PERMESSO_OPERATOR_KEY="stale-env-value")
    settings = Settings.from_environ(with_secrets(environ))
    assert settings.stage == "prod"
    assert settings.secrets_parameter_path == PATH
    assert settings.require("operator_key") == VALUES["operator_key"]  # SSM wins over the env
    assert settings.require("token_keys") == VALUES["token_keys"]
    assert settings.require("email_hash_key") == VALUES["email_hash_key"]


def test_a_function_gets_only_its_own_secrets(ssm: Any) -> None:
    settings = Settings.from_environ(with_secrets(cloud_environ(PERMESSO_SECRETS="email_hash_key")))
    assert settings.require("email_hash_key") == VALUES["email_hash_key"]
    assert settings.operator_key is None
    assert settings.token_keys is None
    empty = Settings.from_environ(with_secrets(cloud_environ(PERMESSO_SECRETS="")))
    assert (empty.operator_key, empty.token_keys, empty.email_hash_key) == (None, None, None)


def test_without_the_path_nothing_is_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local stack and tests: the environment is used as is and the loader is never imported."""
    monkeypatch.delitem(sys.modules, "chalicelib.secrets", raising=False)
    environ = {"PERMESSO_STAGE": "local", "PERMESSO_TOKEN_KEYS": "k1:local-secret"}
    assert with_secrets(environ) is environ
    assert "chalicelib.secrets" not in sys.modules
    assert Settings.from_environ(with_secrets(environ)).require("token_keys") == "k1:local-secret"


def test_a_missing_parameter_stops_the_cold_start(ssm: Any) -> None:
    from chalicelib.secrets import SecretsUnavailable

    ssm.delete_parameter(Name=f"{PATH}/operator_key")
    with pytest.raises(SecretsUnavailable, match="operator_key"):
        with_secrets(cloud_environ())
