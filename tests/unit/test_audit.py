"""The dependency audit of ``make audit``: pins are read exactly, the offline advisory
snapshot flags known-vulnerable releases and passes the project's own pins, and the
online service is used only when it really answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools import audit


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pins_follow_includes_and_normalise_names(tmp_path: Path) -> None:
    write(tmp_path, "base.txt", "# runtime\nJinja2==3.1.6\npython_ulid==4.1.0  # ids\n")
    dev = write(tmp_path, "dev.txt", "-r base.txt\n--find-links wheels\nmoto[server]==5.2.5\n")
    pins = audit.read_pins(dev)
    assert [(p.name, p.version, p.origin) for p in pins] == [
        ("jinja2", "3.1.6", "base.txt:2"),
        ("python-ulid", "4.1.0", "base.txt:3"),
        ("moto", "5.2.5", "dev.txt:3"),
    ]


@pytest.mark.parametrize("line", ["jinja2>=3", "jinja2", "jinja2==3.1.6,!=3.1.5", "jinja2~=3.1"])
def test_an_unpinned_requirement_is_an_error(tmp_path: Path, line: str) -> None:
    with pytest.raises(audit.RequirementsError, match="not pinned"):
        audit.read_pins(write(tmp_path, "r.txt", f"{line}\n"))


@pytest.mark.parametrize(
    ("pin", "advisory"),
    [("jinja2==2.10", "CVE-2020-28493"), ("pyyaml==5.3", "CVE-2020-14343"), ("PyYAML==5.3", "CVE-2020-1747")],
)
def test_the_snapshot_flags_known_vulnerable_pins(tmp_path: Path, pin: str, advisory: str) -> None:
    pins = audit.read_pins(write(tmp_path, "r.txt", f"{pin}\n"))
    status, lines = audit.offline_report(audit.load_safety_db(), pins)
    assert status == 1
    assert any(line.startswith("VULNERABLE") and advisory in line for line in lines), lines


def test_the_snapshot_passes_the_project_pins() -> None:
    pins = [pin for path in audit.REQUIREMENTS for pin in audit.read_pins(path)]
    assert {"jinja2", "pyyaml", "pydantic", "moto", "pip-audit", "safety-db"} <= {p.name for p in pins}
    status, lines = audit.offline_report(audit.load_safety_db(), pins)
    assert status == 0, lines


def test_the_snapshot_is_dated_in_the_report() -> None:
    database = audit.load_safety_db()
    assert database.snapshot is not None and database.snapshot.year == 2021
    assert len(database.advisories) > 1000
    _, lines = audit.offline_report(database, [])
    assert f"dated {database.snapshot.date().isoformat()}" in lines[0] and "NOT a current audit" in lines[0]


def test_specifiers_match_like_pip(tmp_path: Path) -> None:
    database = audit.parse_safety_db(
        {
            "$meta": {"timestamp": 1625119202},
            "Some_Pkg": [{"id": "x-1", "cve": None, "specs": [">=1.0,<1.4", "<0.9"], "advisory": "bad"}],
        }
    )
    pins = [
        audit.Pin("some-pkg", version, "t") for version in ("0.8", "0.9", "1.0", "1.3.9", "1.4", "1.3rc1")
    ]
    assert [f.pin.version for f in database.findings(pins)] == ["0.8", "1.0", "1.3.9", "1.3rc1"]


def test_without_the_service_the_offline_snapshot_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(audit, "service_reachable", lambda pin: False)
    monkeypatch.setattr(audit, "run_pip_audit", lambda files: pytest.fail("pip-audit must not run offline"))
    bad = write(tmp_path, "r.txt", "jinja2==2.10\n")
    assert audit.main([str(bad), "--no-installed"]) == 1
    assert "VULNERABLE jinja2==2.10" in capsys.readouterr().out
    good = write(tmp_path, "ok.txt", "jinja2==3.1.6\n")
    assert audit.main([str(good), "--no-installed"]) == 0


def test_with_the_service_pip_audit_runs_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(audit, "service_reachable", lambda pin: True)
    monkeypatch.setattr(audit, "run_pip_audit", lambda files: calls.append(list(files)) or 0)
    req = write(tmp_path, "r.txt", "jinja2==3.1.6\n")
    assert audit.main([str(req)]) == 0 and calls == [[req]]
    assert audit.main([str(req), "--offline", "--no-installed"]) == 0 and len(calls) == 1


def test_a_failing_probe_means_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, timeout: float) -> Any:
        assert url == "https://pypi.org/pypi/jinja2/3.1.6/json"
        raise OSError("no route")

    monkeypatch.setattr(audit.urllib.request, "urlopen", refuse)
    assert audit.service_reachable(audit.Pin("jinja2", "3.1.6", "t")) is False


def test_unreadable_requirements_exit_2(tmp_path: Path) -> None:
    assert audit.main([str(tmp_path / "missing.txt")]) == 2
    assert audit.main([str(write(tmp_path, "r.txt", "jinja2>=3\n"))]) == 2
