"""Test environment shared by every suite.

Settings are read once and PynamoDB binds table names at import, so the
environment is fixed here, before anything from ``chalicelib`` is imported.
``AWS_ENDPOINT_URL`` would send moto-mocked calls to a real endpoint: unset it.
"""

from __future__ import annotations

import os

import pytest

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

# The emulator patches of the local stack (local/emulator.py), in every test process: DynamoDB's
# transaction isolation under threads, transactions that undo only their own items (moto copies
# whole tables), direct JSON read responses (each proven against moto's own behaviour in
# tests/integration/test_emulator.py), SES identities with Easy DKIM tokens and MAIL FROM.
import importlib.util  # noqa: E402

if importlib.util.find_spec("moto") is not None:  # the infra suite's environment has no emulator
    from moto.core.config import default_user_config

    from local.emulator import install

    install()
    # moto gives boto3 a new default session whenever a mock starts, and every new session
    # loads botocore's endpoint and service data again (a tenth of a second of CPU for each
    # test's first client). One session serves them all: the credentials are the fake ones
    # set above, and moto intercepts every session's requests alike.
    default_user_config["core"]["reset_boto3_session"] = False

# chalice.test.Client routes as the deployed API does: greedy /p/{proxy+}, and an unknown route
# answered by the Gateway Response (a JSON 404), as in the local stack (local/api.py).
from local.gateway import install as install_gateway  # noqa: E402

install_gateway()


# Parallel workers on a shared 2-core machine make input generation slow at times: Hypothesis's
# "too slow" health check would then fail a test that found nothing wrong. Every example still
# runs and every property is still checked; only that timing check is off, and no deadline.
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings
except ImportError:  # the infra suite's environment
    pass
else:
    hypothesis_settings.register_profile(
        "permesso", suppress_health_check=[HealthCheck.too_slow], deadline=None
    )
    hypothesis_settings.load_profile("permesso")


def _run_first(item: pytest.Item) -> float:
    return float(getattr(getattr(item, "module", None), "RUN_FIRST", 0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadfile``) each test file runs in order on one worker, so
    a smoke module's tests share one local stack, and the longest file bounds the run. Modules
    that say ``RUN_FIRST = <seconds>`` (their tests' seconds summed in a whole parallel run on a
    busy machine; the longest files) are handed out first, longest first, so that none of them
    starts last; the Makefile's ``--no-loadscope-reorder`` keeps that order. The sort is stable: file order stays as is."""
    if not items or not items[0].config.pluginmanager.hasplugin("xdist"):
        return
    items.sort(key=lambda item: -_run_first(item))
