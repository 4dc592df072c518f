"""The platform's secrets from SSM Parameter Store, fetched once per cold start.

In the cloud the operator key, the token-signing keys and the e-mail hash
key are SecureString parameters ``<path>/<field>`` (``/permesso/<stage>/…``,
created by the operator, see docs/DEPLOY.md); ``config.with_secrets`` calls
``load_secrets`` once, before ``Settings`` is built, and ``get_settings``
caches the result for the life of the Lambda container.  A rotated value
reaches a function at its next cold start (a deploy recycles them all).

botocore is imported here, lazily: the local stack and the tests never load
this module, and botocore's session is already paid for by PynamoDB, so the
cloud cold start pays only the one ``GetParameters`` call (no boto3 import).
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config import SECRET_FIELDS

_MAX_NAMES_PER_CALL = 10  # the GetParameters limit


class SecretsUnavailable(RuntimeError):
    """A configured secret cannot be read: the function must not start half-configured."""


def parameter_name(path: str, field: str) -> str:
    return f"{path.rstrip('/')}/{field}"


def load_secrets(
    path: str, fields: Sequence[str], *, region: str, endpoint_url: str | None = None
) -> dict[str, str]:
    """The decrypted values of ``fields`` under ``path``, by field name.

    Raises ``SecretsUnavailable`` naming the parameters (never their values)
    when one is unknown or missing, so a misconfigured deploy fails at its
    first cold start with a message that says what to create.
    """
    unknown = sorted(set(fields) - set(SECRET_FIELDS))
    if unknown:
        raise SecretsUnavailable(f"unknown secrets {unknown}: expected some of {list(SECRET_FIELDS)}")
    if not fields:
        return {}
    if len(fields) > _MAX_NAMES_PER_CALL:  # cannot happen with SECRET_FIELDS; keeps the call valid
        raise SecretsUnavailable(f"at most {_MAX_NAMES_PER_CALL} secrets per function")
    import botocore.session

    from chalicelib.aws import client_config

    client = botocore.session.get_session().create_client(
        "ssm", region_name=region, endpoint_url=endpoint_url, config=client_config("ssm")
    )
    by_name = {parameter_name(path, field): field for field in dict.fromkeys(fields)}
    response = client.get_parameters(Names=list(by_name), WithDecryption=True)
    missing = sorted(response.get("InvalidParameters", []))
    if missing:
        raise SecretsUnavailable(f"SSM parameters not found: {missing} (see docs/DEPLOY.md, secrets)")
    return {by_name[item["Name"]]: item["Value"] for item in response["Parameters"]}
