"""Settings (owners only): the account's users and API keys. The same services as the API."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.lazy import lazy_module

users = lazy_module("chalicelib.services.users")
api_keys = lazy_module("chalicelib.services.api_keys")

_NOTICES = {
    "invited": "console.notice.invited",
    "resent": "console.notice.resent",
    "role": "console.notice.role",
    "removed": "console.notice.removed",
    "revoked": "console.notice.revoked",
}


@page("/app/settings", ["GET"], access="owner")
def settings(page: Page) -> Response:
    return page.render("console/settings.html", section="settings")


# --- users ------------------------------------------------------------------------------


def _users_page(
    page: Page,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    people, next_cursor = users.list_users(page.deps, page.account, None, page.query("cursor"))
    return page.render(
        "console/users.html",
        status=status,
        section="settings",
        people=people,
        next_cursor=next_cursor,
        errors=errors or {},
        values=values or {},
        notice=_NOTICES.get(page.query("done") or ""),
    )


@page("/app/settings/users", ["GET"], access="owner")
def users_page(page: Page) -> Response:
    return _users_page(page)


@page("/app/settings/users", ["POST"], access="owner")
def invite(page: Page) -> Response:
    values = {"email": page.field("email"), "role": page.field("role") or "staff"}
    if not values["email"]:
        return _users_page(page, status=400, errors={"email": "console.error.email.required"}, values=values)
    from pydantic import ValidationError

    try:
        data = users.NewUser.model_validate(values)
    except ValidationError as exc:
        fields = {str(err["loc"][0]) for err in exc.errors() if err.get("loc")}
        errors = {}
        if "email" in fields:
            errors["email"] = "console.error.email.invalid"
        if "role" in fields:
            errors["role"] = "console.error.role.invalid"
        return _users_page(page, status=400, errors=errors, values=values)
    try:
        users.invite_user(page.deps, page.account, data, page.actor)
    except Conflict as exc:
        if exc.code != "user_exists":
            raise
        return _users_page(page, status=409, errors={"email": "console.error.user_exists"}, values=values)
    return page.redirect("/app/settings/users?done=invited")


@page("/app/settings/users/{user_id}/role", ["POST"], access="owner")
def change_role(page: Page, user_id: str) -> Response:
    role = page.field("role")
    if role not in ("owner", "staff"):
        raise InvalidInput("unknown role")
    try:
        users.change_role(page.deps, page.account, user_id, role, page.actor)
    except Conflict as exc:
        if exc.code != "last_owner":
            raise
        return _users_page(page, status=409, errors={"users": "console.error.last_owner"})
    return page.redirect("/app/settings/users?done=role")


@page("/app/settings/users/{user_id}/invitation", ["POST"], access="owner")
def resend_invitation(page: Page, user_id: str) -> Response:
    users.resend_invitation(page.deps, page.account, user_id)
    return page.redirect("/app/settings/users?done=resent")


@page("/app/settings/users/{user_id}/remove", ["POST"], access="owner")
def remove_user(page: Page, user_id: str) -> Response:
    try:
        users.remove_user(page.deps, page.account, user_id, page.actor)
    except Conflict as exc:
        if exc.code != "last_owner":
            raise
        return _users_page(page, status=409, errors={"users": "console.error.last_owner"})
    if user_id == page.user.user_id:
        page.end_session()
        return page.redirect("/app/sign-in")
    return page.redirect("/app/settings/users?done=removed")


# --- API keys ---------------------------------------------------------------------------


def _keys_page(page: Page, *, status: int = 200, **context: object) -> Response:
    keys, next_cursor = api_keys.list_keys(page.deps, page.account, None, page.query("cursor"))
    context.setdefault("created", None)
    context.setdefault("secret", None)
    return page.render(
        "console/api_keys.html",
        status=status,
        section="settings",
        keys=keys,
        next_cursor=next_cursor,
        notice=_NOTICES.get(page.query("done") or ""),
        **context,
    )


@page("/app/settings/api-keys", ["GET"], access="owner")
def keys_page(page: Page) -> Response:
    return _keys_page(page)


@page("/app/settings/api-keys", ["POST"], access="owner")
def create_key(page: Page) -> Response:
    from pydantic import ValidationError

    name = page.field("name")
    try:
        data = api_keys.NewApiKey.model_validate({"name": name})
    except ValidationError:
        key = "console.error.name.required" if not name else "console.error.name.too_long"
        return _keys_page(page, status=400, errors={"name": key}, values={"name": name})
    record, secret = api_keys.create_key(page.deps, page.account, data, page.actor)
    # The secret is shown on this response only (no redirect: it must never be in a URL).
    return _keys_page(page, status=201, created=record, secret=secret)


@page("/app/settings/api-keys/{key_id}/revoke", ["POST"], access="owner")
def revoke_key(page: Page, key_id: str) -> Response:
    api_keys.revoke_key(page.deps, page.account, key_id, page.actor)
    return page.redirect("/app/settings/api-keys?done=revoked")
