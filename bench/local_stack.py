"""The local stack at a real salon's size: ``python -m bench.local_stack``.

Starts the stack exactly as ``make run`` does (``python -m local.run``, fresh state
in a temporary directory, free ports), under a memory watchdog that kills it above
``CEILING`` (the machine is shared: a regression must not take everyone's memory).
Then, in one run:

1. imports 1,000 rows through ``POST /v1/clients/import`` (one account), then
   10,000 rows (the documented limit; another account), and compares the time
   per row: goal ``10k / 1k <= 2`` (the emulator's cost per write must not grow
   with the tables). Both files are beyond ``import_inline_rows`` (500), so each is
   imported by a job (202): the time is until ``GET /v1/jobs/{id}`` says it is done;
2. the stack's resident memory, all its processes added up (launcher with the
   emulator, ``chalice local``, the worker), after the 10,000-row import: goal
   < 1.5 GB;
3. fills the emulator up to 100,000 clients and measures the memory again:
   goal < 3 GB. Importing 90,000 more rows through the API takes tens of
   minutes on this machine, so the extra clients are written in batches
   (``BatchWriteItem``, 25 items a request) as clones of the items one imported
   client has in every table (its client item, e-mail claim, tag memberships…),
   with new ids and addresses: the same items, sizes and keys the import
   writes, without the per-row API work. ``--through-api`` imports them instead,
   10,000 rows at a time;
4. stops the stack with SIGINT at 100,000 clients (seconds until every process
   is gone, the last snapshot written: goal <= 5) and starts it again on the same
   state (seconds to restore, and the clients are all there).

Figures go to ``bench/results/local_stack.json`` and ``bench/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.process import MemoryWatchdog, process_tree, resident_bytes  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "local_stack.json"
CEILING = 4 * 2**30
GB = 2**30
GOALS = {
    "time_per_row_ratio_10k_1k": 2.0,
    "rss_gb_after_10k": 1.5,
    "rss_gb_at_100k": 3.0,
    "stop_seconds": 5.0,
}
OPERATOR = "bench-operator-key"
READY = "Permesso local stack is ready"
HTTP_TIMEOUT = 3600.0


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class Stack:
    def __init__(self, state: Path, log: Path, fresh: bool) -> None:
        self.api_port, self.moto_port = free_ports(2)
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.moto = f"http://127.0.0.1:{self.moto_port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERMESSO_", "AWS_", "POWERTOOLS_"))}
        env["PERMESSO_OPERATOR_KEY"] = OPERATOR
        args = [sys.executable, "-m", "local.run", "--api-port", str(self.api_port)]
        args += ["--moto-port", str(self.moto_port), "--state-dir", str(state), "--no-demo"]
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [*args, *(["--fresh"] if fresh else [])],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()
        while READY not in log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited:\n{log.read_text()}")
            if time.monotonic() - self.started > 900:
                raise RuntimeError(f"the stack did not start:\n{log.read_text()}")
            time.sleep(0.2)
        self.ready_seconds = time.monotonic() - self.started

    def rss(self) -> int:
        return resident_bytes(process_tree(self.process.pid))

    def stop(self) -> float:
        processes = process_tree(self.process.pid)
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=120)
        while any(Path(f"/proc/{pid}").exists() for pid in processes):
            time.sleep(0.05)
        return time.monotonic() - started

    def account(self, name: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.api}/v1/accounts",
            # Each account its own sender domain: a domain belongs to one account.
            json={"name": name, "sender_email": f"hello@{name.lower().replace(' ', '-')}.bench.example"},
            headers={"Authorization": f"Bearer {OPERATOR}"},
            timeout=60,
        )
        response.raise_for_status()
        return dict(response.json())

    def dynamodb(self) -> Any:
        return boto3.client(
            "dynamodb",
            region_name="eu-central-1",
            endpoint_url=self.moto,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )


def rows_csv(prefix: str, count: int, start: int = 0) -> bytes:
    lines = ["email;first_name;last_name;phone;tags;language"]
    lines += [
        f"{prefix}{i:06d}@salon.example;Jana{i};Nováková;+420601{i % 1000000:06d};vip,spring;cs"
        for i in range(start, start + count)
    ]
    return ("\n".join(lines) + "\n").encode()


def import_csv(
    api: str, headers: dict[str, str], body: bytes, timeout: float = HTTP_TIMEOUT, poll: float = 0.5
) -> dict[str, Any]:
    """Import a CSV through ``POST /v1/clients/import`` and return its summary (``created``,
    ``updated``, ``skipped``, ``errors``): the 200 report of a small file, or, for a large one
    (202, a job), the job's ``result`` once ``GET /v1/jobs/{id}`` says it is done."""
    deadline = time.monotonic() + timeout
    response = requests.post(
        f"{api}/v1/clients/import",
        data=body,
        headers={**headers, "Content-Type": "text/csv"},
        timeout=timeout,
    )
    if response.status_code == 200:
        return dict(response.json())
    if response.status_code != 202:
        raise RuntimeError(f"import failed: HTTP {response.status_code} {response.text[:500]}")
    job_id = response.json()["job_id"]
    while time.monotonic() < deadline:
        job = requests.get(f"{api}/v1/jobs/{job_id}", headers=headers, timeout=60)
        if job.status_code != 200:
            raise RuntimeError(f"import job {job_id}: HTTP {job.status_code} {job.text[:500]}")
        state = job.json()
        if state["status"] == "done":
            return dict(state["result"])
        if state["status"] == "failed":
            raise RuntimeError(f"import job {job_id} failed: {str(state)[:500]}")
        time.sleep(poll)
    raise TimeoutError(f"import job {job_id} not done after {timeout} s")


def import_rows(stack: Stack, key: str, body: bytes, expected: int) -> float:
    """Seconds until every row is imported (a large file's job included)."""
    started = time.monotonic()
    report = import_csv(stack.api, {"Authorization": f"Bearer {key}"}, body)
    seconds = time.monotonic() - started
    if report.get("created") != expected or report.get("errors"):
        raise RuntimeError(f"import failed: {str(report)[:500]}")
    return seconds


def client_count(stack: Stack) -> int:
    dynamodb = stack.dynamodb()
    table = next(name for name in dynamodb.list_tables()["TableNames"] if name.endswith("-clients"))
    return int(dynamodb.describe_table(TableName=table)["Table"]["ItemCount"]) or sum(
        page["Count"] for page in dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    )


def items_of(stack: Stack, client_id: str, email: str) -> list[tuple[str, dict[str, Any]]]:
    """Every item of every table that names this client (bench only: a Scan per table)."""
    dynamodb = stack.dynamodb()
    found = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                text = json.dumps(item)
                if client_id in text or email in text:
                    found.append((table, item))
    return found


def fill(
    stack: Stack, template: list[tuple[str, dict[str, Any]]], client_id: str, email: str, count: int
) -> None:
    """``count`` clones of one client's items, with new ids and addresses, 25 items a request."""
    dynamodb = stack.dynamodb()
    pending: list[tuple[str, dict[str, Any]]] = []

    def flush() -> None:
        requests_by_table: dict[str, list[dict[str, Any]]] = {}
        for table, item in pending:
            requests_by_table.setdefault(table, []).append({"PutRequest": {"Item": item}})
        unprocessed: dict[str, Any] = requests_by_table
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems") or {}
        pending.clear()

    stem = client_id[:-8]
    for i in range(count):
        new_id, new_email = f"{stem}{i:08d}", email.replace("@", f"+fill{i:06d}@")
        for table, item in template:
            text = json.dumps(item).replace(client_id, new_id).replace(email, new_email)
            pending.append((table, json.loads(text)))
            if len(pending) == 25:
                flush()
    if pending:
        flush()


def _save(data: dict[str, Any]) -> None:
    partial = {**data, "goals": GOALS, "load_average": os.getloadavg()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(partial, indent=2) + "\n")


def run(through_api: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="permesso-bench-"))
    stack = Stack(workdir / "state", workdir / "run.log", fresh=True)
    data: dict[str, Any] = {"stack_ready_seconds": round(stack.ready_seconds, 1)}
    with MemoryWatchdog(stack.process.pid, CEILING) as watchdog:
        try:
            small, large = stack.account("Bench 1k"), stack.account("Bench 10k")
            rss_empty = stack.rss()
            seconds_1k = import_rows(stack, small["api_key"], rows_csv("small", 1000), 1000)
            seconds_10k = import_rows(stack, large["api_key"], rows_csv("large", 10000), 10000)
            rss_10k = stack.rss()
            data.update(
                {
                    "rows_1k": 1000,
                    "rows_10k": 10000,
                    "seconds_1k": round(seconds_1k, 1),
                    "seconds_10k": round(seconds_10k, 1),
                    "ms_per_row_1k": round(1000 * seconds_1k / 1000, 2),
                    "ms_per_row_10k": round(1000 * seconds_10k / 10000, 2),
                    "time_per_row_ratio_10k_1k": round((seconds_10k / 10000) / (seconds_1k / 1000), 3),
                    "rss_gb_empty": round(rss_empty / GB, 3),
                    "rss_gb_after_10k": round(rss_10k / GB, 3),
                }
            )
            print(json.dumps(data), flush=True)
            _save(data)  # the first figures are kept even if the 100,000-client part is stopped

            target = 100_000
            present = client_count(stack)
            started = time.monotonic()
            if through_api:
                batch = 0
                while present < target:
                    count = min(10000, target - present)
                    import_rows(stack, large["api_key"], rows_csv(f"more{batch}x", count), count)
                    present += count
                    batch += 1
                data["fill"] = "POST /v1/clients/import, 10,000 rows a request"
            else:
                headers = {"Authorization": f"Bearer {large['api_key']}"}
                sample = requests.get(f"{stack.api}/v1/clients?limit=1", headers=headers, timeout=60).json()
                client = sample["items"][0]
                template = items_of(stack, client["client_id"], client["email"])
                fill(stack, template, client["client_id"], client["email"], target - present)
                data["fill"] = (
                    f"BatchWriteItem clones of one imported client's {len(template)} items "
                    f"({', '.join(sorted({t.removeprefix('permesso-local-') for t, _ in template}))})"
                )
            data["fill_seconds"] = round(time.monotonic() - started, 1)
            data["clients_at_100k"] = client_count(stack)
            rss_100k = stack.rss()
            data["rss_gb_at_100k"] = round(rss_100k / GB, 3)
            listed = requests.get(
                f"{stack.api}/v1/clients?limit=50",
                headers={"Authorization": f"Bearer {large['api_key']}"},
                timeout=120,
            )
            data["list_at_100k_status"] = listed.status_code
        finally:
            data["rss_gb_peak"] = round(watchdog.peak / GB, 3)
            data["watchdog_tripped"] = watchdog.tripped
    time.sleep(5)  # let a periodic snapshot run: what is left for the stop is what changed since
    data["stop_seconds"] = round(stack.stop(), 2)
    again = Stack(workdir / "state", workdir / "again.log", fresh=False)
    data["restart_ready_seconds_at_100k"] = round(again.ready_seconds, 1)
    data["clients_after_restart"] = client_count(again)
    again.stop()
    data["goals"] = GOALS
    data["met"] = {
        "time_per_row_ratio_10k_1k": data["time_per_row_ratio_10k_1k"] <= GOALS["time_per_row_ratio_10k_1k"],
        "rss_gb_after_10k": data["rss_gb_after_10k"] < GOALS["rss_gb_after_10k"],
        "rss_gb_at_100k": data["rss_gb_at_100k"] < GOALS["rss_gb_at_100k"]
        and data["clients_at_100k"] >= 100_000,
        "stop_seconds": data["stop_seconds"] <= GOALS["stop_seconds"],
    }
    data["load_average"] = os.getloadavg()
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_stack", description=__doc__.splitlines()[0])
    parser.add_argument("--through-api", action="store_true", help="reach 100,000 clients by importing them")
    args = parser.parse_args(argv)
    data = run(args.through_api)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
