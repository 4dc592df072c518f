"""Swagger UI's files for ``GET /docs``: npm's ``swagger-ui-dist``, pinned by version and integrity.

    python -m tools.swagger_ui          # fetch, verify and extract (nothing to do when up to date)
    python -m tools.swagger_ui --check  # exit 1 unless the extracted files are the pinned release

``swagger-ui-dist`` is Swagger UI's own distribution of its built files, published by the
Swagger UI project; it is the only source of Swagger UI 5 (the first major version that reads
OpenAPI 3.1) that brings nothing else: the PyPI wrappers either ship 4.x, pull a web framework
into the Lambda (Flask for ``flask-swagger-ui``) or ship every bundle and source map (about
11 MiB for the two files the page uses). The tarball comes through the npm client (``npm pack``,
the registry and cache it is configured with; no URL here), is checked against the SHA-512
integrity pinned below before anything is read from it, and only the files the page serves and
their licence texts are extracted, into ``chalicelib/openapi/swagger-ui/`` (not in git). From
there they are packaged with the rest of ``chalicelib/`` and served by the local stack alike.
``make venv`` runs this; a new pin is a new ``VERSION`` and ``INTEGRITY``
(``npm view swagger-ui-dist@<version> dist.integrity``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess  # nosec B404
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "swagger-ui-dist"
VERSION = "5.35.0"
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
TARGET = ROOT / "chalicelib" / "openapi" / "swagger-ui"
# What the docs page serves, and the licence texts that must travel with it (Apache-2.0).
SERVED = ("swagger-ui-bundle.js", "swagger-ui.css")
LICENCES = ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
STAMP = "INTEGRITY"  # the pinned integrity the extracted files came from
VERSION_FILE = "VERSION"


class SwaggerUiError(Exception):
    pass


def integrity_of(data: bytes) -> str:
    """npm's Subresource-Integrity string of a tarball: ``sha512-<base64>``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def up_to_date(target: Path = TARGET) -> bool:
    stamp = target / STAMP
    if not stamp.is_file() or stamp.read_text(encoding="ascii").strip() != INTEGRITY:
        return False
    return all((target / name).is_file() for name in (*SERVED, *LICENCES, VERSION_FILE))


def _npm_pack(workdir: Path) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise SwaggerUiError("npm is not installed: it fetches Swagger UI (Node.js 20+, docs/DEPLOY.md)")
    # The npm client found on the PATH, with fixed arguments.
    result = subprocess.run(  # nosec B603
        [npm, "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(workdir)],
        cwd=workdir,
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SwaggerUiError(f"npm pack {PACKAGE}@{VERSION} failed: {result.stderr.strip()[-500:]}")
    (packed,) = json.loads(result.stdout)
    return (workdir / packed["filename"]).read_bytes()


def extract(tarball: bytes, target: Path = TARGET) -> None:
    """Verify ``tarball`` against the pin, then write the served files and licences to ``target``."""
    found = integrity_of(tarball)
    if found != INTEGRITY:
        raise SwaggerUiError(f"{PACKAGE}@{VERSION}: integrity {found} is not the pinned {INTEGRITY}")
    wanted = {f"package/{name}": name for name in (*SERVED, *LICENCES, "package.json")}
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.name in wanted and member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                files[wanted[member.name]] = handle.read()
    missing = sorted(set(wanted.values()) - set(files))
    if missing:
        raise SwaggerUiError(f"{PACKAGE}@{VERSION} has no {', '.join(missing)}")
    version = json.loads(files.pop("package.json"))["version"]
    if version != VERSION:
        raise SwaggerUiError(f"{PACKAGE}: the tarball is version {version}, not {VERSION}")
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    (staging / VERSION_FILE).write_text(VERSION + "\n", encoding="ascii")
    (staging / STAMP).write_text(INTEGRITY + "\n", encoding="ascii")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def ensure(target: Path = TARGET) -> bool:
    """Fetch and extract unless already there; True when something was written."""
    if up_to_date(target):
        return False
    with tempfile.TemporaryDirectory(prefix="swagger-ui-") as scratch:
        extract(_npm_pack(Path(scratch)), target)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.swagger_ui", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the extracted files")
    args = parser.parse_args(argv)
    if args.check:
        if up_to_date():
            return 0
        print(f"{TARGET.relative_to(ROOT)}: not {PACKAGE}@{VERSION}; run make venv", file=sys.stderr)
        return 1
    try:
        wrote = ensure()
    except SwaggerUiError as exc:
        print(f"swagger-ui: {exc}", file=sys.stderr)
        return 1
    print(f"{PACKAGE}@{VERSION} {'extracted into' if wrote else 'already in'} {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
