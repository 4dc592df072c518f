"""Integration fixtures: moto-mocked AWS with every table, and a Chalice test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.storage.models import ALL_MODELS

OPERATOR = {"Authorization": "Bearer test-operator-key", "Content-Type": "application/json"}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        for model in ALL_MODELS:
            model.create_table(wait=True)
        yield


@pytest.fixture
def api(aws: None) -> Iterator[Client]:
    from app import app

    with Client(app) as client:
        yield client


class Http:
    """JSON helper over the Chalice test client."""

    def __init__(self, client: Client, api_key: str | None) -> None:
        self.client = client
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        import json

        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = getattr(self.client.http, method.lower())(
            path, headers={**self.headers, **(headers or {})}, body=payload
        )
        text = response.body.decode() if response.body else ""
        return response.status_code, (json.loads(text) if text else None)

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PATCH", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("DELETE", path, **kw)


def create_account(
    api: Client, name: str = "Salon Bella", email: str = "hello@salon.example"
) -> dict[str, Any]:
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": name, "sender_email": email}, headers=OPERATOR
    )
    assert status == 201, body
    return body


@pytest.fixture
def account(api: Client) -> dict[str, Any]:
    return create_account(api)


@pytest.fixture
def http(api: Client, account: dict[str, Any]) -> Http:
    return Http(api, account["api_key"])


# --- mail (SES under moto) --------------------------------------------------------------


def verify_sender(email: str) -> None:
    """moto, like the SES sandbox, refuses to send from an unverified address."""
    import boto3

    boto3.client("sesv2", region_name="eu-central-1").create_email_identity(EmailIdentity=email)


def sent_messages() -> list[Any]:
    """What SES (moto) accepted in this test, oldest first (raw MIME in ``raw_data``)."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    return list(get_backend("ses")[DEFAULT_ACCOUNT_ID]["eu-central-1"].sent_messages)


@pytest.fixture
def mail_ready(aws: None, account: dict[str, Any]) -> None:
    """The account's sender is verified, so its mail is accepted."""
    verify_sender("hello@salon.example")
