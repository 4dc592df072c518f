"""The one-command local stack: ``make run`` (``python -m local.run``).

1. refuses at once if the API or emulator port is taken;
2. generates the local secrets once, into ``.local/secrets.env`` (gitignored);
3. restores the emulator's saved state from ``.local/emulator/`` (``local.persistence``;
   ``--fresh`` forgets it and starts empty);
4. starts moto server (the AWS emulator, with the patches of ``local.emulator``) on
   127.0.0.1:<moto-port>, in this process, and snapshots its state every
   ``--snapshot-seconds`` (2) when something changed;
5. creates every table, queue, topic and SES resource that does not exist yet
   (``local.bootstrap``);
6. starts ``chalice local`` (``local.api``) and the worker (``local.worker``),
   each in its own process group;
7. waits until the API answers; creates the demo account through the HTTP API
   unless the restored state has it (its key and its owner's password are kept in
   ``.local/demo.json``): with its owner, who is invited by e-mail and accepts the
   invitation from the outbox with a generated password like a person would; then
   prints the API key, ready-to-paste curl commands and the console's sign-in URL
   with the owner's e-mail and password.

Ctrl-C or SIGTERM stops everything within a few seconds: each child's process group
gets SIGTERM, then SIGKILL after ``STOP_GRACE_SECONDS``, while the changes so far
are saved; then the last snapshot (what the children wrote meanwhile) is written;
moto's port closes with this process. The children also stop by
themselves if this process disappears (``local.process``).

Flags: ``--api-port 8000 --moto-port 5000 --host 127.0.0.1 --schedule-seconds 10
--no-demo --state-dir .local --fresh --snapshot-seconds 2``. Environment:
``PERMESSO_OPERATOR_KEY`` (default ``local-operator-key``); ``PERMESSO_TOKEN_KEYS``
and ``PERMESSO_EMAIL_HASH_KEY`` override the generated secrets when set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from types import FrameType
from typing import Any

from local.bootstrap import DEMO_SENDER
from local.persistence import EmulatorState, Saver, StateError
from local.process import PARENT_PID_ENV
from local.stage import LOCAL_STAGE, PROJECT_DIR, stage_environment

DEFAULT_OPERATOR_KEY = "local-operator-key"  # API.md: the local stack's default only
SECRET_NAMES = ("PERMESSO_TOKEN_KEYS", "PERMESSO_EMAIL_HASH_KEY")
DEMO_OWNER = "owner@demo-salon.example"
DEMO_ACCOUNT = {
    "name": "Demo Salon",
    "sender_email": DEMO_SENDER,  # bootstrap verifies it
    "sender_name": "Demo Salon",
    "owner_email": DEMO_OWNER,
}
READY_TIMEOUT_SECONDS = 90.0
# SIGTERM, then SIGKILL after this: with the last snapshot, the stack is gone within 5 s.
STOP_GRACE_SECONDS = 2.0
DEFAULT_SNAPSHOT_SECONDS = 2.0
DEMO_FILE = "demo.json"
READY_BANNER = "Permesso local stack is ready"


class StartupError(RuntimeError):
    """The stack cannot start; the message says why, for a person."""


class Interrupted(RuntimeError):
    """SIGINT/SIGTERM arrived while the stack was starting."""


# --- ports ----------------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (a socket left in TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(ports: dict[str, tuple[str, int]]) -> None:
    if len({port for _, port in ports.values()}) < len(ports):
        raise StartupError(f"the ports must differ: {ports}")
    for what, (host, port) in ports.items():
        if port_in_use(host, port):
            raise StartupError(
                f"port {port} on {host} ({what}) is already in use — is another `make run` running? "
                f"Stop it, or pick another port with --{what}-port."
            )


# --- secrets --------------------------------------------------------------------------------


def _parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def local_secrets(state_dir: Path) -> dict[str, str]:
    """The local stack's signing keys: generated once, then read back from ``secrets.env``."""
    path = state_dir / "secrets.env"
    if path.exists():
        values = _parse_env_file(path.read_text())
        if all(values.get(name) for name in SECRET_NAMES):
            return {name: values[name] for name in SECRET_NAMES}
    values = {
        "PERMESSO_TOKEN_KEYS": f"local1:{secrets.token_urlsafe(32)}",
        "PERMESSO_EMAIL_HASH_KEY": secrets.token_urlsafe(32),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    text = "# Secrets of the local stack only, generated by `make run`. Never used anywhere else.\n"
    text += "".join(f"{name}={value}\n" for name, value in values.items())
    temporary = state_dir / f".secrets.env.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return values


# --- environment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Addresses:
    host: str
    api_port: int
    moto_port: int

    @property
    def api_url(self) -> str:
        # A wildcard bind is reached through loopback.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"


def child_environment(addresses: Addresses, state_dir: Path) -> dict[str, str]:
    """The environment of the API and the worker (and of bootstrap, in this process).

    Real AWS credentials, profiles and endpoints of the developer's shell are
    dropped: the local stack talks to the emulator only.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_")
        and name not in ("PERMESSO_AWS_ENDPOINT_URL", "PERMESSO_PUBLIC_BASE_URL")
    }
    generated = local_secrets(state_dir)
    env.update({name: os.environ.get(name) or generated[name] for name in SECRET_NAMES})
    env["PERMESSO_OPERATOR_KEY"] = os.environ.get("PERMESSO_OPERATOR_KEY") or DEFAULT_OPERATOR_KEY
    env["PERMESSO_AWS_ENDPOINT_URL"] = addresses.moto_url
    env["PERMESSO_PUBLIC_BASE_URL"] = addresses.api_url
    region = stage_environment(LOCAL_STAGE, env).get("PERMESSO_REGION", "eu-central-1")
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",  # any credentials do for moto
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            PARENT_PID_ENV: str(os.getpid()),
        }
    )
    return env


# --- child processes ------------------------------------------------------------------------


class Children:
    """The processes this launcher started, each leading its own process group."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # A new session: the terminal's Ctrl-C reaches this launcher only, which then
        # stops the children in order; killpg() reaches anything they started.
        process = subprocess.Popen(
            args, env=env, cwd=PROJECT_DIR, start_new_session=True, stdin=subprocess.DEVNULL
        )
        self.processes[name] = process
        return process

    def exited(self) -> dict[str, int]:
        return {name: code for name, p in self.processes.items() if (code := p.poll()) is not None}

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every group, wait, SIGKILL what is left; reap every child."""
        for process in reversed(list(self.processes.values())):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in self.processes.values():
            # Even a leader that exited may leave members in its group: kill the group.
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


# --- HTTP -----------------------------------------------------------------------------------


def http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    return status, (json.loads(text) if text else None)


def wait_for_api(url: str, children: Children, stop: threading.Event, timeout: float) -> None:
    """Until the API answers an HTTP request (any status: 401 is fine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop.is_set():
            raise Interrupted
        if exited := children.exited():
            raise StartupError(f"{', '.join(exited)} exited during startup (exit codes {exited}); see above")
        try:
            http("GET", f"{url}/v1/account", timeout=2.0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            stop.wait(0.25)
    raise StartupError(f"the API at {url} did not answer within {timeout:.0f} s")


# --- moto -----------------------------------------------------------------------------------


def start_moto(port: int, state: EmulatorState | None = None) -> Any:
    """moto server on 127.0.0.1:``port`` with the project's emulator patches; its requests
    tell ``state`` what they may change, so snapshots rewrite only that."""
    from local.emulator import EmulatorServer

    # One werkzeug log line per emulator request (the worker long-polls) would bury the API's.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = EmulatorServer(port, on_request=state.on_request if state is not None else lambda _e: None)
    try:
        server.start()
    except OSError as exc:
        raise StartupError(f"moto server could not listen on 127.0.0.1:{port}: {exc}") from exc
    return server


# --- the stack ------------------------------------------------------------------------------


def curl_examples(api_url: str, api_key: str) -> list[str]:
    auth = f"-H 'Authorization: Bearer {api_key}'"
    client = json.dumps({"email": "anna@example.com", "first_name": "Anna", "tags": ["vip"]})
    return [
        f"curl -s -X POST {api_url}/v1/clients {auth} -H 'Content-Type: application/json' -d {shlex.quote(client)}",
        f"curl -s {api_url}/v1/account {auth}",
        f"curl -s '{api_url}/v1/clients?limit=10' {auth}",
    ]


def create_demo_account(api_url: str, operator_key: str) -> dict[str, Any]:
    status, body = http("POST", f"{api_url}/v1/accounts", DEMO_ACCOUNT, token=operator_key)
    if status != 201:
        raise StartupError(f"creating the demo account failed: HTTP {status} {body}")
    return dict(body)


def demo_password() -> str:
    """A generated password for the demo owner (never stored by this process)."""
    return "demo-" + secrets.token_urlsafe(15)


def accept_demo_invitation(api_url: str, email: str, password: str) -> None:
    """Set the demo owner's password through the console, as a person would: the invitation
    link from the local outbox, its form (cookie and CSRF token), then its POST."""
    status, outbox = http("GET", f"{api_url}/dev/outbox")
    if status != 200:
        raise StartupError(f"reading the local outbox failed: HTTP {status}")
    links = [
        link["href"]
        for mail in outbox["items"]
        if any(email in to for to in mail["to"])
        for link in mail["links"]
        if "/app/invitation/" in link["href"]
    ]
    if not links:
        raise StartupError(f"no invitation for {email} in the local outbox")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(links[0], timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise StartupError("the invitation page has no form")
    form = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "password": password, "confirmation": password}
    )
    request = urllib.request.Request(links[0], data=form.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Origin", api_url)
    try:
        with opener.open(request, timeout=10) as response:
            final = response.geturl()
    except urllib.error.HTTPError as error:
        raise StartupError(f"accepting the demo invitation failed: HTTP {error.code}") from error
    if "/app/sign-in" not in final:
        raise StartupError("accepting the demo invitation did not lead to the sign-in page")


def demo_account(api_url: str, operator_key: str, state_dir: Path) -> tuple[dict[str, Any], bool]:
    """The demo account and whether it was created now.

    Its id and key are kept in ``demo.json`` (mode 0600, next to the local secrets): when
    the restored state still has that account and the key works, it is reused; otherwise
    (first start, ``--fresh``) a new one is created."""
    path = state_dir / DEMO_FILE
    try:
        saved = json.loads(path.read_text())
        status, body = http("GET", f"{api_url}/v1/account", token=str(saved["api_key"]))
        if status == 200 and body.get("account_id") == saved["account_id"] and saved.get("password"):
            return dict(saved), False
    except (OSError, ValueError, KeyError, TypeError):
        pass
    created = create_demo_account(api_url, operator_key)
    password = demo_password()
    accept_demo_invitation(api_url, DEMO_OWNER, password)
    kept = {"account_id": created["account_id"], "api_key": created["api_key"], "password": password}
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_dir / f".{DEMO_FILE}.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(kept, handle)
    os.replace(temporary, path)
    return kept, True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--moto-port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    parser.add_argument(
        "--schedule-seconds",
        type=float,
        default=None,
        help="fire every schedule this often (default 10, or $PERMESSO_LOCAL_SCHEDULE_SECONDS)",
    )
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo account")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=PROJECT_DIR / ".local",
        help="where the generated secrets and the emulator's saved state live (default .local/)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="forget the saved emulator state (and the demo account) and start empty",
    )
    parser.add_argument(
        "--snapshot-seconds",
        type=float,
        default=DEFAULT_SNAPSHOT_SECONDS,
        help="save the emulator's state this often when it changed (default 2; also at stop)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    addresses = Addresses(args.host, args.api_port, args.moto_port)
    check_ports({"api": (args.host, args.api_port), "moto": ("127.0.0.1", args.moto_port)})
    env = child_environment(addresses, args.state_dir)
    # Bootstrap runs here, against the same settings the children get.
    os.environ.clear()
    os.environ.update(env)
    os.environ.update(stage_environment(LOCAL_STAGE))

    children = Children()
    moto = None
    saver: Saver | None = None
    state = EmulatorState(args.state_dir / "emulator")
    try:
        from local.emulator import install

        install()
        if args.fresh:
            state.clear()
            (args.state_dir / DEMO_FILE).unlink(missing_ok=True)
            print("Starting empty (--fresh): the saved emulator state was removed.", flush=True)
        else:
            started = time.monotonic()
            try:
                restored = state.restore()
            except StateError as error:
                raise StartupError(str(error)) from error
            if restored:
                print(
                    f"Restored the emulator state from {state.directory} "
                    f"({time.monotonic() - started:.1f} s); `make run ARGS=--fresh` starts empty.",
                    flush=True,
                )
        if stop.is_set():
            raise Interrupted
        print(f"Starting the AWS emulator (moto server) on {addresses.moto_url} …", flush=True)
        moto = start_moto(args.moto_port, state)
        from local.bootstrap import bootstrap, describe

        report = bootstrap()
        print("AWS resources ready:\n" + describe(report), flush=True)
        saver = Saver(state, args.snapshot_seconds)
        saver.start()
        if stop.is_set():
            raise Interrupted

        api_args = ["--host", args.host, "--port", str(args.api_port)]
        children.start("api", [sys.executable, "-m", "local.api", *api_args], env)
        worker_args = (
            [] if args.schedule_seconds is None else ["--schedule-seconds", str(args.schedule_seconds)]
        )
        children.start("worker", [sys.executable, "-m", "local.worker", *worker_args], env)
        wait_for_api(addresses.api_url, children, stop, READY_TIMEOUT_SECONDS)

        lines = [
            "",
            READY_BANNER,
            f"  API:          {addresses.api_url}",
            f"  AWS emulator: {addresses.moto_url} (moto server, region {env['AWS_DEFAULT_REGION']})",
            f"  State:        {state.directory} (saved every {args.snapshot_seconds:g} s and at stop)",
            f"  Outbox:       {addresses.api_url}/dev/outbox",
        ]
        operator_key = env["PERMESSO_OPERATOR_KEY"]
        if operator_key == DEFAULT_OPERATOR_KEY:
            lines.append(f"  Operator key: {operator_key}")
        else:
            lines.append("  Operator key: the value of PERMESSO_OPERATOR_KEY")
        if not args.no_demo:
            demo, created = demo_account(addresses.api_url, operator_key, args.state_dir)
            lines += [
                f"  Demo account: {DEMO_ACCOUNT['name']} ({demo['account_id']}), sender {DEMO_ACCOUNT['sender_email']}"
                + ("" if created else " — kept from the last run"),
                f"  API key:      {demo['api_key']}",
                f"  Console:      {addresses.api_url}/app/sign-in",
                f"                e-mail {DEMO_OWNER}, password {demo['password']}",
                "",
                "Try:",
                *(f"  {command}" for command in curl_examples(addresses.api_url, demo["api_key"])),
            ]
        lines += ["", "Ctrl-C stops everything (the state is saved).", ""]
        print("\n".join(lines), flush=True)

        while not stop.wait(0.5):
            if exited := children.exited():
                print(
                    f"{', '.join(exited)} exited unexpectedly (exit codes {exited}); stopping.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        return 0
    finally:
        print("Stopping the local stack …", file=sys.stderr, flush=True)
        stopping = time.monotonic()
        if saver is not None:
            saver.begin_stop()  # the changes so far are saved while the children stop
        children.stop()
        if saver is not None:
            try:
                saved = saver.stop(timeout=1.0)
            except Exception as exc:  # noqa: BLE001 - reported; the previous snapshot stays whole
                print(
                    f"The last snapshot failed ({exc}); the previous one is kept.",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                if saved is not None and saved.parts:
                    print(
                        f"State saved to {state.directory} ({saved.seconds:.1f} s).",
                        file=sys.stderr,
                        flush=True,
                    )
        if moto is not None:
            moto.stop()
        print(f"Stopped. ({time.monotonic() - stopping:.1f} s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return run(args, stop)
    except Interrupted:
        return 0
    except StartupError as error:
        print(f"make run: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and saved: exit now, without waiting for the emulator's request
    # threads (daemons) or interpreter clean-up of a large heap.
    os._exit(code)
