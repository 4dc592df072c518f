"""Operator routes (create, reinstate, limits) and the account's own routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import account_view
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.bootstrap import Deps
    from chalicelib.domain.records import Account

service = lazy_module("chalicelib.services.accounts")
reputation = lazy_module("chalicelib.services.reputation")
limits = lazy_module("chalicelib.services.limits")

api = ApiBlueprint(__name__)


def full_view(deps: Deps, account: Account) -> dict[str, Any]:
    return account_view(
        account, reputation.reputation_summary(deps, account), limits.limits_view(deps, account)
    )


@api.endpoint(
    "/v1/accounts", ["POST"], auth="operator", body="chalicelib.services.accounts:NewAccount", status=201
)
def create_account(call: Call) -> dict[str, Any]:
    account, api_key = service.create_account(call.deps, call.body)
    return {
        "account_id": account.account_id,
        "api_key": api_key,
        "public_slug": account.public_slug,
        "account": full_view(call.deps, account),
    }


@api.endpoint("/v1/accounts/{account_id}/reinstate", ["POST"], auth="operator")
def reinstate_account(call: Call, account_id: str) -> dict[str, Any]:
    return full_view(call.deps, service.reinstate(call.deps, account_id))


@api.endpoint(
    "/v1/accounts/{account_id}/limits",
    ["PUT"],
    auth="operator",
    body="chalicelib.domain.limits:AccountLimits",
)
def set_account_limits(call: Call, account_id: str) -> dict[str, Any]:
    return full_view(call.deps, limits.set_limits(call.deps, account_id, call.body))


@api.endpoint("/v1/account", ["GET"])
def get_account(call: Call) -> dict[str, Any]:
    return full_view(call.deps, call.acting_account)


@api.endpoint(
    "/v1/account/settings", ["PATCH"], body="chalicelib.domain.account_settings:AccountSettingsPatch"
)
def update_settings(call: Call) -> dict[str, Any]:
    account = service.update_settings(call.deps, call.acting_account.account_id, call.body, call.actor)
    return full_view(call.deps, account)
