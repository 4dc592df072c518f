"""Integration fixtures: moto-mocked AWS with every table, and a Chalice test client."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import chalice.test
import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws

from chalicelib.storage.models import ALL_MODELS

OPERATOR = {"Authorization": "Bearer test-operator-key", "Content-Type": "application/json"}


# Every table of ALL_MODELS as moto holds it once created and still empty, made once per test
# process: creating the tables through the API for each test cost about a tenth of the suite.
_EMPTY_TABLES: dict[str, Any] = {}


def create_tables() -> None:
    """Every table of ``ALL_MODELS``, empty, in the active moto world (``mock_aws`` empties
    every service when it starts). The first call creates them through the API, as the local
    stack does; later calls put fresh copies of those empty tables into moto's DynamoDB."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    from chalicelib.config import get_settings

    tables = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][get_settings().region].tables
    if not _EMPTY_TABLES:
        for model in ALL_MODELS:
            model.create_table(wait=True)
        _EMPTY_TABLES.update({name: copy.deepcopy(table) for name, table in tables.items()})
        return
    for name, table in _EMPTY_TABLES.items():
        tables[name] = copy.deepcopy(table)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh AWS (moto) for one test: every table empty, every queue, nothing else."""
    with mock_aws():
        create_tables()
        create_queues()
        yield


class _ConfiguredContext(LambdaContext):
    """Chalice's test client gives every function a context with 3 s to run; Lambda gives it the
    function's configured timeout, which the job runner and the schedules budget their time from
    (every Chalice test client of the suite, ``fresh_world``'s included, gets this one)."""

    def __init__(self, function_name: str, memory_size: int, max_runtime_ms: int | None = None) -> None:
        from chalicelib.bootstrap import get_deps

        timeout_ms = int(get_deps().settings.lambda_timeout_seconds * 1000)  # as ``tune`` sets it
        super().__init__(function_name, memory_size, max_runtime_ms=max_runtime_ms or timeout_ms)


chalice.test.LambdaContext = _ConfiguredContext  # type: ignore[misc]


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


def create_clients(http: Http, bodies: list[dict[str, Any]]) -> list[str]:
    """Clients created as ``POST /v1/clients`` creates them, in order: the same JSON parsing into
    the same input model, the key authenticated, the same items and conditions — several to a
    transaction, as an import creates them (``services.clients.create_clients``), any one
    refused created alone. In process rather than through the test client, for the tests
    whose setup is hundreds of clients: the HTTP round trip and the key's authentication per
    client were about half of that setup's time (the route itself is tested in
    test_clients.py and test_api_contract.py)."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.domain.client_profile import ClientInput
    from chalicelib.observability import flush_metrics
    from chalicelib.services.accounts import authenticate
    from chalicelib.services.clients import create_client
    from chalicelib.services.clients import create_clients as create_many
    from chalicelib.services.tags import account_spellings
    from chalicelib.services.writers import in_batches

    deps = get_deps()
    account, _key = authenticate(deps, http.headers.get("Authorization"), None)
    inputs = [ClientInput.model_validate_json(json.dumps(body)) for body in bodies]
    spellings: dict[str, str] = {}
    account_spellings(deps, account.account_id, [tag for data in inputs for tag in data.tags], spellings)
    made = in_batches(
        deps, inputs, lambda batch: create_many(deps, account, [(d, None) for d in batch], spellings)
    )
    ids = [
        (client or create_client(deps, account, data, spellings)).client_id
        for data, client in zip(inputs, made, strict=True)
    ]
    flush_metrics()  # as the API does after each request
    return ids


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


def create_queues() -> None:
    """Every queue of ``chalicelib.resources.QUEUES``, as the local stack and infra create them."""
    import boto3

    from chalicelib.config import get_settings
    from chalicelib.resources import QUEUES

    settings = get_settings()
    sqs = boto3.client("sqs", region_name=settings.region)
    for queue in QUEUES:
        sqs.create_queue(
            QueueName=settings.resource_name(queue.name),
            Attributes={"VisibilityTimeout": str(queue.visibility_timeout_seconds)},
        )


def jobs_queue_messages() -> list[dict[str, Any]]:
    """Take every message waiting on the jobs queue (received and deleted)."""
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    sqs = boto3.client("sqs", region_name=settings.region)
    url = sqs.get_queue_url(QueueName=settings.resource_name("jobs"))["QueueUrl"]
    taken: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return taken
        for message in batch:
            taken.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_job_message(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    """Invoke the worker Lambda entry point with an SQS event holding one message."""
    from chalicelib.config import get_settings

    event = api.events.generate_sqs_event(
        message_bodies=[json.dumps(body)], queue_name=get_settings().resource_name("jobs")
    )
    return api.lambda_.invoke("run_jobs", event).payload


def drain_jobs(api: Client, max_rounds: int = 500) -> int:
    """Deliver queued job messages to the worker until the queue is empty; returns how many ran."""
    delivered = 0
    for _ in range(max_rounds):
        messages = jobs_queue_messages()
        if not messages:
            return delivered
        for body in messages:
            result = run_job_message(api, body)
            assert result == {"batchItemFailures": []}, result
            delivered += 1
    raise AssertionError("the jobs queue did not drain")


@pytest.fixture
def tune() -> Iterator[Any]:
    """Change settings (sync limit, chunk size) or the clock of the app's Deps for one test."""
    from chalicelib.bootstrap import get_deps

    deps = get_deps()
    saved_settings, saved_clock = deps.settings, deps.clock

    def apply(**overrides: Any) -> Any:
        deps.settings = deps.settings.model_copy(update=overrides)
        return deps

    yield apply
    deps.settings, deps.clock = saved_settings, saved_clock
