"""Signing in and out, invitation and password-reset links, and the signed-in home page."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.console.framework import SESSION_COOKIE, Page, page, request_cookies
from chalicelib.errors import InvalidInput, RateLimited, Unauthenticated
from chalicelib.lazy import lazy_module

sessions = lazy_module("chalicelib.services.sessions")
users = lazy_module("chalicelib.services.users")

# A password problem (``services.users``) -> the field it is shown on, and its message.
PASSWORD_ERRORS = {
    "password_required": ("password", "console.error.password.required"),
    "password_too_short": ("password", "console.error.password.too_short"),
    "password_too_long": ("password", "console.error.password.too_long"),
    "password_common": ("password", "console.error.password.common"),
    "password_mismatch": ("confirmation", "console.error.confirmation.mismatch"),
}


@page("/app", ["GET"])
def home(page: Page) -> Response:
    return page.render("console/home.html", section=None)


# --- sign in ------------------------------------------------------------------------------


def _signed_in_already(page: Page) -> bool:
    return sessions.resolve(page.deps, request_cookies(page.request).get(SESSION_COOKIE)) is not None


@page("/app/sign-in", ["GET"], access="anonymous")
def sign_in_form(page: Page) -> Response:
    if _signed_in_already(page):
        return page.redirect("/app")
    notice = {  # nosec B105 — message keys, not passwords
        "password_set": "console.notice.password_set",
        "signed_out": "console.notice.signed_out",
    }
    return page.render("console/sign_in.html", notice=notice.get(page.query("done") or ""))


@page("/app/sign-in", ["POST"], access="anonymous")
def sign_in(page: Page) -> Response:
    email, password = page.field("email"), page.form.get("password", "")
    errors = {}
    if not email:
        errors["email"] = "console.error.email.required"
    if not password:
        errors["password"] = "console.error.password.required_current"  # nosec B105 — a message key
    if errors:
        return page.render(
            "console/sign_in.html", status=400, errors=errors, values={"email": email}, notice=None
        )
    try:
        _, secret = sessions.sign_in(page.deps, email, password, source_ip=page.source_ip)
    except Unauthenticated:
        errors = {"email": "console.sign_in.failed"}
        return page.render(
            "console/sign_in.html", status=401, errors=errors, values={"email": email}, notice=None
        )
    except RateLimited as exc:
        retry = str((exc.details or {}).get("retry_after", 60))
        return page.message("ratelimited", status=429, headers={"Retry-After": retry})
    # A new id at every sign-in: whatever cookie the browser held before is never promoted.
    page.start_session(secret)
    return page.redirect("/app")


@page("/app/sign-out", ["POST"])
def sign_out(page: Page) -> Response:
    assert page.signed_in is not None
    sessions.sign_out(page.deps, page.signed_in)
    page.end_session()
    return page.redirect("/app/sign-in?done=signed_out")


@page("/app/sign-out-everywhere", ["POST"])
def sign_out_everywhere(page: Page) -> Response:
    assert page.signed_in is not None
    sessions.sign_out_everywhere(page.deps, page.signed_in)
    page.end_session()
    return page.redirect("/app/sign-in?done=signed_out")


# --- forgotten password ---------------------------------------------------------------


@page("/app/forgot-password", ["GET"], access="anonymous")
def forgot_password_form(page: Page) -> Response:
    return page.render("console/forgot_password.html")


@page("/app/forgot-password", ["POST"], access="anonymous")
def forgot_password(page: Page) -> Response:
    email = page.field("email")
    if not email:
        errors = {"email": "console.error.email.required"}
        return page.render("console/forgot_password.html", status=400, errors=errors)
    # The same page whether or not the address is a user's (RateLimited becomes the 429 page).
    users.request_reset(page.deps, email, source_ip=page.source_ip)
    return page.message("reset_sent", status=200, link="/app/sign-in", link_text="console.back_to_sign_in")


# --- invitation and reset links ----------------------------------------------------------


def _link_form(
    page: Page, purpose: str, token: str, *, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    visit = users.open_link(page.deps, purpose, token)
    page.prefer_language(visit.user.language, visit.account.settings.language)
    return page.render(
        "console/set_password.html",
        status=status,
        purpose=purpose,
        business=visit.account.name,
        email=visit.user.email,
        action=page.url(f"/app/{purpose}/{token}"),
        errors=errors or {},
    )


def _set_password(page: Page, purpose: str, token: str) -> Response:
    try:
        users.set_password_with_link(
            page.deps, purpose, token, page.form.get("password", ""), page.form.get("confirmation", "")
        )
    except InvalidInput as exc:
        field, message = PASSWORD_ERRORS.get(exc.code, ("password", "console.error.password.required"))
        return _link_form(page, purpose, token, status=400, errors={field: message})
    return page.redirect("/app/sign-in?done=password_set")


@page("/app/invitation/{token}", ["GET"], access="anonymous")
def invitation_form(page: Page, token: str) -> Response:
    """Opening the link changes nothing (mail scanners open links): it shows the form."""
    return _link_form(page, "invitation", token)


@page("/app/invitation/{token}", ["POST"], access="anonymous")
def accept_invitation(page: Page, token: str) -> Response:
    return _set_password(page, "invitation", token)


@page("/app/reset/{token}", ["GET"], access="anonymous")
def reset_form(page: Page, token: str) -> Response:
    return _link_form(page, "reset", token)


@page("/app/reset/{token}", ["POST"], access="anonymous")
def reset_password(page: Page, token: str) -> Response:
    return _set_password(page, "reset", token)
