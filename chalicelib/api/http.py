"""The HTTP boundary of the JSON API: one place for auth, body parsing and error mapping.

Chalice middleware never sees exceptions raised in REST views, so every
JSON view is registered through ``ApiBlueprint.endpoint``, which wraps it:

1. authenticates (account API key, operator key, or none);
2. enforces the body size limit (413) and parses the body with a pydantic
   model (400 with ``details``; malformed JSON is ``invalid_json``), named
   ``"module:Model"`` and imported by the route's first request, so that a
   cold start imports no pydantic model and no service it does not serve;
3. calls the view with a ``Call`` and the URL parameters;
4. turns a returned dict into JSON, and any ``PermessoError`` into the
   error body of API.md with its status from ``chalicelib.errors``.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.bootstrap import Deps, get_deps
from chalicelib.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    PermessoError,
    RateLimited,
    Unauthenticated,
    error_body,
    http_status,
)
from chalicelib.lazy import lazy_module
from chalicelib.observability import logger

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from chalicelib.domain.records import Account, ApiKey

account_service = lazy_module("chalicelib.services.accounts")

Auth = Literal["account", "operator", "none"]
JSON_HEADERS = {"Content-Type": "application/json"}
# A GET has no body: the pages and documents outside the JSON API answer it whatever
# ``Content-Type`` the client sends (Chalice refuses a type not listed with a JSON 415).
ANY_CONTENT_TYPE = ["*/*"]


@dataclass
class Call:
    """What a view needs to know about the request it serves."""

    request: Request
    deps: Deps
    account: Account | None = None
    api_key: ApiKey | None = None
    body: Any = None

    @property
    def acting_account(self) -> Account:
        assert self.account is not None, "view registered without auth='account'"
        return self.account

    @property
    def actor(self) -> str:
        """What a change made through this request records as its ``actor``: the key's id."""
        assert self.api_key is not None, "view registered without auth='account'"
        return self.api_key.key_id

    @property
    def source_ip(self) -> str | None:
        """The connection's address as API Gateway reports it; headers are never consulted."""
        from chalicelib.api.connection import source_ip

        return source_ip(self.request)

    def query(self, name: str) -> str | None:
        params = self.request.query_params or {}
        return params.get(name)

    def query_int(self, name: str) -> int | None:
        text = self.query(name)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(
                f"query parameter {name} must be an integer",
                details=[{"field": name, "message": "must be an integer"}],
            ) from None

    def query_bool(self, name: str, default: bool = False) -> bool:
        text = self.query(name)
        if text is None:
            return default
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise InvalidInput(
            f"query parameter {name} must be true or false",
            details=[{"field": name, "message": "must be true or false"}],
        )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})})


def error_response(error: PermessoError) -> Response:
    headers = None
    if isinstance(error, RateLimited) and isinstance(error.details, dict) and "retry_after" in error.details:
        headers = {"Retry-After": str(error.details["retry_after"])}
    return json_response(error_body(error), http_status(error), headers)


_FRAMEWORK_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "BadRequest": "invalid_input",
    "BadRequestError": "invalid_input",
    "NotFoundError": "not_found",
}


def normalise_framework_error(response: Response) -> Response:
    """Give Chalice's own refusals (405, 415…, raised before any view runs) the API's error shape."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = _FRAMEWORK_CODES.get(str(body["Code"]), "invalid_request")
        response.body = json.dumps({"error": {"code": code, "message": body["Message"], "details": None}})
        response.headers = {**(response.headers or {}), **JSON_HEADERS}
    return response


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def _message(error: dict[str, Any]) -> str:
    text = str(error.get("msg", "invalid"))
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": _field_path(err.get("loc", ())), "message": _message(err), "type": err.get("type", "")}
        for err in exc.errors(include_url=False, include_input=False)
    ]


@functools.cache
def _import_model(name: str) -> type[BaseModel]:
    module, _, attribute = name.partition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), attribute)
    return model


def body_model(body: type[BaseModel] | str) -> type[BaseModel]:
    """The model class of an endpoint's ``body`` (importing it if given by name)."""
    return _import_model(body) if isinstance(body, str) else body


def parse_json_body(raw: bytes, model: type[BaseModel], limit: int) -> BaseModel:
    from pydantic import ValidationError

    if len(raw) > limit:
        raise PayloadTooLarge(
            f"the request body is larger than {limit} bytes",
            details={"limit_bytes": limit, "received_bytes": len(raw)},
        )
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            raise InvalidInput(
                "the request body is not valid JSON",
                code="invalid_json",
                details=[{"field": "body", "message": "malformed JSON"}],
            ) from None
        raise InvalidInput("the request is invalid", details=validation_details(exc)) from None


def _authenticate(call: Call, auth: Auth) -> None:
    header = call.request.headers.get("authorization")
    if auth == "account":
        call.account, call.api_key = account_service.authenticate(call.deps, header, call.source_ip)
        logger.append_keys(account_id=call.account.account_id)
    elif auth == "operator":
        if not header:
            raise Unauthenticated("missing Authorization: Bearer <operator_key> header")
        if not account_service.is_operator(call.deps, header):
            # A valid account key is authenticated but not allowed; anything else is not authenticated.
            account_service.authenticate(call.deps, header, call.source_ip)
            raise Forbidden("this route needs the operator key")


class ApiBlueprint(Blueprint):
    """A Chalice blueprint whose JSON routes all pass through one boundary."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        # Every endpoint's body model (class or name), so a test can import them all.
        self.body_models: list[type[BaseModel] | str] = []

    def endpoint(
        self,
        path: str,
        methods: list[str],
        *,
        auth: Auth = "account",
        body: type[BaseModel] | str | None = None,
        status: int = 200,
        content_types: list[str] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if isinstance(body, str) and not body.partition(":")[2]:
            raise ValueError(f"body {body!r} must name its model as 'package.module:Model'")
        if body is not None:
            self.body_models.append(body)

        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def handle(**params: str) -> Response:
                return self._serve(view, params, auth=auth, body=body, status=status)

            self.route(path, methods=methods, content_types=content_types or ["application/json"])(handle)
            return view

        return register

    def _serve(
        self,
        view: Callable[..., Any],
        params: dict[str, str],
        *,
        auth: Auth,
        body: type[BaseModel] | str | None,
        status: int,
    ) -> Response:
        try:
            # Settings are built by the first request (and in the cloud read from SSM): a
            # failure there is this boundary's 500 too.
            call = Call(request=self.current_request, deps=get_deps())
            _authenticate(call, auth)
            if body is not None:
                raw = call.request.raw_body or b""
                model = body_model(body)
                call.body = parse_json_body(raw, model, call.deps.settings.max_json_body_bytes)
            result = view(call, **params)
        except PermessoError as exc:
            logger.info("request refused", extra={"code": exc.code, "status": http_status(exc)})
            return error_response(exc)
        except Exception:  # noqa: BLE001 — the boundary: a bug becomes a logged 500, never a crash
            logger.exception("unhandled error")
            return json_response(
                {"error": {"code": "internal_error", "message": "internal error", "details": None}}, 500
            )
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(body="", status_code=204)
        return json_response(result, status)
