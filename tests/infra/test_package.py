"""The Lambda package: locked, built for python3.12 on arm64, and reproducible."""

from __future__ import annotations

import zipfile
from pathlib import Path

from infra.lambda_package import (
    LOCK,
    ROOT,
    TARGET,
    build,
    check_reproducible,
    lock_problems,
    manifest,
    read_lock,
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
    assert native and all("cpython-312-aarch64-linux-gnu" in n for n in native), native[:5]
    for absent in ("flask/", "werkzeug/", "yaml/", "_yaml/", "blinker/", "click/"):
        assert not any(n.startswith(absent) for n in names), absent
    assert {"app.py", "chalice/app.py", "chalicelib/openapi/openapi.json"} <= names
    assert "chalicelib/openapi/swagger-ui/swagger-ui-bundle.js" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith("bin/") for n in names)
    with zipfile.ZipFile(package) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_two_builds_are_byte_for_byte_the_same() -> None:
    assert check_reproducible() == []
