"""Public HTML pages under ``/p/`` (no login; links arrive in e-mails), and their machinery.

Every public route is registered with ``public_page``, the HTML counterpart
of ``ApiBlueprint.endpoint``: it hands the view a ``Visit`` (the request,
its source IP as API Gateway saw the connection, the user agent, the parsed
form), and turns every error into the same-looking localised page — a bad,
tampered or foreign link is the one uniform 404 page, whatever the reason.

- Forms POST ``application/x-www-form-urlencoded`` bodies of at most
  ``MAX_FORM_BYTES``; they are parsed with ``urllib.parse.parse_qs``.
- The recorded IP is ``requestContext.identity.sourceIp`` — never
  ``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP``, which the client writes.
- Pages are rendered by ``chalicelib.mail.rendering`` (Jinja2, autoescaped)
  in the client's language, else the account's; pages that know neither use
  ``?lang=`` or the browser's ``Accept-Language``.
- Responses forbid caching, framing and referrers (links carry tokens) and
  allow no script at all: the pages need none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import ANY_CONTENT_TYPE
from chalicelib.bootstrap import Deps, get_deps
from chalicelib.errors import (
    ConcurrentModification,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermessoError,
    RateLimited,
)
from chalicelib.lazy import lazy_module
from chalicelib.observability import logger

intake_service = lazy_module("chalicelib.services.intake")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# A link's POST (confirm, decline, unsubscribe) needs nothing from its body: the token in the URL
# says it all. Whatever a browser, mail provider or script sends is accepted, even no Content-Type
# at all (which Chalice reads as application/json).
LINK_POST_TYPES = [FORM_CONTENT_TYPE, "multipart/form-data", "text/plain", "application/json"]
LANGUAGE_NAMES = (("en", "English"), ("cs", "Čeština"), ("it", "Italiano"))
HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        # Images: the business's own logo (an https URL from its settings); no referrer is sent.
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

api = Blueprint(__name__)


@dataclass
class Visit:
    """What a public view knows about the request it serves."""

    request: Request

    @cached_property
    def deps(self) -> Deps:
        """Built on first use, inside the page's error handling: settings that cannot be
        built (a secret missing) give the product's 500 page, not the framework's."""
        return get_deps()

    @property
    def source_ip(self) -> str | None:
        """The connection's address as API Gateway reports it; headers are never consulted."""
        from chalicelib.api.connection import source_ip

        return source_ip(self.request)

    @property
    def user_agent(self) -> str | None:
        agent = self.request.headers.get("user-agent")
        return agent[:512] if agent else None

    def query(self, name: str) -> str | None:
        params: dict[str, str] = self.request.query_params or {}
        return params.get(name)

    def language_hint(self) -> str:
        """For pages that know no client or account: ``?lang=``, else the browser's."""
        from chalicelib.mail.rendering import accepted_language, pick_language

        return pick_language(
            self.query("lang"), accepted_language(self.request.headers.get("accept-language"))
        )

    def form(self) -> dict[str, list[str]]:
        from chalicelib.domain.intake import MAX_FORM_BYTES

        raw = self.request.raw_body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        if len(raw) > MAX_FORM_BYTES:
            raise PayloadTooLarge("form too large", details={"limit_bytes": MAX_FORM_BYTES})
        try:
            return parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=40)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the form could not be read") from None


def page(
    template: str, language: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Response:
    from chalicelib.mail.rendering import render

    account = context.pop("account", None)
    if account is not None:
        context.setdefault("business", account.name)
        context["identity"] = identity(account)
    context.setdefault("business", None)
    context.setdefault("identity", None)
    context.setdefault("test", False)
    context.setdefault("thanks", False)
    body = render(template, language, **context)
    return Response(body=body, status_code=status, headers={**HTML_HEADERS, **(headers or {})})


def identity(account: Any) -> dict[str, Any]:
    """What a page shows of the business (``domain.business``): never the product's name."""
    from chalicelib.domain.business import business_context

    found = business_context(account.name, account.settings)
    address = found["business_address"] or ""
    return {
        "logo_url": found["logo_url"],
        "brand": found["brand_color"],
        "address_lines": [line for line in address.splitlines() if line.strip()],
        "website": found["business_website"],
        "contact": found["business_contact"],
    }


def message_page(
    kind: str,
    language: str,
    *,
    status: int,
    headers: dict[str, str] | None = None,
    account: Any = None,
    test: bool = False,
) -> Response:
    """A page with just a heading and a sentence: thanks, errors, the uniform 404. A thank-you
    page (``account`` known, status 200) links back to the business's website."""
    return page(
        "pages/message.html",
        language,
        status=status,
        headers=headers,
        heading=f"{kind}.heading",
        body=f"{kind}.body",
        account=account,
        test=test,
        thanks=status == 200 and account is not None,
    )


_ERROR_PAGES: tuple[tuple[type[PermessoError], str, int], ...] = (
    (NotFound, "notfound", 404),
    (RateLimited, "ratelimited", 429),
    (PayloadTooLarge, "toolarge", 413),
)


def _error_page(visit: Visit, error: PermessoError) -> Response:
    for cls, kind, status in _ERROR_PAGES:
        if isinstance(error, cls):
            headers = None
            if isinstance(error, RateLimited) and isinstance(error.details, dict):
                headers = {"Retry-After": str(error.details.get("retry_after", 60))}
            return message_page(kind, visit.language_hint(), status=status, headers=headers)
    if isinstance(error, ConcurrentModification):  # a lost race, not bad input: try again
        return message_page("error", visit.language_hint(), status=409)
    return message_page("badrequest", visit.language_hint(), status=400)


def public_page(
    path: str, methods: list[str], *, form: bool = False, content_types: list[str] | None = None
) -> Callable[[Callable[..., Any]], Any]:
    """Register a public HTML view: ``view(visit, **url_params) -> Response``."""
    if not path.startswith("/p/"):
        raise ValueError("public routes live under /p/")

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def handle(**params: str) -> Response:
            visit = Visit(request=api.current_request)
            try:
                return view(visit, **params)
            except PermessoError as exc:
                logger.info("public request refused", extra={"code": exc.code})
                return _error_page(visit, exc)
            except Exception:  # noqa: BLE001 — the boundary: a bug is a logged 500 page, never a crash
                logger.exception("unhandled error on a public page")
                return message_page("error", visit.language_hint(), status=500)

        accepted = content_types or ([FORM_CONTENT_TYPE] if form else ANY_CONTENT_TYPE)
        api.route(path, methods=methods, content_types=accepted)(handle)
        return view

    return register


# --- intake form ------------------------------------------------------------------------


def _form_page(
    visit: Visit,
    result_account: Any,
    language: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> Response:
    return page(
        "pages/intake_form.html",
        language,
        status=status,
        account=result_account,
        terms_url=result_account.settings.terms_url,
        languages=LANGUAGE_NAMES,
        values=values,
        errors=errors,
    )


@public_page("/p/forms/{public_slug}", ["GET"])
def intake_form(visit: Visit, public_slug: str) -> Response:
    from chalicelib.mail.rendering import pick_language

    account = intake_service.find_form(visit.deps, public_slug)
    language = pick_language(visit.query("lang"), account.settings.language)
    return _form_page(visit, account, language, {}, {}, 200)


@public_page("/p/forms/{public_slug}", ["POST"], form=True)
def submit_intake_form(visit: Visit, public_slug: str) -> Response:
    from chalicelib.domain.intake import first_values
    from chalicelib.mail.rendering import pick_language

    form = visit.form()
    values = first_values(form)
    page_language = next(iter(form.get("form_language", [])), None)
    result = intake_service.submit_intake(visit.deps, public_slug, values, source_ip=visit.source_ip)
    language = pick_language(values.get("language"), page_language, result.account.settings.language)
    if not result.accepted:
        language = pick_language(page_language, result.account.settings.language)
        return _form_page(visit, result.account, language, result.values, result.errors, 400)
    return message_page("thanks", language, status=200, account=result.account)


# --- double opt-in ----------------------------------------------------------------------


def _client_language(found: intake_service.Confirmation) -> str:
    from chalicelib.mail.rendering import pick_language

    return pick_language(
        found.claim.profile.get("language"), found.client.language, found.account.settings.language
    )


@public_page("/p/confirm/{token}", ["GET"])
def confirmation_page(visit: Visit, token: str) -> Response:
    """Opening the link records nothing (mail scanners open every link): it offers a button,
    and shows the details the confirmation will save (the ones the form was sent with)."""
    found = intake_service.open_confirmation(visit.deps, token)
    names = dict(LANGUAGE_NAMES)
    details = [
        (name, names.get(value, value) if name == "language" else value)
        for name, value in found.claim.profile.items()
    ]
    return page(
        "pages/confirm.html",
        _client_language(found),
        account=found.account,
        terms_url=found.account.settings.terms_url,
        details=details,
    )


@public_page("/p/confirm/{token}", ["POST"], content_types=LINK_POST_TYPES)
def confirm(visit: Visit, token: str) -> Response:
    visit.form()  # enforces the size limit; the button's field carries nothing needed
    found = intake_service.confirm_double_opt_in(
        visit.deps, token, source_ip=visit.source_ip, user_agent=visit.user_agent
    )
    return message_page("confirmed", _client_language(found), status=200, account=found.account)


# --- any other path under /p/ -------------------------------------------------------------


@public_page("/p/{proxy+}", ["GET", "POST", "PUT", "PATCH", "DELETE"], content_types=ANY_CONTENT_TYPE)
def unknown_page(visit: Visit) -> Response:
    """Every path under ``/p/`` that no other route has: the uniform 404 page, as a bad link gets.

    API Gateway's Gateway Responses cannot vary by path (``chalicelib/api/edge.py`` makes every
    other unknown route a JSON 404); more specific routes always win over this greedy one, there
    and in the local stack (``local/api.py``)."""
    raise NotFound("no such page")
