"""Local-stage tools: ``GET /dev/outbox`` (API.md) — the e-mails "sent", with working links.

Registered by ``app.py`` only when the stage is ``local``: these routes do
not exist in any deployed stage.

- ``GET /dev/outbox?limit=50&cursor=…&q=…``: the newest e-mails first, a page
  at a time, optionally only those whose recipients or subject contain ``q``.
  JSON by default (``items``, ``count``, ``total``, ``next_cursor``); an HTML
  page with a search box and paging when the browser asks for ``text/html``
  (or ``?format=html``).
- ``GET /dev/outbox/{message_id}``: one e-mail — JSON, or for a browser a page
  with its headers (From, To, Subject, List-Unsubscribe…), its links, its text
  part, and its HTML part inside a sandboxed frame.
- ``GET /dev/outbox/{message_id}/html``: the e-mail's HTML part, the document
  of that frame. An e-mail's HTML is the tenant's content: it is never served
  as a page of this origin that could run script. The frame has ``sandbox``
  without ``allow-scripts``, and the response itself carries
  ``Content-Security-Policy: sandbox; default-src 'none'; …`` so that even
  opened on its own it runs no script, in an opaque origin that can read
  nothing of this one.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.bootstrap import get_deps
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.mail.outbox import OutboxPage, SentMail

api = Blueprint(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_QUERY = 200
# The outbox's own pages: no script at all; the e-mail frame is this origin's /html route.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The e-mail's HTML: a sandboxed document (opaque origin, no script, no form, no plugin) that
# may show inline styles and remote or inline images, and nothing else.
MAIL_CSP = "sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


class _BadRequest(ValueError):
    pass


def _endpoint() -> str:
    settings = get_deps().settings
    if not settings.aws_endpoint_url:
        raise RuntimeError("the outbox needs the local AWS emulator (PERMESSO_AWS_ENDPOINT_URL)")
    return settings.aws_endpoint_url


def _params() -> dict[str, str]:
    return dict(api.current_request.query_params or {})


def _wants_html() -> bool:
    fmt = _params().get("format")
    if fmt:
        return fmt == "html"
    return "text/html" in str(api.current_request.headers.get("accept") or "")


def _json(body: Any, status: int = 200) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers={"Content-Type": "application/json"})


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message, "details": None}}, status)


def _unavailable(exc: Exception) -> Response:
    logger.warning("outbox unavailable", extra={"error": type(exc).__name__})
    if _wants_html():
        return _page("pages/dev_outbox.html", status=503, unavailable=True, mails=[], total=0)
    return _error(503, "emulator_unavailable", f"the local emulator did not answer ({type(exc).__name__})")


def _page(template: str, status: int = 200, **context: Any) -> Response:
    from chalicelib.api.public import HTML_HEADERS
    from chalicelib.mail.rendering import render

    body = render(template, "en", **context)
    return Response(
        body=body, status_code=status, headers={**HTML_HEADERS, "Content-Security-Policy": PAGE_CSP}
    )


def _listing(full: bool) -> tuple[OutboxPage, int, str, str | None]:
    from chalicelib.mail.outbox import read_outbox

    params = _params()
    text = params.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    cursor = params.get("cursor") or None
    if cursor is not None and not cursor.isdigit():
        raise _BadRequest("cursor is not one this outbox gave")
    query = params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise _BadRequest(f"q is longer than {MAX_QUERY} characters")
    page = read_outbox(_endpoint(), limit=int(text), cursor=cursor, query=query, full=full)
    return page, int(text), query, cursor


@api.route("/dev/outbox", methods=["GET"])
def outbox() -> Response:
    html = _wants_html()
    try:
        page, limit, query, cursor = _listing(full=not html)
    except _BadRequest as exc:
        return _error(400, "invalid_query", str(exc))
    except (OSError, ValueError, RuntimeError) as exc:
        return _unavailable(exc)
    if html:
        return _page(
            "pages/dev_outbox.html",
            unavailable=False,
            mails=page.mails,
            total=page.total,
            query=query,
            limit=limit,
            first_page=cursor is None,
            next_cursor=page.next_cursor,
        )
    return _json(
        {
            "items": [asdict(mail) for mail in page.mails],
            "count": len(page.mails),
            "total": page.total,
            "next_cursor": page.next_cursor,
        }
    )


def _one(message_id: str) -> SentMail | Response:
    from chalicelib.mail.outbox import read_outbox_message

    try:
        mail = read_outbox_message(_endpoint(), message_id)
    except (OSError, ValueError, RuntimeError) as exc:
        return _unavailable(exc)
    if mail is None:
        return _error(404, "not_found", "no such e-mail")
    return mail


@api.route("/dev/outbox/{message_id}", methods=["GET"])
def outbox_message(message_id: str) -> Response:
    found = _one(message_id)
    if isinstance(found, Response):
        return found
    if _wants_html():
        shown = ("From", "To", "Subject", "Date", "List-Unsubscribe", "List-Unsubscribe-Post")
        headers = [(name, found.headers[name]) for name in shown if name in found.headers]
        headers += [(name, value) for name, value in found.headers.items() if name not in shown]
        return _page("pages/dev_outbox_message.html", mail=found, headers=headers)
    return _json(asdict(found))


@api.route("/dev/outbox/{message_id}/html", methods=["GET"])
def outbox_message_html(message_id: str) -> Response:
    found = _one(message_id)
    if isinstance(found, Response):
        return found
    if found.html is None:
        return _error(404, "not_found", "this e-mail has no HTML part")
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": MAIL_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return Response(body=found.html, status_code=200, headers=headers)
