"""The console's static files, served by the app under content-hashed names.

``asset_url(url, "console.css")`` is ``/app/static/console.<hash>.css``: the hash is the
first 12 hex digits of the file's SHA-256, so a changed file gets a new name and every
name can be cached for a year (``immutable``). A name whose hash is not the current
one is a 404, never stale content. Files live in ``chalicelib/static/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

from chalice import Response

from chalicelib.api.console.framework import api
from chalicelib.api.http import ANY_CONTENT_TYPE

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@cache
def assets() -> dict[str, tuple[str, bytes]]:
    """Hashed name -> (plain name, content), for every file in ``static/``."""
    found: dict[str, tuple[str, bytes]] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()[:12]
            found[f"{path.stem}.{digest}{path.suffix}"] = (path.name, content)
    return found


@cache
def hashed_name(name: str) -> str:
    for hashed, (plain, _) in assets().items():
        if plain == name:
            return hashed
    raise KeyError(f"no static file {name!r}")


def asset_url(url: Callable[[str], str], name: str) -> str:
    return url(f"/app/static/{hashed_name(name)}")


@api.route("/app/static/{name}", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def static_file(name: str) -> Response:
    """Public (the sign-in page needs its style), read-only, and never a page of data."""
    found = assets().get(name)
    if found is None:
        return Response(
            body="Not found",
            status_code=404,
            headers={"Content-Type": "text/plain", "Cache-Control": "no-store"},
        )
    plain, content = found
    content_type = CONTENT_TYPES[Path(plain).suffix]
    return Response(
        body=content.decode("utf-8"), status_code=200, headers={**ASSET_HEADERS, "Content-Type": content_type}
    )
