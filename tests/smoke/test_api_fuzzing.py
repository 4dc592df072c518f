"""Schemathesis fuzzes every ``/v1`` operation of ``docs/openapi.yaml`` against the real local stack.

The document is fetched from the running API (``GET /openapi.yaml``), so what is fuzzed is
what is served. Phases ``examples`` (each operation's documented example), ``fuzzing``
(valid and invalid inputs) and ``stateful`` (chains along the document's links: create a
client, then read, patch, export and erase it; create a campaign, then preview, send, pause
and report on it). The ``coverage`` phase is skipped: it sends TRACE, which ``chalice local``
answers itself with 501.

Checks: no 5xx; every status code, content type and body is the one the document gives for
that operation. Account operations run with a fresh account's key, operator operations with
the operator key. Zero failures are allowed, and the API's own log must hold no unhandled
error either (that also covers requests the checks cannot see, e.g. the workers').

Bounded: ``PERMESSO_FUZZ_EXAMPLES`` cases per operation and phase (default 25 for the
documented examples, 12 for the fuzzing phase) and a fixed seed (``PERMESSO_FUZZ_SEED``), so
a run is repeatable; a failure prints the reproducing curl.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.smoke.test_local_stack import HTTP_TIMEOUT, OPERATOR_KEY, Stack, stack  # noqa: F401

pytestmark = pytest.mark.smoke

RUN_FIRST = 155  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

EXAMPLES = int(os.environ.get("PERMESSO_FUZZ_EXAMPLES", "25"))
# The fuzzing phase's budget per operation was 25 too. The account run, this seed, measured
# side by side (2026-12): 12, 25 and 50 cases per operation generated 897, 1,231 and 2,201 cases
# in all and found nothing at any budget (every check passed; the same warnings), while the
# fuzzing phase took about 26, 58 and 111 s. The larger budgets found nothing more, so this
# phase runs 12; PERMESSO_FUZZ_EXAMPLES still widens a local run (both phases).
FUZZING_EXAMPLES = int(os.environ.get("PERMESSO_FUZZ_EXAMPLES", "12"))
SCENARIOS = int(os.environ.get("PERMESSO_FUZZ_SCENARIOS", "150"))
STEPS = 10
SEED = os.environ.get("PERMESSO_FUZZ_SEED", "20261124")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
OPERATOR_PATHS = "^/v1/accounts"
RUN_TIMEOUT = 600


def schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is in requirements-dev.txt"
    return found


def config(workdir: Path, scenarios: int) -> Path:
    """Per-phase budgets (the CLI's --max-examples would set one number for every phase)."""
    path = workdir / "schemathesis.toml"
    path.write_text(
        f"""
[phases.examples.generation]
max-examples = {EXAMPLES}

[phases.fuzzing.generation]
max-examples = {FUZZING_EXAMPLES}

[phases.stateful]
max-steps = {STEPS}

[phases.stateful.generation]
max-examples = {scenarios}
"""
    )
    return path


def fuzz(local: Stack, key: str, selection: list[str], workdir: Path, name: str, scenarios: int) -> None:
    reports = workdir / name
    command = [
        schemathesis(),
        "--config-file",
        str(config(workdir, scenarios)),
        "run",
        f"{local.api}/openapi.yaml",
        "--url",
        local.api,
        "--header",
        f"Authorization: Bearer {key}",
        "--phases",
        "examples,fuzzing,stateful",
        "--checks",
        CHECKS,
        "--seed",
        SEED,
        "--workers",
        "2",
        # As for Hypothesis in tests/conftest.py: on a shared 2-core machine input generation is
        # slow at times, and "too slow" would stop a run that found nothing wrong. Every
        # generated case still runs and every check still applies.
        "--suppress-health-check",
        "too_slow",
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(reports),
        *selection,
    ]
    done = subprocess.run(
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    output = done.stdout + done.stderr
    (workdir / f"{name}.txt").write_text(output)
    assert done.returncode == 0, f"schemathesis found failures ({name}):\n{output[-20000:]}"
    assert "generated" in output, output  # it ran cases, it did not merely load the document


def new_account(local: Stack) -> dict[str, Any]:
    response = requests.post(
        f"{local.api}/v1/accounts",
        json={"name": "Fuzz Clinic", "sender_email": "hello@fuzz-clinic.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_account_operations_survive_fuzzing(stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    account = new_account(stack)
    fuzz(stack, account["api_key"], ["--exclude-path-regex", OPERATOR_PATHS], tmp_path, "account", SCENARIOS)


def test_operator_operations_survive_fuzzing(stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    # Two operations and one link: a few scenarios cover them (each creates accounts).
    fuzz(stack, OPERATOR_KEY, ["--include-path-regex", OPERATOR_PATHS], tmp_path, "operator", 20)


def test_the_api_logged_no_unhandled_error(stack: Stack) -> None:  # noqa: F811
    log = stack.output()
    unhandled = [line for line in log.splitlines() if "unhandled error" in line or "Traceback" in line]
    assert not unhandled, "\n".join(unhandled[:5])
