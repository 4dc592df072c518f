"""Known-vulnerability check of Permesso's dependencies (``make audit``, part of ``make lint``).

Two sources, used in this order:

1. **pip-audit** against PyPI's vulnerability data, when that service answers
   for a pinned release (``https://pypi.org/pypi/<name>/<version>/json``).
   It runs with ``--strict``: a pin the service cannot look up fails the
   check, because without it pip-audit skips such a pin and still reports
   "no known vulnerabilities".
2. Otherwise (no network, or only a package index reachable) the **offline
   snapshot** shipped by the ``safety-db`` package: every pin of the
   requirements files, and every distribution installed in this environment,
   is matched against its advisory specifiers with ``packaging``. The
   snapshot is dated and never updated; its date is printed on every run so
   nobody mistakes a pass for a current audit.

Exit status: 0 when nothing matched, 1 when a vulnerable release is pinned or
installed (each one is listed), 2 when the requirements cannot be read.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess  # nosec B404
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
PYPI_RELEASE_URL = "https://pypi.org/pypi/{name}/{version}/json"
PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503) name
    version: str
    origin: str  # "requirements.txt:4", "installed"


@dataclass(frozen=True)
class Finding:
    pin: Pin
    advisory_id: str
    specifier: str
    summary: str


@dataclass(frozen=True)
class AdvisoryDatabase:
    """Advisories by canonical package name: ``[(id, specifier set, summary)]``."""

    advisories: dict[str, list[tuple[str, str, str]]]
    snapshot: datetime | None

    def findings(self, pins: Iterable[Pin]) -> list[Finding]:
        found = []
        for pin in pins:
            try:
                version = Version(pin.version)
            except InvalidVersion:
                continue  # not a PEP 440 version: no specifier can match it
            for advisory_id, spec, summary in self.advisories.get(pin.name, []):
                if _matches(spec, version):
                    found.append(Finding(pin, advisory_id, spec, summary))
        return found


def _matches(spec: str, version: Version) -> bool:
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


# --- requirements --------------------------------------------------------------------------


class RequirementsError(ValueError):
    pass


def read_pins(path: Path, seen: set[Path] | None = None) -> list[Pin]:
    """``name==version`` pins of a requirements file, following ``-r`` includes.

    Any requirement that is not an exact pin is an error: an audit of a range
    says nothing about what gets installed.
    """
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    pins: list[Pin] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = re.match(r"^(-r|--requirement)\s*(\S+)$", line)
        if include:
            pins.extend(read_pins(path.parent / include.group(2), seen))
            continue
        if line.startswith("-"):
            continue  # index and install options carry no package
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise RequirementsError(f"{path.name}:{number}: {exc}") from None
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "==="):
            raise RequirementsError(f"{path.name}:{number}: {line!r} is not pinned to one version")
        pins.append(Pin(canonicalize_name(requirement.name), specs[0].version, f"{path.name}:{number}"))
    return pins


def installed_pins() -> list[Pin]:
    pins = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pins[canonicalize_name(name)] = Pin(canonicalize_name(name), dist.version, "installed")
    return sorted(pins.values(), key=lambda pin: pin.name)


# --- the offline snapshot ------------------------------------------------------------------


def load_safety_db() -> AdvisoryDatabase:
    """The advisories of the installed ``safety-db`` package (read as data files: its own
    module opens them relative to the working directory)."""
    spec = importlib.util.find_spec("safety_db")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the safety-db package is not installed (make venv installs it)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    full = json.loads((folder / "insecure_full.json").read_text(encoding="utf-8"))
    return parse_safety_db(full)


def parse_safety_db(full: dict[str, object]) -> AdvisoryDatabase:
    meta = full.get("$meta")
    snapshot = None
    if isinstance(meta, dict) and isinstance(meta.get("timestamp"), int | float):
        snapshot = datetime.fromtimestamp(meta["timestamp"], UTC)
    advisories: dict[str, list[tuple[str, str, str]]] = {}
    for name, entries in full.items():
        if name.startswith("$") or not isinstance(entries, list):
            continue
        bucket = advisories.setdefault(canonicalize_name(name), [])
        for entry in entries:
            summary = " ".join(str(entry.get("advisory") or "").split())[:160]
            ident = str(entry.get("cve") or entry.get("id") or "unknown")
            for spec in entry.get("specs") or [entry.get("v") or ""]:
                if spec:
                    bucket.append((ident, str(spec), summary))
    return AdvisoryDatabase(advisories=advisories, snapshot=snapshot)


# --- the online service --------------------------------------------------------------------


def service_reachable(pin: Pin, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Does PyPI's per-release JSON API (pip-audit's vulnerability source) answer?"""
    url = PYPI_RELEASE_URL.format(name=pin.name, version=pin.version)
    try:
        # A fixed https:// URL (no file: or other scheme can reach it).
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310
            return bool(response.status == 200 and "vulnerabilities" in json.load(response))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def run_pip_audit(requirement_files: Iterable[Path]) -> int:
    executable = shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or shutil.which("pip-audit")
    if executable is None:
        print("audit: pip-audit is not installed", file=sys.stderr)
        return 2
    command = [executable, "--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off"]
    for path in requirement_files:
        command += ["-r", str(path)]
    return subprocess.run(command, check=False).returncode  # nosec B603


# --- the check -----------------------------------------------------------------------------


def offline_report(database: AdvisoryDatabase, pins: list[Pin]) -> tuple[int, list[str]]:
    date = database.snapshot.date().isoformat() if database.snapshot else "unknown date"
    lines = [
        f"audit: offline advisory snapshot safety-db, dated {date} — NOT a current audit; "
        "advisories published after that date are not known to this check",
        f"audit: {len({(p.name, p.version) for p in pins})} pinned or installed releases checked",
    ]
    findings = database.findings(pins)
    for finding in sorted(findings, key=lambda f: (f.pin.name, f.advisory_id)):
        lines.append(
            f"VULNERABLE {finding.pin.name}=={finding.pin.version} ({finding.pin.origin}): "
            f"{finding.advisory_id} affects {finding.specifier} — {finding.summary}"
        )
    if not findings:
        lines.append("audit: no pinned or installed release matches an advisory of the snapshot")
    return (1 if findings else 0), lines


def _unique(pins: Iterable[Pin]) -> Iterator[Pin]:
    seen = set()
    for pin in pins:
        if (pin.name, pin.version, pin.origin) not in seen:
            seen.add((pin.name, pin.version, pin.origin))
            yield pin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("requirements", nargs="*", type=Path, default=list(REQUIREMENTS))
    parser.add_argument("--offline", action="store_true", help="skip the online service, use the snapshot")
    parser.add_argument(
        "--no-installed", action="store_true", help="check the requirements files only, not this environment"
    )
    args = parser.parse_args(argv)
    try:
        pins = [pin for path in args.requirements for pin in read_pins(path)]
    except (OSError, RequirementsError) as exc:
        print(f"audit: cannot read the requirements: {exc}", file=sys.stderr)
        return 2
    if not pins:
        print("audit: no pinned requirement found", file=sys.stderr)
        return 2
    if not args.offline and service_reachable(pins[0]):
        print("audit: PyPI's vulnerability service answers; running pip-audit --strict")
        return run_pip_audit(args.requirements)
    print("audit: PyPI's vulnerability service is not reachable from here; using the offline snapshot")
    if not args.no_installed:
        pins += installed_pins()
    status, lines = offline_report(load_safety_db(), list(_unique(pins)))
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
