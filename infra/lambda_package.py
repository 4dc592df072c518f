"""The Lambda deployment package: built for the Lambda's platform, hash-verified, reproducible.

The functions run ``python3.12`` on ``arm64`` (Graviton: about 20 % cheaper per GB-second than
x86_64, on Amazon Linux 2023), whatever Python runs the build.  Chalice would package the
dependencies for the interpreter that runs it, so the package is built here instead and the
stack points every function at it (``infra/stack.py``):

1. ``requirements.lock``, resolved from ``requirements.txt`` for exactly this platform with every
   distribution's SHA-256 (``python -m infra.lambda_package lock``, i.e. ``make lock``, runs uv);
2. ``pip download --require-hashes --only-binary=:all:`` of the lock for ``TARGET``'s platform
   tags, into a cache (``infra/.build/``), each wheel checked again against the lock;
3. the wheels unpacked as an installer would (``*.data/purelib`` and ``platlib`` to the root;
   scripts, headers and data left out: nothing runs them), plus ``app.py``, ``chalicelib/``
   (without bytecode caches) and Chalice's two runtime modules, as ``chalice package`` does.
   botocore keeps the models of the services the app calls only (``BOTOCORE_SERVICES``; a test
   greps ``chalicelib`` for every client it creates): the other four hundred are about 17 MiB;
4. every module compiled to bytecode by a Python of the runtime's version
   (``unchecked-hash`` pycs, which embed no timestamp): Lambda's ``/var/task`` is read-only, so
   a package without them compiles botocore, pydantic and PynamoDB on every cold start
   (``bench/cold_start.py`` measures it). Without such an interpreter on the building machine
   (``PERMESSO_LAMBDA_PYTHON``, pyenv's, or ``python3.12`` on the PATH) the package is built
   without bytecode, and says so;
5. written in name order with fixed timestamps and permissions, so one commit gives the same
   bytes on every build (``python -m infra.lambda_package check`` builds twice and compares:
   ``make package-check``, and ``tests/infra/test_package.py``).

    python -m infra.lambda_package build [--out PATH]   # print the package's path and digest
    python -m infra.lambda_package check                # build twice, compare, exit 1 if they differ
    python -m infra.lambda_package lock                 # re-resolve requirements.lock (network)
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import re
import shutil
import subprocess  # nosec B404 — pip and uv of this interpreter, fixed arguments
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
BUILD_DIR = Path(__file__).resolve().parent / ".build"
# Zip entries get this timestamp (zip cannot store earlier) and these permissions, whatever the
# checkout's: the bytes depend on the content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXCLUDED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Files under chalicelib/ that are build bookkeeping, not code (tools/swagger_ui.py's stamp).
EXCLUDED_APP_FILES = frozenset({"chalicelib/openapi/swagger-ui/INTEGRITY"})
# The AWS services the Lambda creates clients for: PynamoDB's DynamoDB, the SES adapter's SESv2,
# the job queue's SQS, the secrets' SSM. botocore's models of every other service stay out.
BOTOCORE_SERVICES = frozenset({"dynamodb", "sesv2", "sqs", "ssm"})


@dataclass(frozen=True)
class Target:
    """The platform the functions run on, in Lambda's, pip's and uv's words."""

    runtime: str  # Lambda's Runtime
    architecture: str  # Lambda's Architectures
    python_version: str  # pip --python-version, uv --python-version
    abi: str  # pip --abi
    pip_platforms: tuple[str, ...]  # pip --platform, each (pip does not widen a manylinux tag)
    uv_platform: str  # uv --python-platform


# Amazon Linux 2023 (the python3.12 runtime) has glibc 2.34.
TARGET = Target(
    runtime="python3.12",
    architecture="arm64",
    python_version="3.12",
    abi="cp312",
    pip_platforms=("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    uv_platform="aarch64-manylinux_2_34",
)


def same_python_on(machine: str) -> Target:
    """``TARGET``'s Python and libraries on another machine (``x86_64``): the package that
    ``bench/cold_start.py`` runs with a local python3.12, since no arm64 CPU is at hand."""
    return Target(
        runtime=TARGET.runtime,
        architecture=machine,
        python_version=TARGET.python_version,
        abi=TARGET.abi,
        pip_platforms=tuple(tag.replace("aarch64", machine) for tag in TARGET.pip_platforms),
        uv_platform=TARGET.uv_platform.replace("aarch64", machine),
    )


class PackageError(Exception):
    """The package cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class Locked:
    name: str  # normalised (PEP 503)
    version: str
    hashes: frozenset[str]  # sha256 hex digests


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, Locked]:
    """``name==version`` entries of a pip/uv lock file with their ``--hash=sha256:`` values."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    entries: dict[str, Locked] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise PackageError(f"{path.name}: cannot read {line!r} (expected name==version --hash=…)")
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        if not hashes:
            raise PackageError(f"{path.name}: {match.group(1)} has no --hash: regenerate it with make lock")
        entries[normalise(match.group(1))] = Locked(normalise(match.group(1)), match.group(2), hashes)
    return entries


def read_pins(path: Path) -> dict[str, str]:
    """The ``name==version`` pins of a requirements file (comments and options skipped)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", line)
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def lock_problems(requirements: Path = ROOT / "requirements.txt", lock: Path = LOCK) -> list[str]:
    """Why ``lock`` does not implement ``requirements`` (empty when it does)."""
    locked = read_lock(lock)
    problems = [
        f"{name}=={version} of {requirements.name} is "
        + (f"{locked[name].version} in {lock.name}" if name in locked else f"missing from {lock.name}")
        for name, version in read_pins(requirements).items()
        if name not in locked or locked[name].version != version
    ]
    header = lock.read_text(encoding="utf-8")[:2000]
    for flag, value in (
        ("--python-version", TARGET.python_version),
        ("--python-platform", TARGET.uv_platform),
    ):
        if f"{flag} {value}" not in header:
            problems.append(f"{lock.name} was not resolved with {flag} {value} (make lock)")
    return problems


def lock(requirements: Path = ROOT / "requirements.txt", out: Path = LOCK) -> None:
    """Re-resolve ``out`` from ``requirements`` for ``TARGET`` with hashes (needs the package index)."""
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(  # nosec B603 — the venv's uv, fixed arguments
        [
            str(uv),
            "pip",
            "compile",
            requirements.name,
            "--python-version",
            TARGET.python_version,
            "--python-platform",
            TARGET.uv_platform,
            "--generate-hashes",
            "--quiet",
            "-o",
            out.name,
        ],
        cwd=requirements.parent,
        check=True,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _wheel_distribution(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return normalise(name), version


def download(lock_path: Path = LOCK, target: Target = TARGET) -> list[Path]:
    """The lock's wheels for ``target``, downloaded (or found in the cache) and hash-checked."""
    locked = read_lock(lock_path)
    cache = BUILD_DIR / f"wheels-{target.abi}-{target.architecture}"
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {(entry.name, entry.version) for entry in locked.values()}
    present = {_wheel_distribution(w): w for w in cache.glob("*.whl")}
    if not wanted <= set(present):
        result = subprocess.run(  # nosec B603 — this interpreter's pip, fixed arguments
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                *(f"--platform={platform}" for platform in target.pip_platforms),
                "--python-version",
                target.python_version,
                "--implementation",
                "cp",
                "--abi",
                target.abi,
                "--dest",
                str(cache),
                "-r",
                str(lock_path),
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PackageError(f"pip download of {lock_path.name} failed:\n{result.stderr.strip()[-2000:]}")
        present = {_wheel_distribution(w): w for w in cache.glob("*.whl")}
    wheels = []
    for key in sorted(wanted):
        wheel = present.get(key)
        if wheel is None:
            raise PackageError(f"no {target.abi} {target.architecture} wheel of {key[0]}=={key[1]}")
        if _sha256(wheel) not in locked[key[0]].hashes:
            raise PackageError(f"{wheel.name}: its SHA-256 is not in {lock_path.name}")
        wheels.append(wheel)
    return wheels


def _kept(name: str) -> bool:
    parts = name.split("/")
    if parts[:2] == ["botocore", "data"] and len(parts) > 3 and parts[2] not in BOTOCORE_SERVICES:
        return False  # a service model (botocore/data/<service>/<version>/…) the app never calls
    return not (EXCLUDED_PARTS & set(parts)) and not name.endswith(EXCLUDED_SUFFIXES)


def _wheel_files(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """What installing ``wheel`` would put in site-packages (no scripts, headers or data)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            top, _, rest = name.partition("/")
            if top.endswith(".data"):
                kind, _, inner = rest.partition("/")
                if kind not in ("purelib", "platlib"):
                    continue
                name = inner
            if _kept(name):
                yield name, archive.read(info)


def _app_files(source_dir: Path) -> Iterator[tuple[str, Path]]:
    """``app.py``, ``chalicelib/`` and Chalice's runtime modules, as ``chalice package`` adds them."""
    from chalice import app as chalice_app

    runtime = Path(inspect.getfile(chalice_app)).parent
    yield "chalice/__init__.py", runtime / "__init__.py"
    yield "chalice/app.py", runtime / "app.py"
    yield "app.py", source_dir / "app.py"
    library = source_dir / "chalicelib"
    if library.is_dir():
        for path in sorted(library.rglob("*")):
            name = path.relative_to(source_dir).as_posix()
            if path.is_file() and _kept(name) and name not in EXCLUDED_APP_FILES and ".new/" not in name:
                yield name, path


def contents(
    source_dir: Path = ROOT,
    lock_path: Path | None = LOCK,
    target: Target = TARGET,
    compile_bytecode: bool = True,
) -> dict[str, bytes]:
    """Every file of the package by its name in the archive."""
    if source_dir == ROOT:
        from tools.swagger_ui import ensure

        ensure()  # GET /docs serves Swagger UI from chalicelib/openapi/swagger-ui/
    files: dict[str, bytes] = {}
    owner: dict[str, str] = {}
    for wheel in download(lock_path, target) if lock_path is not None else []:
        for name, data in _wheel_files(wheel):
            if name in files:
                raise PackageError(f"{wheel.name} and {owner[name]} both install {name}")
            files[name], owner[name] = data, wheel.name
    for name, path in _app_files(source_dir):
        if name in files:
            raise PackageError(f"{name} of the app is also installed by {owner[name]}")
        files[name] = path.read_bytes()
    if compile_bytecode:
        python = runtime_python(target.python_version)
        if python is None:
            print(
                f"lambda package: no Python {target.python_version} here (PERMESSO_LAMBDA_PYTHON): built without "
                "bytecode, so every cold start compiles what it imports",
                file=sys.stderr,
            )
        else:
            files.update(bytecode(files, python))
    return files


def runtime_python(version: str = TARGET.python_version) -> str | None:
    """An interpreter of the runtime's Python version on this machine, or None."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [os.environ.get("PERMESSO_LAMBDA_PYTHON")]
    candidates += [str(path) for path in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)]
    candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(  # nosec B603 — asks a local interpreter its version
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def bytecode(files: dict[str, bytes], python: str) -> dict[str, bytes]:
    """``__pycache__/*.cpython-3XY.pyc`` of every module in ``files``, compiled by ``python``."""
    sources = sorted(name for name in files if name.endswith(".py"))
    tag = "cpython-" + TARGET.python_version.replace(".", "")
    with tempfile.TemporaryDirectory(prefix="permesso-bytecode-") as scratch:
        root = Path(scratch)
        for name in sources:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[name])
        script = (
            "import py_compile, sys\n"
            "root = sys.argv[1]\n"
            "for name in sys.stdin.read().split('\\n'):\n"
            "    if not name: continue\n"
            "    folder, _, stem = name.rpartition('/')\n"
            "    cache = (folder + '/' if folder else '') + '__pycache__/' + stem[:-3] + '." + tag + ".pyc'\n"
            "    try:\n"
            "        py_compile.compile(root + '/' + name, cfile=root + '/' + cache, dfile='/var/task/' + name,\n"
            "            doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
            "    except py_compile.PyCompileError:\n"
            "        pass\n"
        )
        subprocess.run(  # nosec B603 — the runtime's interpreter compiling our package's sources
            [python, "-I", "-c", script, str(root)],
            input="\n".join(sources),
            text=True,
            check=True,
            env={"PATH": os.environ.get("PATH", "")},
        )
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob(f"__pycache__/*.{tag}.pyc"))
        }


def write_zip(files: dict[str, bytes], out: Path) -> Path:
    """``files`` as a zip whose bytes depend on nothing else (order, time, permissions fixed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix: the permissions below are read by Lambda
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, files[name], compresslevel=6)
    os.replace(partial, out)
    return out


def build(
    out: Path | None = None,
    source_dir: Path = ROOT,
    lock_path: Path | None = LOCK,
    target: Target = TARGET,
    compile_bytecode: bool = True,
) -> Path:
    """Build the package into ``out`` (default ``infra/.build/deployment.zip``); its path."""
    if lock_path is not None and source_dir == ROOT:
        problems = lock_problems(source_dir / "requirements.txt", lock_path)
        if problems:
            raise PackageError(
                "requirements.lock is out of date (make lock):\n  - " + "\n  - ".join(problems)
            )
    out = out or BUILD_DIR / "deployment.zip"
    key = _inputs_key(source_dir, lock_path, target, compile_bytecode)
    stamp = out.with_name(out.name + ".inputs")
    if out.is_file() and stamp.is_file() and stamp.read_text(encoding="ascii") == key:
        return out  # the same inputs give the same bytes: nothing to redo
    files = contents(source_dir, lock_path, target, compile_bytecode)
    write_zip(files, out)
    stamp.write_text(key, encoding="ascii")
    return out


def _inputs_key(source_dir: Path, lock_path: Path | None, target: Target, compile_bytecode: bool) -> str:
    """A digest of everything the package's bytes depend on (this builder included)."""
    digest = hashlib.sha256(repr((target, compile_bytecode)).encode())
    if compile_bytecode:
        python = runtime_python(target.python_version)
        digest.update(repr(python and _python_version(python)).encode())
    for path in (Path(__file__), *([lock_path] if lock_path else [])):
        digest.update(path.read_bytes())
    if source_dir == ROOT:
        from tools.swagger_ui import ensure

        ensure()
    for name, path in _app_files(source_dir):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _python_version(python: str) -> str:
    return subprocess.run(  # nosec B603 — asks a local interpreter its exact version
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout.strip()


def digest(path: Path) -> str:
    return _sha256(path)


def manifest(path: Path) -> dict[str, str]:
    """Name → SHA-256 of every file in a package (what two builds are compared by)."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename: hashlib.sha256(archive.read(info)).hexdigest() for info in archive.infolist()}


def check_reproducible(source_dir: Path = ROOT) -> list[str]:
    """Build twice into fresh directories; the differences (empty when reproducible)."""
    with tempfile.TemporaryDirectory(prefix="permesso-package-") as scratch:
        first = build(Path(scratch) / "first" / "deployment.zip", source_dir)
        second = build(Path(scratch) / "second" / "deployment.zip", source_dir)
        a, b = manifest(first), manifest(second)
        problems = [f"{name}: only in one build" for name in sorted(set(a) ^ set(b))]
        problems += [f"{name}: contents differ" for name in sorted(set(a) & set(b)) if a[name] != b[name]]
        if not problems and digest(first) != digest(second):
            problems.append("same files, but the archives' bytes differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.lambda_package", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=["build", "check", "lock"])
    parser.add_argument("--out", type=Path, help="build: where to write the zip")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            lock()
            print(f"{LOCK.relative_to(ROOT)}: resolved for {TARGET.runtime} {TARGET.architecture}")
        elif args.command == "build":
            path = build(args.out)
            print(f"{path}: sha256 {digest(path)} ({TARGET.runtime}, {TARGET.architecture})")
        else:
            problems = check_reproducible()
            if problems:
                print("two builds differ:\n  " + "\n  ".join(problems[:50]), file=sys.stderr)
                return 1
            print(
                f"reproducible: two builds of the package are byte for byte the same ({TARGET.runtime}, {TARGET.architecture})"
            )
    except PackageError as exc:
        print(f"lambda package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
