"""The account's console users: invite, list, change role, remove (the console's Settings
page does the same through the same service)."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import user_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.users")

api = ApiBlueprint(__name__)


@api.endpoint("/v1/users", ["POST"], body="chalicelib.services.users:NewUser", status=201)
def invite_user(call: Call) -> dict[str, Any]:
    return user_view(service.invite_user(call.deps, call.acting_account, call.body, call.actor))


@api.endpoint("/v1/users", ["GET"])
def list_users(call: Call) -> dict[str, Any]:
    people, next_cursor = service.list_users(
        call.deps, call.acting_account, call.query_int("limit"), call.query("cursor")
    )
    return {"items": [user_view(user) for user in people], "next_cursor": next_cursor}


@api.endpoint("/v1/users/{user_id}", ["GET"])
def get_user(call: Call, user_id: str) -> dict[str, Any]:
    return user_view(service.get_user(call.deps, call.acting_account, user_id))


@api.endpoint("/v1/users/{user_id}", ["PATCH"], body="chalicelib.services.users:RoleChange")
def change_role(call: Call, user_id: str) -> dict[str, Any]:
    body: service.RoleChange = call.body
    return user_view(service.change_role(call.deps, call.acting_account, user_id, body.role, call.actor))


@api.endpoint("/v1/users/{user_id}", ["DELETE"], status=204)
def remove_user(call: Call, user_id: str) -> None:
    service.remove_user(call.deps, call.acting_account, user_id, call.actor)


@api.endpoint("/v1/users/{user_id}/invitation", ["POST"], status=202)
def resend_invitation(call: Call, user_id: str) -> dict[str, Any]:
    return user_view(service.resend_invitation(call.deps, call.acting_account, user_id))
