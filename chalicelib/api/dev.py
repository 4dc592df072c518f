"""Local-stage tools: ``GET /dev/outbox`` (API.md) — the e-mails "sent", with working links.

Registered by ``app.py`` only when the stage is ``local``: these routes do
not exist in any deployed stage. JSON by default; an HTML page when the
browser asks for ``text/html`` (or ``?format=html``); one e-mail's HTML body
at ``/dev/outbox/{message_id}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.bootstrap import get_deps
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.mail.outbox import SentMail

api = Blueprint(__name__)


def _outbox() -> list[SentMail]:
    from chalicelib.mail.outbox import read_outbox

    settings = get_deps().settings
    if not settings.aws_endpoint_url:
        raise RuntimeError("the outbox needs the local AWS emulator (PERMESSO_AWS_ENDPOINT_URL)")
    return read_outbox(settings.aws_endpoint_url)


def _wants_html() -> bool:
    request = api.current_request
    params: dict[str, str] = request.query_params or {}
    fmt = params.get("format")
    if fmt:
        return fmt == "html"
    return "text/html" in str(request.headers.get("accept") or "")


def _json(body: Any, status: int = 200) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers={"Content-Type": "application/json"})


def _unavailable(exc: Exception) -> Response:
    logger.warning("outbox unavailable", extra={"error": type(exc).__name__})
    return _json({"error": {"code": "emulator_unavailable", "message": str(exc), "details": None}}, 503)


@api.route("/dev/outbox", methods=["GET"])
def outbox() -> Response:
    try:
        mails = _outbox()
    except (OSError, ValueError, RuntimeError) as exc:
        return _unavailable(exc)
    if _wants_html():
        from chalicelib.api.public import HTML_HEADERS
        from chalicelib.mail.rendering import render

        body = render(
            "pages/dev_outbox.html",
            "en",
            mails=mails,
            business="Local outbox",
            identity=None,
            test=False,
            thanks=False,
        )
        headers = {**HTML_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
        return Response(body=body, status_code=200, headers=headers)
    return _json({"items": [asdict(m) for m in mails], "count": len(mails)})


@api.route("/dev/outbox/{message_id}", methods=["GET"])
def outbox_message(message_id: str) -> Response:
    try:
        mails = _outbox()
    except (OSError, ValueError, RuntimeError) as exc:
        return _unavailable(exc)
    for mail in mails:
        if mail.message_id == message_id:
            # The e-mail's own HTML, as a mail client would show it (our own rendered template).
            body = mail.html or f"<pre>{_escape(mail.text or '')}</pre>"
            return Response(body=body, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
    return _json({"error": {"code": "not_found", "message": "no such e-mail", "details": None}}, 404)


def _escape(text: str) -> str:
    from html import escape

    return escape(text)
