"""The console's machinery: every ``/app/`` route is registered through ``page``.

``page(path, methods, access=...)`` is the console's counterpart of
``ApiBlueprint.endpoint``; it wraps the view so that no console route can forget:

1. **who may see it** — ``access="anonymous"`` (sign-in, links from e-mails), ``"user"``
   (any signed-in user) or ``"owner"``. The session comes from the ``permesso_session``
   cookie (``services.sessions.resolve``: expiry, sign-out everywhere and removed users
   are checked on every request). Without a live session a ``GET`` is redirected to the
   sign-in page and anything else is refused; a staff user on an owner page gets 403.
2. **CSRF** — every request that is not ``GET``/``HEAD`` must come from a page of this
   origin (``Origin`` header equal to the console's origin) and carry the form field
   ``csrf_token``: an HMAC of the session's stored hash (signed in) or of the visitor's
   random ``permesso_form`` cookie (anonymous pages). Otherwise 403 and the view never
   runs, so nothing changes.
3. **headers** — every response gets ``CONSOLE_HEADERS``: a strict CSP (``default-src
   'self'``, no inline script or style), ``frame-ancestors 'none'``, ``Referrer-Policy:
   same-origin``, ``Cache-Control: no-store``, ``nosniff``.
4. **errors** — a ``PermessoError`` becomes a localised page of the same look (404, 403,
   429 with ``Retry-After``…); anything else is logged and a 500 page.

The view receives a ``Page``: the request, ``deps``, the signed-in user and account, the
source IP (the connection's, never a header), the parsed form, the language, and
``render``/``redirect`` helpers. Templates extend ``console/layout.html`` and use the
macros of ``console/macros.html``; ``render`` passes ``csrf_token`` and the asset URLs.

Cookies: ``HttpOnly``, ``SameSite=Lax``, ``Path=<base>/app``, and ``Secure`` unless the
console is served over plain HTTP (the local stack). The session cookie's value is the
session id (256 random bits); only its SHA-256 is stored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import ANY_CONTENT_TYPE
from chalicelib.bootstrap import Deps, get_deps
from chalicelib.errors import (
    AccountSuspended,
    ConcurrentModification,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermessoError,
    RateLimited,
    Unauthenticated,
)
from chalicelib.lazy import lazy_module
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.identity import User
    from chalicelib.domain.records import Account
    from chalicelib.services.sessions import SignedIn

sessions = lazy_module("chalicelib.services.sessions")

Access = Literal["anonymous", "user", "owner"]
SESSION_COOKIE = "permesso_session"
VISITOR_COOKIE = "permesso_form"  # anonymous forms' CSRF binding: a random nonce
CSRF_FIELD = "csrf_token"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
UPLOAD_CONTENT_TYPE = "multipart/form-data"  # only on pages registered with ``upload=True``
MAX_UPLOAD_OVERHEAD = 64 * 1024  # the form's other fields and the multipart framing
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 300  # a page of selected clients (at most 100 ids) and its filter's conditions
SAFE_METHODS = frozenset({"GET", "HEAD"})
SESSION_COOKIE_MAX_AGE = 30 * 24 * 3600  # the absolute session lifetime; the server decides expiry

CONSOLE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

api = Blueprint(__name__)


# --- where the console lives ------------------------------------------------------------


def base_path(deps: Deps) -> str:
    """The path prefix of the deployment (``/api`` on an API Gateway stage URL, ``""`` on a
    custom domain or locally), taken from ``PERMESSO_PUBLIC_BASE_URL``."""
    return urlsplit(deps.settings.public_base_url).path.rstrip("/")


def console_origin(deps: Deps) -> str:
    parts = urlsplit(deps.settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def secure_cookies(deps: Deps) -> bool:
    """``Secure`` everywhere but a console served over plain HTTP (the local stack)."""
    return not (deps.settings.stage == "local" and deps.settings.public_base_url.startswith("http://"))


def cookie(deps: Deps, name: str, value: str, *, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", f"Path={base_path(deps)}/app", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure_cookies(deps):
        parts.append("Secure")
    return "; ".join(parts)


def request_cookies(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (request.headers.get("cookie") or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip()
    return found


# --- the view's request -------------------------------------------------------------------


@dataclass
class Page:
    """What a console view knows about the request it serves, and how it answers."""

    request: Request
    access: Access
    upload: bool = False  # the page takes a multipart form with a file (the CSV import)
    files: dict[str, bytes] = field(default_factory=dict)  # an upload's files, by field name
    signed_in: SignedIn | None = None
    cookies_out: list[str] = field(default_factory=list)
    _visitor: str | None = None
    _language: str | None = None

    @cached_property
    def deps(self) -> Deps:
        return get_deps()

    @property
    def user(self) -> User:
        assert self.signed_in is not None, "page registered with access='anonymous'"
        return self.signed_in.user

    @property
    def account(self) -> Account:
        assert self.signed_in is not None, "page registered with access='anonymous'"
        return self.signed_in.account

    @property
    def actor(self) -> str:
        """What changes made through this page record as their ``actor``: the user's id."""
        return self.user.user_id

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

    def query_all(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (``?field=a&field=b``), in order."""
        params = self.request.query_params
        if not params:
            return []
        getlist = getattr(params, "getlist", None)
        if getlist is not None:
            return list(getlist(name)) if name in params else []
        value = params.get(name)
        return [] if value is None else [value]

    @property
    def language(self) -> str:
        """The signed-in user's language, else the account's; before sign-in the language a
        view chose (``prefer_language``: a link's user), else ``?lang=``, else the browser's."""
        from chalicelib.mail.rendering import accepted_language, pick_language

        if self._language is None:
            if self.signed_in is not None:
                self._language = pick_language(self.user.language, self.account.settings.language)
            else:
                header = self.request.headers.get("accept-language")
                self._language = pick_language(self.query("lang"), accepted_language(header))
        return self._language

    def prefer_language(self, *candidates: str | None) -> None:
        from chalicelib.mail.rendering import pick_language

        self._language = pick_language(self.query("lang"), *candidates)

    @cached_property
    def form_lists(self) -> dict[str, list[str]]:
        """Every value of every field of an urlencoded form (at most ``MAX_FORM_BYTES``), or of
        a multipart form on an upload page (files as text; see ``upload``)."""
        raw = self.request.raw_body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        content_type = self.request.headers.get("content-type") or ""
        if self.upload and content_type.split(";")[0].strip().lower() == UPLOAD_CONTENT_TYPE:
            return self._multipart(raw, content_type)
        if len(raw) > MAX_FORM_BYTES:
            raise PayloadTooLarge("form too large", details={"limit_bytes": MAX_FORM_BYTES})
        try:
            return parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the form could not be read") from None

    def _multipart(self, raw: bytes, content_type: str) -> dict[str, list[str]]:
        """A ``multipart/form-data`` body (an upload page's form): each part as UTF-8 text; a
        file that is not UTF-8 becomes ``InvalidInput`` (the CSV import's own rule)."""
        from email.parser import BytesParser
        from email.policy import HTTP

        limit = self.deps.settings.max_csv_body_bytes + MAX_UPLOAD_OVERHEAD
        if len(raw) > limit:
            raise PayloadTooLarge("upload too large", details={"limit_bytes": limit})
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw
        )
        if not message.is_multipart():
            raise InvalidInput("the form could not be read")
        fields: dict[str, list[str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or len(fields) + len(self.files) >= MAX_FORM_FIELDS:
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_param("filename", header="content-disposition") is not None:
                self.files[name] = data  # a file's bytes, as uploaded (the view decides)
                continue
            try:
                fields.setdefault(name, []).append(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidInput("the form could not be read") from None
        return fields

    @cached_property
    def form(self) -> dict[str, str]:
        """The first value of each field of the form."""
        return {name: values[0] for name, values in self.form_lists.items() if values}

    def field_all(self, name: str) -> list[str]:
        return [value.strip() for value in self.form_lists.get(name, [])]

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    # --- CSRF ---------------------------------------------------------------------------

    def _binding(self) -> str:
        """What this visitor's CSRF token is bound to: the session (its stored hash) or the
        anonymous visitor's nonce cookie (set on first need)."""
        if self.signed_in is not None:
            return "session:" + self.signed_in.session.session_hash
        if self._visitor is None:
            from chalicelib.domain.identity import looks_like_secret, new_secret

            existing = request_cookies(self.request).get(VISITOR_COOKIE)
            if looks_like_secret(existing):
                self._visitor = existing
            else:
                self._visitor = new_secret()
                self.cookies_out.append(cookie(self.deps, VISITOR_COOKIE, self._visitor))
        return "visitor:" + self._visitor

    def _csrf_keys(self) -> list[bytes]:
        ring = self.deps.key_ring
        return [ring.keys[ring.active], *(key for kid, key in ring.keys.items() if kid != ring.active)]

    @property
    def csrf_token(self) -> str:
        from chalicelib.domain.identity import csrf_token

        return csrf_token(self._csrf_keys()[0], self._binding())

    def check_csrf(self) -> None:
        """Same origin, and the form's token bound to this session or visitor; else 403."""
        from chalicelib.domain.identity import csrf_valid

        origin = (self.request.headers.get("origin") or "").strip().lower()
        host = (self.request.headers.get("host") or "").strip().lower()
        scheme = urlsplit(self.deps.settings.public_base_url).scheme
        allowed = {console_origin(self.deps)} | ({f"{scheme}://{host}"} if host else set())
        if origin not in allowed:
            raise CsrfRefused("cross-origin or missing Origin")
        if self.signed_in is None and not request_cookies(self.request).get(VISITOR_COOKIE):
            raise CsrfRefused("no visitor cookie")
        if not csrf_valid(self._csrf_keys(), self._binding(), self.form.get(CSRF_FIELD)):
            raise CsrfRefused("missing or wrong CSRF token")

    # --- answers ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """A console path (``/app/...``) as a link of this deployment."""
        return base_path(self.deps) + path

    def render(
        self, template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> Response:
        from chalicelib.api.console.assets import asset_url
        from chalicelib.api.console.formatting import Formats
        from chalicelib.mail.rendering import render

        for name, default in (("errors", {}), ("values", {}), ("section", None), ("notice", None)):
            context.setdefault(name, default)
        body = render(
            template,
            self.language,
            url=self.url,
            asset=functools.partial(asset_url, self.url),
            fmt=Formats(self.language),
            csrf_field=CSRF_FIELD,
            csrf_token=self.csrf_token,
            signed_in=self.signed_in,
            user=self.signed_in.user if self.signed_in else None,
            account=self.signed_in.account if self.signed_in else None,
            **context,
        )
        return self.respond(Response(body=body, status_code=status, headers=dict(headers or {})))

    def redirect(self, path: str) -> Response:
        """303 See Other to a console path: after a POST the browser GETs the result."""
        return self.respond(Response(body="", status_code=303, headers={"Location": self.url(path)}))

    def respond(self, response: Response) -> Response:
        headers = {**CONSOLE_HEADERS, **(response.headers or {})}
        if self.cookies_out:
            headers["Set-Cookie"] = self.cookies_out if len(self.cookies_out) > 1 else self.cookies_out[0]  # type: ignore[assignment]
        response.headers = headers
        return response

    def message(
        self,
        kind: str,
        *,
        status: int,
        headers: dict[str, str] | None = None,
        link: str | None = None,
        link_text: str | None = None,
        **params: Any,
    ) -> Response:
        """A page with a heading and a sentence (``console.<kind>.heading`` / ``.body``) and
        an optional link (a console path and its catalogue key)."""
        return self.render(
            "console/message.html",
            status=status,
            headers=headers,
            kind=kind,
            params=params,
            link=link,
            link_text=link_text,
        )

    def start_session(self, secret: str) -> None:
        """Set the new session's cookie and drop the anonymous visitor's."""
        self.cookies_out.append(cookie(self.deps, SESSION_COOKIE, secret, max_age=SESSION_COOKIE_MAX_AGE))
        self.cookies_out.append(cookie(self.deps, VISITOR_COOKIE, "", max_age=0))

    def end_session(self) -> None:
        self.cookies_out.append(cookie(self.deps, SESSION_COOKIE, "", max_age=0))


class CsrfRefused(Forbidden):
    code = "csrf_refused"


_ERROR_PAGES: tuple[tuple[type[PermessoError], str, int], ...] = (
    (CsrfRefused, "csrf", 403),
    (Forbidden, "forbidden", 403),
    (NotFound, "notfound", 404),
    (RateLimited, "ratelimited", 429),
    (PayloadTooLarge, "toolarge", 413),
    (ConcurrentModification, "conflict", 409),
    (Unauthenticated, "forbidden", 403),
    (AccountSuspended, "accountsuspended", 403),
    (Conflict, "statechange", 409),
)


def error_page(page: Page, error: PermessoError) -> Response:
    for cls, kind, status in _ERROR_PAGES:
        if isinstance(error, cls):
            headers = None
            if isinstance(error, RateLimited) and isinstance(error.details, dict):
                headers = {"Retry-After": str(error.details.get("retry_after", 60))}
            return page.message(kind, status=status, headers=headers)
    return page.message("badrequest", status=400)


def _safe_fallback(status: int) -> Response:
    """When even the error page cannot be rendered (settings or templates broken)."""
    return Response(
        body="Error", status_code=status, headers={**CONSOLE_HEADERS, "Content-Type": "text/plain"}
    )


def _authenticate(page: Page) -> Response | None:
    """Resolve the session of a signed-in page; a response when the request stops here."""
    secret = request_cookies(page.request).get(SESSION_COOKIE)
    page.signed_in = sessions.resolve(page.deps, secret)
    if page.signed_in is None:
        if secret:
            page.end_session()  # a dead cookie is cleared, never reused
        if page.request.method in SAFE_METHODS:
            return page.redirect("/app/sign-in")
        raise CsrfRefused("not signed in")  # a state change without a session changes nothing
    if page.access == "owner" and not page.user.is_owner:
        raise Forbidden("owners only")
    return None


def page(
    path: str, methods: list[str], *, access: Access = "user", upload: bool = False
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a console view ``view(page, **url_params) -> Response`` under ``/app``."""
    if path != "/app" and not path.startswith("/app/"):
        raise ValueError("console routes live under /app")
    changes_state = any(method not in SAFE_METHODS for method in methods)

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def handle(**params: str) -> Response:
            current = Page(request=api.current_request, access=access, upload=upload)
            try:
                if access != "anonymous":
                    stop = _authenticate(current)
                    if stop is not None:
                        return stop
                if current.request.method not in SAFE_METHODS:
                    current.check_csrf()
                return current.respond(view(current, **params))
            except PermessoError as exc:
                logger.info("console request refused", extra={"code": exc.code})
                try:
                    return error_page(current, exc)
                except Exception:  # noqa: BLE001 — the error page itself failed
                    logger.exception("console error page failed")
                    return _safe_fallback(500)
            except Exception:  # noqa: BLE001 — the boundary: a bug is a logged 500 page
                logger.exception("unhandled error on a console page")
                try:
                    return current.message("error", status=500)
                except Exception:  # noqa: BLE001
                    return _safe_fallback(500)

        # A form's POST is form-encoded (an upload page's is multipart); a GET has no body,
        # so any Content-Type is ignored.
        options: dict[str, Any] = {
            "content_types": (
                [FORM_CONTENT_TYPE, *([UPLOAD_CONTENT_TYPE] if upload else [])]
                if changes_state
                else ANY_CONTENT_TYPE
            )
        }
        api.route(path, methods=methods, **options)(handle)
        return view

    return register
