"""Sending engine benchmark: one SES rate shared by 1, 3 and 10 accounts sending at once.

A moto server holds DynamoDB, SQS and SES identities; a simulated SES (a small
HTTP server in a process of its own) accepts at most ``R`` e-mails in any
sliding 1-second window and answers "Maximum sending rate exceeded" (429)
beyond. For each account count ``n`` of ``--accounts``, ``n`` accounts (each
with the operator's limits lifted above ``R``, so every one wants more than
the platform has) send one campaign each to ``--recipients / n`` clients (list
audiences) at the same time; ``W`` worker *processes* drain the send queue,
each running the real worker code (``services.sending.process_bodies``, up to
10 messages side by side as one Lambda invocation) against the shared
buckets.

Measured per run:

- **largest 1-second window of attempted sends / R** — every ``SendEmail`` the
  simulated SES received, throttled ones included (it can exceed 1.00 only if the
  workers overshoot; accepted sends alone could not);
- **achieved rate / R** — from the first to the last accepted e-mail;
- **SES throttling refusals**;
- **fair share deviation** — the largest ``|share · n - 1|`` over the accounts,
  counting each account's accepted e-mails while all of them were sending (from
  the last account's first e-mail to the first account's last);
- DynamoDB items written and read per recipient (counted at the PynamoDB
  connection, fan-out included), SQS requests, Lambda GB-seconds per e-mail
  (handler wall time, sleeps included, as Lambda bills it), and the cost per
  1,000 e-mails besides SES itself.

    python -m bench.sending [--rate 50] [--workers 4] [--recipients 3000] [--accounts 1,3,10]

``RUN_FIGURES`` lists the figures of a run and their goals: another figure (or
another account count) is one entry more, and ``bench/report.py`` prints every
run it finds in ``bench/results/sending.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.stage import function_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "sending.json"

# Public on-demand prices, us-east-1, as listed on aws.amazon.com/<service>/pricing on 2026-11-24
# (DynamoDB on-demand after the November 2024 reduction).
PRICES = {
    "date": "2026-11-24",
    "region": "us-east-1",
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "sns_publish": 0.50 / 1e6,
    "ses_per_1000": 0.10,
}


# Priced at the memory the prod stage deploys the send worker with (.chalice/config.json, as
# Chalice merges it), never at a figure that can drift from it; compare with worker_max_rss_mb.
LAMBDA_MEMORY_GB = function_settings("handle_send", "prod").memory_mb / 1024
# The figures of every run, with their goals; ``fair_share_deviation`` only when n > 1.
RUN_FIGURES = {
    "max_1s_window_ratio": ("<=", 1.00),
    "achieved_rate_ratio": (">=", 0.95),
    "ses_throttling_errors": ("<=", 0),
    "fair_share_deviation": ("<=", 0.10),
    "dynamodb_items_written_per_recipient": ("<=", 3.5),
    "dynamodb_items_read_per_recipient": ("<=", 1.5),
    "cost_share_of_ses_price": ("<=", 0.03),
}
GOALS = RUN_FIGURES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(moto_port: int, rate: float) -> dict[str, str]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    env = {
        "PERMESSO_STAGE": "bench",
        "PERMESSO_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "PERMESSO_AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "PERMESSO_TOKEN_KEYS": "b1:bench-token-signing-secret-0001",
        "PERMESSO_EMAIL_HASH_KEY": "bench-email-hash-key-000000000001",
        "PERMESSO_PUBLIC_BASE_URL": "https://permesso.bench",
        "PERMESSO_PLATFORM_SEND_RATE_PER_SECOND": str(rate),
        "PERMESSO_WARMUP_DAILY_CAP": "1000000",
        "POWERTOOLS_METRICS_NAMESPACE": "Permesso",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    os.environ.update(env)
    return env


# --- simulated SES ------------------------------------------------------------------------


def ses_process(rate: float, port: int, ready: Any, stop: Any, results: Any) -> None:
    """The simulated SES in a process of its own, so its clock is not held up by the
    emulator's or the workers' work (it timestamps each e-mail as it arrives)."""
    ses = SimulatedSes(rate)
    server = ses.serve(port)
    ready.set()
    stop.wait()
    server.shutdown()
    results.put(ses.summary())


class SimulatedSes:
    """Accepts at most ``rate`` sends in any sliding 1-second window; records every attempt."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.recent: deque[float] = deque()
        self.attempted: list[float] = []
        self.accepted: list[tuple[float, str]] = []  # (time, account)
        self.recipients: Counter[str] = Counter()
        self.throttled = 0

    def offer(self, recipient: str, account: str) -> bool:
        with self.lock:
            now = time.time()
            self.attempted.append(now)
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.rate:
                self.throttled += 1
                return False
            self.recent.append(now)
            self.accepted.append((now, account))
            self.recipients[recipient] += 1
            return True

    def summary(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "accepted": self.accepted,
            "recipients": dict(self.recipients),
            "throttled": self.throttled,
        }

    def serve(self, port: int) -> ThreadingHTTPServer:
        ses = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                call = json.loads(self.rfile.read(length))
                ok = ses.offer(call["to"], call["account"])
                body = json.dumps({"MessageId": f"sim-{time.time_ns()}"} if ok else {"error": "throttled"})
                self.send_response(200 if ok else 429)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


class SimSesMailer:
    """The worker's mailer in the benchmark: the SES adapter's interface over HTTP to the
    simulated SES (MIME is built by the real code before this call)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls = 0
        self.lock = threading.Lock()

    def send_raw(self, raw: bytes, *, sender: str, to: list[str], tags: Any = None) -> str:
        from urllib.error import HTTPError
        from urllib.request import Request, urlopen

        from chalicelib.mail.ses import MailThrottled

        with self.lock:
            self.calls += 1
        call = {"to": to[0], "account": (tags or {}).get("account_id", "")}
        request = Request(self.url, data=json.dumps(call).encode(), method="POST")
        try:
            with urlopen(request, timeout=10) as response:  # nosec B310 — the local simulated SES
                return str(json.loads(response.read())["MessageId"])
        except HTTPError as exc:
            if exc.code == 429:
                raise MailThrottled("Throttling", "Maximum sending rate exceeded.") from exc
            raise


# --- operation counting ---------------------------------------------------------------------


def count_dynamodb(counter: Counter[str]) -> None:
    """Count DynamoDB items written and read (and request units) at PynamoDB's connection."""
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def counted(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        op = operation_name
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            counter["write_items"] += 1
            counter["wru"] += 1
        elif op == "BatchWriteItem":
            n = sum(len(v) for v in operation_kwargs.get("RequestItems", {}).values())
            counter["write_items"] += n
            counter["wru"] += n
        elif op == "TransactWriteItems":
            n = len(operation_kwargs.get("TransactItems", []))
            counter["write_items"] += n
            counter["wru"] += 2 * n  # transactional writes cost two units per item
        elif op == "GetItem":
            counter["read_items"] += 1
            counter["rru"] += 1 if operation_kwargs.get("ConsistentRead") else 0.5
        elif op == "BatchGetItem":
            for table in operation_kwargs.get("RequestItems", {}).values():
                n = len(table.get("Keys", []))
                counter["read_items"] += n
                counter["rru"] += n * (1 if table.get("ConsistentRead") else 0.5)
        counter[f"op:{op}"] += 1
        try:
            data = original(self, operation_name, operation_kwargs)
        except Exception:
            counter[f"failed:{op}"] += 1
            raise
        if op == "Query":
            items = int(data.get("Count") or 0)
            size = len(json.dumps(data.get("Items", [])))
            counter["read_items"] += items
            counter["query_items"] += items
            units = max(1, -(-size // 4096))
            counter["rru"] += units if operation_kwargs.get("ConsistentRead") else units / 2
        return data

    Connection._make_api_call = counted  # type: ignore[method-assign]


# --- workers ----------------------------------------------------------------------------------


def worker(env: dict[str, str], ses_url: str, stop: Any, results: Any) -> None:
    import sys

    os.environ.update(env)
    sys.stdout = open(os.devnull, "w")
    counter: Counter[str] = Counter()
    count_dynamodb(counter)
    import boto3

    from chalicelib.bootstrap import Deps
    from chalicelib.config import get_settings
    from chalicelib.services.sending import MESSAGES_PER_INVOCATION, process_bodies

    settings = get_settings()
    deps = Deps(settings=settings)
    deps.__dict__["mailer"] = SimSesMailer(ses_url)
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    url = sqs.get_queue_url(QueueName=settings.resource_name("send"))["QueueUrl"]
    queue = deps.queue
    original_send_many = queue.send_many

    def counted_send_many(name: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        counter["sqs_requests"] += -(-len(bodies) // 10)
        original_send_many(name, bodies, delay_seconds)

    queue.send_many = counted_send_many  # type: ignore[method-assign]
    from chalicelib.services import sending

    original_count = sending.BatchRun.count

    def counted_run(self: Any, name: str, n: int = 1) -> None:
        counter[f"run:{name}"] += n
        original_count(self, name, n)

    sending.BatchRun.count = counted_run  # type: ignore[method-assign]
    busy = 0.0
    while not stop.is_set():
        counter["sqs_requests"] += 1
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=MESSAGES_PER_INVOCATION, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            continue
        counter["invocations"] += 1
        started = time.perf_counter()
        try:  # one Lambda invocation: its messages side by side, failures reported per message
            failed = {
                f["itemIdentifier"]
                for f in process_bodies(deps, [(m["MessageId"], m["Body"]) for m in messages])[
                    "batchItemFailures"
                ]
            }
        except Exception as exc:  # noqa: BLE001 — every message failed: all redelivered
            counter[f"error:{type(exc).__name__}"] += 1
            failed = {m["MessageId"] for m in messages}
        counter["messages"] += len(messages)
        busy += time.perf_counter() - started
        done = [m for m in messages if m["MessageId"] not in failed]
        counter["error:message"] += len(messages) - len(done)
        if done:
            counter["sqs_requests"] += 1
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put(
        {"counter": dict(counter), "busy_seconds": busy, "ses_calls": deps.mailer.calls, "max_rss_mb": rss_mb}
    )


# --- the run ------------------------------------------------------------------------------------


def setup(accounts: int, recipients: int) -> tuple[Any, list[tuple[str, str]]]:
    """``accounts`` accounts (their limits lifted above the platform's rate by the operator),
    each with ``recipients // accounts`` consenting clients in a list; ``(deps, [(account_id,
    list_id)])``."""
    import boto3
    from ulid import ULID

    from chalicelib.bootstrap import Deps
    from chalicelib.config import get_settings
    from chalicelib.domain.limits import AccountLimits
    from chalicelib.domain.lists import READY, RecipientList
    from chalicelib.domain.time import to_storage
    from chalicelib.resources import QUEUES
    from chalicelib.services.accounts import NewAccount, create_account
    from chalicelib.services.limits import set_limits
    from chalicelib.storage.models import ALL_MODELS, ClientModel

    settings = get_settings()
    for model in ALL_MODELS:
        model.create_table(wait=True)
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    for spec in QUEUES:
        sqs.create_queue(QueueName=settings.resource_name(spec.name), Attributes={"VisibilityTimeout": "60"})
    deps = Deps(settings=settings)  # its mailer registers the sender domains in the emulator's SES
    out = []
    each = recipients // accounts
    unlimited = AccountLimits(send_rate_per_second=1000, hourly_send_cap=1_000_000, daily_send_cap=1_000_000)
    for n in range(accounts):
        account, _ = create_account(
            deps, NewAccount(name=f"Bench Salon {n}", sender_email=f"news@salon{n}.bench.example")
        )
        set_limits(deps, account.account_id, unlimited)
        now = to_storage(deps.clock())
        ids = [f"cl_{ULID()}" for _ in range(each)]
        with ClientModel.batch_write() as batch:
            for i, client_id in enumerate(ids):
                email = f"client{i}@a{n}.example.com"
                batch.save(
                    ClientModel(
                        account.account_id,
                        client_id,
                        email=email,
                        email_key=email,
                        first_name=f"Client {i}",
                        auto_status="active",
                        account_auto_status=f"{account.account_id}#active",
                        consent_state="granted",
                        consent_confirmed_at=now,
                        consent_source="staff",
                        created_at=now,
                        updated_at=now,
                    )
                )
        list_id = f"lst_{ULID()}"
        deps.lists.add_members(account.account_id, list_id, ids)
        clock = deps.clock()
        deps.lists.create(
            RecipientList(
                account.account_id,
                list_id,
                "Bench list",
                {"client_ids": ids[:1]},
                clock,
                clock,
                size=len(ids),
                status=READY,
            )
        )
        out.append((account.account_id, list_id))
    return deps, out


def _start_moto(port: int) -> Any:
    """The emulator with the project's patches (local/emulator.py, as the local stack runs it):
    the accounts' sender domains are registered through it like on AWS."""
    import subprocess  # nosec B404 — our own interpreter
    import sys
    from urllib.request import urlopen

    code = (
        "from local.emulator import install; install(); "
        f"from moto.server import main; main(['-H', '127.0.0.1', '-p', '{port}'])"
    )
    process = subprocess.Popen(  # nosec B603 — our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120  # importing moto and patching it takes seconds on a busy machine
    while time.time() < deadline:
        try:
            urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()  # nosec B310 — local
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the moto server did not start")


def run(rate: float, workers: int, accounts: int, recipients: int) -> dict[str, Any]:
    moto_port, ses_port = _free_port(), _free_port()
    server = _start_moto(moto_port)
    env = _environment(moto_port, rate)
    ctx = mp.get_context("spawn")
    ses_ready, ses_stop, ses_results = ctx.Event(), ctx.Event(), ctx.Queue()
    ses_proc = ctx.Process(target=ses_process, args=(rate, ses_port, ses_ready, ses_stop, ses_results))
    ses_proc.start()
    ses_ready.wait(30)
    try:
        deps, tenants = setup(accounts, recipients)
        counter: Counter[str] = Counter()
        count_dynamodb(counter)  # from here on: the campaigns' own work
        from chalicelib.services import campaigns as service
        from chalicelib.services.jobs import handle_message

        campaigns = []
        for account_id, list_id in tenants:
            account = deps.accounts.get(account_id)
            campaign = service.create_campaign(
                deps,
                account,
                service.NewCampaign.model_validate(
                    {
                        "name": "Bench",
                        "subject": "Hello {{ first_name }}",
                        "html": "<p>Hi {{ first_name }}, our autumn offers are here.</p>",
                        "audience": {"list_id": list_id},
                    }
                ),
            )
            campaigns.append((account, campaign.campaign_id))
        fanout_started = time.perf_counter()
        for account, campaign_id in campaigns:  # all at once: every account wants to send now
            service.send_campaign(
                deps, account, campaign_id, service.SendInput(acknowledge_non_consented=True)
            )
        import boto3

        sqs = boto3.client(
            "sqs", region_name=deps.settings.region, endpoint_url=deps.settings.aws_endpoint_url
        )
        jobs_url = sqs.get_queue_url(QueueName=deps.settings.resource_name("jobs"))["QueueUrl"]
        stop, results = ctx.Event(), ctx.Queue()
        processes = [
            ctx.Process(target=worker, args=(env, f"http://127.0.0.1:{ses_port}/send", stop, results))
            for _ in range(workers)
        ]
        for p in processes:
            p.start()
        fanout_lambda = 0.0

        def fanned_out() -> bool:
            return all(deps.campaigns.get(a.account_id, c, consistent=True).fanout_done for a, c in campaigns)

        while True:  # the fan-out jobs, in this process (their own Lambda in the cloud)
            messages = sqs.receive_message(QueueUrl=jobs_url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get(
                "Messages", []
            )
            counter["sqs_requests"] += 1
            if not messages:
                if fanned_out():
                    break
                continue
            for message in messages:
                started = time.perf_counter()
                handle_message(deps, json.loads(message["Body"]))
                fanout_lambda += time.perf_counter() - started
                counter["invocations"] += 1
                sqs.delete_message(QueueUrl=jobs_url, ReceiptHandle=message["ReceiptHandle"])
                counter["sqs_requests"] += 2  # delete + the chunk's own send
        fanout_seconds = time.perf_counter() - fanout_started
        counter_fanout = dict(counter)
        deadline = time.time() + 600
        while time.time() < deadline:
            states = [deps.campaigns.get(a.account_id, c, consistent=True).status.value for a, c in campaigns]
            if all(state == "sent" for state in states):
                break
            time.sleep(0.5)
        stop.set()
        worker_results = [results.get(timeout=120) for _ in processes]
        for p in processes:
            p.join(timeout=30)
        reports = [service.campaign_report(deps, a, c) for a, c in campaigns]
        ses_stop.set()
        ses = ses_results.get(timeout=30)
        ses_proc.join(timeout=10)
    finally:
        ses_stop.set()
        server.terminate()
        server.wait(timeout=10)
    return summarise(
        rate,
        workers,
        accounts,
        recipients,
        ses,
        counter_fanout,
        worker_results,
        fanout_lambda,
        fanout_seconds,
        reports,
        states,
    )


def fair_share_deviation(accepted: list[tuple[float, str]]) -> tuple[float | None, float]:
    """The largest ``|share · n - 1|`` over the accounts while all of them were sending (from
    the last account's first e-mail to the first account's last), and that window's length."""
    by_account: dict[str, list[float]] = {}
    for moment, account in accepted:
        by_account.setdefault(account, []).append(moment)
    n = len(by_account)
    if n < 2:
        return None, 0.0
    start = max(min(times) for times in by_account.values())
    end = min(max(times) for times in by_account.values())
    counts = [sum(1 for t in times if start <= t <= end) for times in by_account.values()]
    total = sum(counts)
    if total == 0 or end <= start:
        return 1.0, 0.0
    return round(max(abs(c / total * n - 1) for c in counts), 4), round(end - start, 2)


def _max_window(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def summarise(
    rate: float,
    workers: int,
    accounts: int,
    recipients: int,
    ses: dict[str, Any],
    fanout: dict[str, Any],
    worker_results: list[dict[str, Any]],
    fanout_lambda: float,
    fanout_seconds: float,
    reports: list[dict[str, Any]],
    states: list[str],
) -> dict[str, Any]:
    total: Counter[str] = Counter({k: v for k, v in fanout.items()})
    busy = fanout_lambda
    for result in worker_results:
        total.update(result["counter"])
        busy += result["busy_seconds"]
    sent = len(ses["accepted"])
    accepted = sorted(t for t, _ in ses["accepted"])
    deviation, fair_window = fair_share_deviation(ses["accepted"])
    duration = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    achieved = (sent - 1) / duration if duration else 0.0
    per_1000 = 1000 / sent if sent else 0.0
    from chalicelib.resources import SES_EVENT_TYPES

    events_per_email = sum(1 for kind in SES_EVENT_TYPES if kind in ("send", "delivery"))
    gb_seconds = busy * LAMBDA_MEMORY_GB
    cost = {
        "dynamodb_writes": total["wru"] * PRICES["dynamodb_write_request_unit"] * per_1000,
        "dynamodb_reads": total["rru"] * PRICES["dynamodb_read_request_unit"] * per_1000,
        "sqs": total["sqs_requests"] * PRICES["sqs_request"] * per_1000,
        "lambda_requests": total["invocations"] * PRICES["lambda_request"] * per_1000,
        "lambda_compute": gb_seconds * PRICES["lambda_gb_second_arm64"] * per_1000,
        # SES events: the configuration set publishes the event types of
        # resources.SES_EVENT_TYPES; "send" and "delivery" come once per e-mail (bounces and
        # complaints are a few per cent more). Each event: one SNS publish, ~0.2 SQS requests
        # (Lambda receives and deletes in batches of 10), 0.1 Lambda invocation of ~20 ms,
        # and one consistent GetItem of the delivery.
        "ses_events": events_per_email
        * 1000
        * (
            PRICES["sns_publish"]
            + 0.2 * PRICES["sqs_request"]
            + 0.1 * PRICES["lambda_request"]
            + 0.02 * LAMBDA_MEMORY_GB * PRICES["lambda_gb_second_arm64"]
            + PRICES["dynamodb_read_request_unit"]
        ),
    }
    cost_total = sum(cost.values())
    without_per_email_events = cost_total - cost["ses_events"]
    duplicates = sum(1 for n in ses["recipients"].values() if n > 1)
    figures = {
        "max_1s_window_ratio": round(_max_window(ses["attempted"]) / rate, 4),
        "achieved_rate_ratio": round(achieved / rate, 4),
        "ses_throttling_errors": ses["throttled"],
        "fair_share_deviation": deviation,
        "dynamodb_items_written_per_recipient": round(total["write_items"] / sent, 3) if sent else None,
        "dynamodb_items_read_per_recipient": round(total["read_items"] / sent, 3) if sent else None,
        "cost_share_of_ses_price": round(cost_total / PRICES["ses_per_1000"], 4),
    }
    return {
        "parameters": {"rate": rate, "workers": workers, "accounts": accounts, "recipients": recipients},
        "figures": figures,
        "goals": {k: f"{op} {v}" for k, (op, v) in GOALS.items()},
        "met": {k: _meets(figures[k], *GOALS[k]) for k in GOALS if figures[k] is not None},
        "details": {
            "campaign_status": sorted(set(states)),
            "fair_window_seconds": fair_window,
            "emails_attempted": len(ses["attempted"]),
            "largest_1s_window_of_accepted": _max_window(accepted),
            "emails_accepted": sent,
            "distinct_recipients": len(ses["recipients"]),
            "recipients_mailed_twice": duplicates,
            "send_duration_seconds": round(duration, 2),
            "fanout_seconds": round(fanout_seconds, 2),
            "achieved_rate_per_second": round(achieved, 2),
            "dynamodb_key_reads_per_recipient": round((total["read_items"] - total["query_items"]) / sent, 3)
            if sent
            else None,
            "dynamodb_query_items_per_recipient": round(total["query_items"] / sent, 3) if sent else None,
            "dynamodb_wru_per_recipient": round(total["wru"] / sent, 3) if sent else None,
            "dynamodb_rru_per_recipient": round(total["rru"] / sent, 3) if sent else None,
            "failed_conditional_writes": sum(v for k, v in total.items() if k.startswith("failed:")),
            "sqs_requests_per_1000": round(total["sqs_requests"] * per_1000, 1),
            "lambda_gb_seconds_per_email": round(gb_seconds / sent, 5) if sent else None,
            "worker_max_rss_mb": round(max(r.get("max_rss_mb", 0.0) for r in worker_results), 1),
            "cost_usd_per_1000_besides_ses": {k: round(v, 6) for k, v in cost.items()}
            | {"total": round(cost_total, 6)},
            "ses_events_per_email_assumed": events_per_email,
            "cost_share_if_only_bounce_complaint_events": round(
                without_per_email_events / PRICES["ses_per_1000"], 4
            ),
            "operations": {
                k: v for k, v in sorted(total.items()) if k.startswith(("op:", "failed:", "error:", "run:"))
            },
            "reports": reports,
        },
        "prices": PRICES,
    }


def _meets(value: Any, op: str, goal: float) -> bool:
    if value is None:
        return False
    return bool(value >= goal) if op == ">=" else bool(value <= goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--recipients", type=int, default=3000, help="in all, shared by the accounts")
    parser.add_argument("--accounts", default="1,3,10", help="account counts, one run each")
    args = parser.parse_args()
    import sys

    counts = [int(n) for n in args.accounts.split(",") if n.strip()]
    results: dict[str, Any] = {
        "parameters": {"rate": args.rate, "workers": args.workers, "recipients": args.recipients},
        "runs": {},
        "prices": PRICES,
    }
    for accounts in counts:
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
        try:
            result = run(args.rate, args.workers, accounts, args.recipients)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
        results["runs"][str(accounts)] = result
        print(
            f"\n{accounts} account(s) sending at once, {args.recipients} recipients in all, R = {args.rate}/s"
        )
        print(f"{'figure':40} {'value':>10}  goal      met")
        for name, value in result["figures"].items():
            op, goal = RUN_FIGURES[name]
            met = result["met"].get(name)
            mark = "—" if met is None else ("yes" if met else "NO")
            print(f"{name:40} {value!s:>10}  {op} {goal:<6} {mark}")
        for name, value in result["details"].items():
            if name not in ("operations", "reports", "cost_usd_per_1000_besides_ses"):
                print(f"  {name}: {value}")
    print(f"  prices: on-demand, {PRICES['region']}, as of {PRICES['date']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
