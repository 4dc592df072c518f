"""The Lambda package: locked, built for python3.12 on arm64, and reproducible."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from infra.lambda_package import (
    BOTOCORE_SERVICES,
    BUILD_DIR,
    LOCK,
    ROOT,
    TARGET,
    build,
    check_reproducible,
    lock_problems,
    manifest,
    read_lock,
    runtime_python,
    same_python_on,
)


def test_the_lock_implements_requirements_for_the_lambda_platform() -> None:
    assert lock_problems() == []
    locked = read_lock()
    assert {"pydantic-core", "markupsafe", "botocore"} <= set(locked)  # transitive ones are locked too
    assert all(entry.hashes for entry in locked.values())
    for absent in ("pyyaml", "flask", "werkzeug", "click", "blinker", "flask-swagger-ui"):
        assert absent not in locked, absent
    assert f"--python-platform {TARGET.uv_platform}" in LOCK.read_text()


def test_a_changed_pin_makes_the_lock_stale(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    text = (ROOT / "requirements.txt").read_text().replace("pydantic==2.14.3", "pydantic==2.14.2")
    requirements.write_text(text + "\nnewthing==1.0\n")
    problems = lock_problems(requirements, LOCK)
    assert "pydantic==2.14.2 of requirements.txt is 2.14.3 in requirements.lock" in problems
    assert "newthing==1.0 of requirements.txt is missing from requirements.lock" in problems


def test_the_package_holds_arm64_python312_wheels_and_no_web_framework(tmp_path: Path) -> None:
    package = build(tmp_path / "deployment.zip")
    names = set(manifest(package))
    native = [n for n in names if n.endswith(".so")]
    # CPython extensions name their interpreter and platform; stable-ABI ones (``.abi3.so``,
    # argon2's and cffi's) do not, so every one is also checked to be an AArch64 ELF file.
    assert native and all("cpython-312-aarch64-linux-gnu" in n for n in native if ".cpython-" in n), native
    with zipfile.ZipFile(package) as archive:
        for name in native:
            header = archive.read(name)[:20]
            assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183, name
    for absent in ("flask/", "werkzeug/", "yaml/", "_yaml/", "blinker/", "click/"):
        assert not any(n.startswith(absent) for n in names), absent
    assert {"app.py", "chalice/app.py", "chalicelib/openapi/openapi.json"} <= names
    assert "chalicelib/openapi/swagger-ui/swagger-ui-bundle.js" in names
    assert not any(n.startswith("bin/") for n in names)
    for name in (n for n in names if n.endswith(".pyc")):  # only the runtime's, one per module
        cached = PurePosixPath(name)
        assert cached.parent.name == "__pycache__" and cached.name.endswith(".cpython-312.pyc"), name
        assert str(cached.parent.parent / (cached.name.split(".")[0] + ".py")) in names, name
    with zipfile.ZipFile(package) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    services = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 3}
    assert services == BOTOCORE_SERVICES
    if runtime_python() is not None:  # bytecode for the runtime, found where Lambda's importer looks
        assert "chalicelib/api/__pycache__/edge.cpython-312.pyc" in names
        assert "botocore/__pycache__/client.cpython-312.pyc" in names


def test_every_aws_service_the_code_calls_keeps_its_botocore_model() -> None:
    called = {"dynamodb"}  # PynamoDB's
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        called |= set(re.findall(r"(?:create_client|boto3\.client)\(\s*\"([a-z0-9-]+)\"", text))
    assert called == BOTOCORE_SERVICES, "a new AWS client: add its service to BOTOCORE_SERVICES"


def test_the_package_runs_on_python312(tmp_path: Path) -> None:
    """The package for this machine's CPU (same Python, same lock) imported by a python3.12 with
    nothing else on its path: the app serves a page, and every kept service's client is created."""
    python = runtime_python()
    if python is None:
        pytest.skip("no python3.12 on this machine")
    package = build(BUILD_DIR / "deployment-x86_64.zip", target=same_python_on("x86_64"))  # cached
    task = tmp_path / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task)
    event = {
        "resource": "/docs/reference",
        "path": "/docs/reference",
        "httpMethod": "GET",
        "headers": {"Host": "x"},
        "multiValueHeaders": {"Host": ["x"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/docs/reference",
            "httpMethod": "GET",
            "path": "/api/docs/reference",
            "stage": "api",
            "requestId": "r1",
        },
        "body": None,
        "isBase64Encoded": False,
    }
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(task)!r})\n"
        "import app\n"
        f"response = app.app({event!r}, None)\n"
        "import botocore.session\n"
        "session = botocore.session.get_session()\n"
        f"clients = [session.create_client(s, region_name='eu-central-1') for s in {sorted(BOTOCORE_SERVICES)!r}]\n"
        "print(json.dumps({'status': response['statusCode'], 'version': sys.version_info[:2], "
        "'yaml': 'yaml' in sys.modules, 'flask': 'flask' in sys.modules, 'clients': len(clients)}))\n"
    )
    result = subprocess.run(
        [python, "-I", "-B", "-c", script],
        cwd=task,
        env={"PERMESSO_STAGE": "prod", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "status": 200,
        "version": [3, 12],
        "yaml": False,
        "flask": False,
        "clients": len(BOTOCORE_SERVICES),
    }


def test_two_builds_are_byte_for_byte_the_same() -> None:
    assert check_reproducible() == []
