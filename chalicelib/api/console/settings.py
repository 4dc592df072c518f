"""Settings (owners only): the account's settings (``services.accounts.update_settings`` with
the API's ``AccountSettingsPatch``), the intake form's link, the account's users and API keys.
The same services as the API."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.lazy import lazy_module

users = lazy_module("chalicelib.services.users")
accounts = lazy_module("chalicelib.services.accounts")
api_keys = lazy_module("chalicelib.services.api_keys")

_NOTICES = {
    "invited": "console.notice.invited",
    "resent": "console.notice.resent",
    "role": "console.notice.role",
    "removed": "console.notice.removed",
    "revoked": "console.notice.revoked",
}


# --- the account's settings ---------------------------------------------------------------

TEXT_SETTINGS = ("sender_name", "sender_email", "terms_url", "legitimate_interest_url")
NUMBER_SETTINGS = ("reactivation_wait_days", "daily_send_cap", "hourly_send_cap")
THRESHOLDS = ("new_days", "active_days", "lapsing_days")
CHOICES = {"language": ("en", "cs", "it"), "non_responder_action": ("none", "tag", "erase")}


def settings_values(current: Any) -> dict[str, str]:
    """The form's fields from the account's settings (what the page shows)."""
    values = {name: str(getattr(current, name) or "") for name in (*TEXT_SETTINGS, *NUMBER_SETTINGS)}
    values.update(language=current.language, non_responder_action=current.non_responder_action)
    values["send_rate_per_second"] = f"{current.send_rate_per_second:g}"
    values["consent_only_campaigns"] = "1" if current.consent_only_campaigns else ""
    for name in THRESHOLDS:
        values[name] = str(getattr(current.auto_status, name))
    return values


def settings_patch(values: dict[str, str], current: dict[str, str]) -> dict[str, Any]:
    """``PATCH /v1/account/settings``'s body: only what the form changed (so a setting the
    person did not touch is never re-validated against rules it was saved under); an emptied
    optional text clears it. Numbers that do not read as numbers are left as text for the
    model to refuse."""
    patch: dict[str, Any] = {}
    for name in (*TEXT_SETTINGS, "language", "non_responder_action"):
        if values[name] != current[name]:
            patch[name] = values[name] or None
    for name in (*NUMBER_SETTINGS, "send_rate_per_second"):
        if values[name] != current[name]:
            text = values[name].replace(",", ".") if name == "send_rate_per_second" else values[name]
            try:
                patch[name] = float(text) if name == "send_rate_per_second" else int(text)
            except ValueError:
                patch[name] = text
    if values["consent_only_campaigns"] != current["consent_only_campaigns"]:
        patch["consent_only_campaigns"] = values["consent_only_campaigns"] == "1"
    if any(values[name] != current[name] for name in THRESHOLDS):
        patch["auto_status"] = {
            name: int(values[name]) if values[name].isdigit() else values[name] for name in THRESHOLDS
        }
    return patch


def _settings_page(
    page: Page,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, Any] | None = None,
) -> Response:
    return page.render(
        "console/settings.html",
        status=status,
        section="settings",
        values=values or settings_values(page.account.settings),
        errors=errors or {},
        intake_url=f"{page.deps.settings.public_base_url}/p/forms/{page.account.public_slug}",
        notice="console.settings.notice.saved" if page.query("done") == "saved" else None,
    )


@page("/app/settings", ["GET"], access="owner")
def settings(page: Page) -> Response:
    return _settings_page(page)


@page("/app/settings", ["POST"], access="owner")
def save_settings(page: Page) -> Response:
    from pydantic import ValidationError

    from chalicelib.domain.account_settings import AccountSettingsPatch

    current = settings_values(page.account.settings)
    names = (*TEXT_SETTINGS, *NUMBER_SETTINGS, *THRESHOLDS, "language", "non_responder_action")
    values = {name: page.field(name) for name in names}
    values["send_rate_per_second"] = page.field("send_rate_per_second")
    values["consent_only_campaigns"] = "1" if page.field("consent_only_campaigns") == "1" else ""
    errors: dict[str, Any] = {}
    for name, allowed in CHOICES.items():
        if values[name] not in allowed:
            errors[name] = f"console.settings.error.{name}"
    if (
        values["non_responder_action"] == "erase"
        and current["non_responder_action"] != "erase"
        and page.field("confirm_erase") != "1"
    ):
        errors["confirm_erase"] = "console.settings.error.confirm_erase"
    patch = settings_patch(values, current)
    try:
        parsed = AccountSettingsPatch.model_validate(patch)
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err.get("loc") else "sender_email"
            if where == "auto_status":
                where = (
                    str(err["loc"][1])
                    if len(err["loc"]) > 1 and err["loc"][1] in THRESHOLDS
                    else "lapsing_days"
                )
            errors.setdefault(where, f"console.settings.error.{where}")
    if errors:
        return _settings_page(page, status=400, values=values, errors=errors)
    try:
        accounts.update_settings(page.deps, page.account.account_id, parsed, page.actor)
    except InvalidInput as exc:
        for detail in exc.details if isinstance(exc.details, list) else []:
            where = str(detail.get("field", "")).split(".")[-1]
            if where in values:
                errors.setdefault(where, f"console.settings.error.{where}")
        return _settings_page(
            page,
            status=400,
            values=values,
            errors=errors or {"sender_email": "console.settings.error.sender_email"},
        )
    return page.redirect("/app/settings?done=saved")


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
