"""Test environment shared by every suite.

Settings are read once and PynamoDB binds table names at import, so the
environment is fixed here, before anything from ``chalicelib`` is imported.
``AWS_ENDPOINT_URL`` would send moto-mocked calls to a real endpoint: unset it.
"""

from __future__ import annotations

import os

for _name in ("AWS_ENDPOINT_URL", "PERMESSO_AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "PERMESSO_STAGE": "test",
        "PERMESSO_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PERMESSO_OPERATOR_KEY": "test-operator-key",
        "PERMESSO_TOKEN_KEYS": "k1:test-token-signing-secret-0001,k0:test-token-signing-secret-0000",
        "PERMESSO_EMAIL_HASH_KEY": "test-email-hash-key-000000000001",
        "PERMESSO_PUBLIC_BASE_URL": "https://permesso.test",
        "POWERTOOLS_METRICS_NAMESPACE": "Permesso",
        "POWERTOOLS_DEV": "false",
    }
)

# moto's DynamoDB transactions are not isolated across threads (a failed one restores a
# snapshot over other threads' writes), and its SES identities lack Easy DKIM tokens and
# MAIL FROM: local/emulator.py makes it answer like AWS.
import importlib.util  # noqa: E402

if importlib.util.find_spec("moto") is not None:  # the infra suite's environment has no emulator
    from local.emulator import patch_emulator

    patch_emulator()
