"""Operator routes (create, reinstate) and the account's own routes."""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import ApiBlueprint, Call
from chalicelib.api.views import account_view
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.accounts")
reputation = lazy_module("chalicelib.services.reputation")

api = ApiBlueprint(__name__)


@api.endpoint(
    "/v1/accounts", ["POST"], auth="operator", body="chalicelib.services.accounts:NewAccount", status=201
)
def create_account(call: Call) -> dict[str, Any]:
    account, api_key = service.create_account(call.deps, call.body)
    return {
        "account_id": account.account_id,
        "api_key": api_key,
        "public_slug": account.public_slug,
        "account": account_view(account, reputation.reputation_summary(call.deps, account)),
    }


@api.endpoint("/v1/accounts/{account_id}/reinstate", ["POST"], auth="operator")
def reinstate_account(call: Call, account_id: str) -> dict[str, Any]:
    account = service.reinstate(call.deps, account_id)
    return account_view(account, reputation.reputation_summary(call.deps, account))


@api.endpoint("/v1/account", ["GET"])
def get_account(call: Call) -> dict[str, Any]:
    account = call.acting_account
    return account_view(account, reputation.reputation_summary(call.deps, account))


@api.endpoint(
    "/v1/account/settings", ["PATCH"], body="chalicelib.domain.account_settings:AccountSettingsPatch"
)
def update_settings(call: Call) -> dict[str, Any]:
    account = service.update_settings(call.deps, call.acting_account.account_id, call.body, call.actor)
    return account_view(account, reputation.reputation_summary(call.deps, account))
