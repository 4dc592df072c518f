"""Smoke test: the real local stack, started exactly as ``make run`` starts it.

``python -m local.run`` runs as a subprocess on free ports (moto server,
``chalice local`` and the worker are real processes); the tests talk to it over
real HTTP and boto3, and the last one stops it with SIGINT, as Ctrl-C would,
and checks that no process is left and both ports are free. Every wait is
bounded. The tests of this module share one stack and run in file order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.run import local_secrets

pytestmark = pytest.mark.smoke
RUN_FIRST = 60  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

PROJECT_DIR = Path(__file__).resolve().parents[2]
OPERATOR_KEY = "smoke-operator-key"
REGION = "eu-central-1"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
STOP_PROMPTLY = 5.0  # the bound: every process gone, state saved, ports free
HTTP_TIMEOUT = 10.0
READY_BANNER = "Permesso local stack is ready"


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    api_port: int
    moto_port: int
    log: Path
    state_dir: Path
    env: dict[str, str]
    demo_key: str

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def moto(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.moto,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def stack_environment() -> dict[str, str]:
    """The developer's environment without this test session's Permesso and AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERMESSO_", "AWS_", "POWERTOOLS_"))}
    env["PERMESSO_OPERATOR_KEY"] = OPERATOR_KEY
    return env


def start_stack(
    api_port: int, moto_port: int, state_dir: Path, log: Path, env: dict[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.run",
                "--api-port",
                str(api_port),
                "--moto-port",
                str(moto_port),
                "--state-dir",
                str(state_dir),
                *extra,
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def every_client(api: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every client of the account the key opens, through ``GET /v1/clients`` page by page
    (500 a page, the largest)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api}/v1/clients", params=params, headers=auth, timeout=HTTP_TIMEOUT).json()
        found += page["items"]
        if not (cursor := page.get("next_cursor")):
            return found


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("the smoke test follows processes through /proc")
    workdir = tmp_path_factory.mktemp("local-stack")
    api_port, moto_port = free_ports(2)
    env = stack_environment()
    log = workdir / "run.log"
    process = start_stack(api_port, moto_port, workdir / "state", log, env)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_BANNER not in log.read_text(errors="replace"):
            seen |= descendants(process.pid)
            if process.poll() is not None:
                pytest.fail(f"local.run exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the local stack was not ready within {START_TIMEOUT:.0f} s:\n{log.read_text()}")
            time.sleep(0.2)
        # The banner block is printed at once: wait until its last line has landed.
        assert wait_for(lambda: "Ctrl-C stops everything" in log.read_text(errors="replace"), 30)
        [demo_key] = [
            line.split()[-1] for line in log.read_text().splitlines() if line.strip().startswith("API key:")
        ]
        yield Stack(process, api_port, moto_port, log, workdir / "state", env, demo_key)
    finally:
        # Normally test_ctrl_c_stops_everything has stopped it; this is the safety net.
        if process.poll() is None:
            seen |= descendants(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# --- the stack as it runs -------------------------------------------------------------------


def test_every_aws_resource_exists(stack: Stack) -> None:
    tables = stack.aws("dynamodb").list_tables()["TableNames"]
    for name in (
        "accounts",
        "api-keys",
        "clients",
        "client-emails",
        "tag-members",
        "suppressions",
        "account-stats",
    ):
        assert f"permesso-local-{name}" in tables

    sqs = stack.aws("sqs")
    for name in ("jobs", "send", "ses-events"):
        url = sqs.get_queue_url(QueueName=f"permesso-local-{name}")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert "permesso-local-" + name + "-dlq" in attributes["RedrivePolicy"]
        assert int(attributes["VisibilityTimeout"]) > 0

    sns = stack.aws("sns")
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    [topic] = [arn for arn in topics if arn.endswith(":permesso-local-ses-events")]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"].endswith(":permesso-local-ses-events")
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
    assert attributes["Attributes"].get("RawMessageDelivery", "false") == "false"

    ses = stack.aws("ses")
    assert "hello@demo-salon.example" in ses.list_identities()["Identities"]
    config_sets = [c["Name"] for c in ses.list_configuration_sets()["ConfigurationSets"]]
    assert "permesso-local-events" in config_sets


def test_bootstrap_is_idempotent(stack: Stack) -> None:
    env = {
        **stack.env,
        "PERMESSO_AWS_ENDPOINT_URL": stack.moto,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = subprocess.run(
        [sys.executable, "-m", "local.bootstrap"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    sns = stack.aws("sns")
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("ses-events")]
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


def test_the_demo_account_and_its_printed_key_work(stack: Stack) -> None:
    response = requests.get(
        f"{stack.api}/v1/account", headers={"Authorization": f"Bearer {stack.demo_key}"}, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Demo Salon"
    assert f"curl -s {stack.api}/v1/account -H 'Authorization: Bearer {stack.demo_key}'" in stack.output()


def test_the_demo_owner_signs_in_with_the_printed_password(stack: Stack) -> None:
    """``make run`` invited the demo account's owner, accepted the invitation from the outbox
    and printed the console's URL with the e-mail and password: they sign in."""
    import re

    printed = re.search(r"Console:\s+(\S+)\s+e-mail (\S+), password (\S+)", stack.output())
    assert printed, stack.output()
    url, email, password = printed.groups()
    assert url == f"{stack.api}/app/sign-in" and email == "owner@demo-salon.example"
    session = requests.Session()
    form = session.get(url, timeout=HTTP_TIMEOUT)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token
    signed_in = session.post(
        url,
        data={"csrf_token": token.group(1), "email": email, "password": password},
        headers={"Origin": stack.api},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/app", signed_in.text
    home = session.get(f"{stack.api}/app", timeout=HTTP_TIMEOUT)
    assert home.status_code == 200 and "Demo Salon" in home.text and "Sign out" in home.text
    outbox = requests.get(f"{stack.api}/dev/outbox", timeout=HTTP_TIMEOUT).json()["items"]
    assert any("owner@demo-salon.example" in mail["to"] for mail in outbox)


def test_an_account_and_a_client_round_trip_over_http(stack: Stack) -> None:
    created = requests.post(
        f"{stack.api}/v1/accounts",
        json={"name": "Smoke Salon", "sender_email": "hello@smoke-salon.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}

    new_client = {"email": "Anna@Example.com", "first_name": "Anna", "tags": ["vip"]}
    posted = requests.post(f"{stack.api}/v1/clients", json=new_client, headers=auth, timeout=HTTP_TIMEOUT)
    assert posted.status_code == 201, posted.text
    client_id = posted.json()["client_id"]

    fetched = requests.get(f"{stack.api}/v1/clients/{client_id}", headers=auth, timeout=HTTP_TIMEOUT)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == posted.json()
    assert fetched.json()["first_name"] == "Anna" and fetched.json()["tags"] == ["vip"]


def test_a_large_import_is_a_job_the_worker_finishes(stack: Stack) -> None:
    """Beyond ``import_inline_rows`` (500) the import answers 202 and the stack's worker runs
    the job to the end: every client is there, the summary in the job's result."""
    created = requests.post(
        f"{stack.api}/v1/accounts",
        json={"name": "Import Salon", "sender_email": "hello@import-salon.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    rows = 700
    body = "email;first_name\n" + "".join(f"c{i:04d}@import.example;C{i}\n" for i in range(rows))
    answer = requests.post(
        f"{stack.api}/v1/clients/import",
        data=(body + "not-an-address;X\n").encode(),
        headers={**auth, "Content-Type": "text/csv"},
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["total"] == rows + 1 and answer.json()["done"] == 1
    job_id = answer.json()["job_id"]

    def done() -> bool:
        job = requests.get(f"{stack.api}/v1/jobs/{job_id}", headers=auth, timeout=HTTP_TIMEOUT).json()
        assert job["status"] != "failed", job
        return bool(job["status"] == "done")

    assert wait_for(done, 600, interval=0.5)
    job = requests.get(f"{stack.api}/v1/jobs/{job_id}", headers=auth, timeout=HTTP_TIMEOUT).json()
    assert job["done"] == job["total"] == rows + 1
    assert job["result"]["created"] == rows and [e["row"] for e in job["result"]["errors"]] == [rows + 1]
    emails = [client["email"] for client in every_client(stack.api, auth)]
    assert sorted(emails) == [f"c{i:04d}@import.example" for i in range(rows)]


def test_a_bad_key_gets_401_and_malformed_json_gets_400(stack: Stack) -> None:
    refused = requests.get(
        f"{stack.api}/v1/account", headers={"Authorization": "Bearer pm_not-a-key"}, timeout=HTTP_TIMEOUT
    )
    assert refused.status_code == 401
    assert set(refused.json()["error"]) == {"code", "message", "details"}

    malformed = requests.post(
        f"{stack.api}/v1/clients",
        data=b'{"email": ',
        headers={"Authorization": f"Bearer {stack.demo_key}", "Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    assert malformed.status_code == 400, malformed.text
    error = malformed.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] and error["message"]


def test_unknown_routes_answer_as_the_deployed_gateway_does(stack: Stack) -> None:
    """chalice local would answer 403 Missing Authentication Token; the deployed API's Gateway
    Response (chalicelib/api/edge.py) is a JSON 404, and /p/ paths get the HTML 404 page."""
    for method, path in (("GET", "/nowhere"), ("POST", "/v1/nowhere/deeper"), ("DELETE", "/docs")):
        response = requests.request(method, f"{stack.api}{path}", timeout=HTTP_TIMEOUT)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"
    page = requests.get(
        f"{stack.api}/p/nowhere/at/all", headers={"Accept-Language": "it"}, timeout=HTTP_TIMEOUT
    )
    assert page.status_code == 404
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Pagina non trovata" in page.text


def test_the_secrets_are_generated_once_and_private(stack: Stack) -> None:
    secrets_file = stack.state_dir / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    text = secrets_file.read_text()
    assert "PERMESSO_TOKEN_KEYS=" in text and "PERMESSO_EMAIL_HASH_KEY=" in text
    assert OPERATOR_KEY not in text
    values = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    for value in values.values():
        assert value not in stack.output()  # never printed
    # A later start reads them back instead of generating new ones (tokens in e-mails stay valid).
    assert local_secrets(stack.state_dir) == values
    assert secrets_file.read_text() == text


def test_a_second_stack_on_the_same_ports_fails_at_once(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "second.log"
    second = start_stack(stack.api_port, stack.moto_port, stack.state_dir, log, stack.env)
    try:
        assert second.wait(timeout=60) != 0
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait(timeout=STOP_TIMEOUT)
    assert "already in use" in log.read_text()


# --- stopping: keep last --------------------------------------------------------------------


def test_ctrl_c_stops_everything(stack: Stack) -> None:
    children = descendants(stack.process.pid)
    assert len(children) >= 2, "expected the API and the worker processes"
    assert listening(stack.api_port) and listening(stack.moto_port)

    started = time.monotonic()
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=STOP_TIMEOUT) == 0, stack.output()
    assert wait_for(lambda: not any(alive(pid) for pid in children), timeout=STOP_TIMEOUT), [
        pid for pid in children if alive(pid)
    ]
    assert wait_for(lambda: not listening(stack.api_port) and not listening(stack.moto_port), timeout=10)
    assert time.monotonic() - started < STOP_PROMPTLY, stack.output()[-2000:]
    for port in (stack.api_port, stack.moto_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # free again
    assert "Stopped." in stack.output()
    manifest = json.loads((stack.state_dir / "emulator" / "manifest.json").read_text())  # state saved
    assert any(part.endswith("permesso-local-accounts") for part in manifest["parts"])
