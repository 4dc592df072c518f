"""Sending engine benchmark: throttle accuracy, DynamoDB work per e-mail, AWS cost per 1,000.

A moto server holds DynamoDB and SQS; a simulated SES (a small HTTP server in
this process) accepts at most ``R`` e-mails in any sliding 1-second window and
answers "Maximum sending rate exceeded" (429) beyond. A campaign to N
recipients (a list audience) is fanned out, then ``W`` worker *processes*
drain the send queue, each running the real worker code
(``services.sending.process_message``) against the shared buckets.

Measured: achieved rate / R, largest 1-second window / R, SES throttling
errors, DynamoDB items written and read per recipient (counted at the
PynamoDB connection, fan-out included), SQS requests, Lambda GB-seconds per
e-mail (handler wall time, sleeps included, as Lambda bills it), and the
resulting cost per 1,000 e-mails besides SES itself.

    python -m bench.sending [--rate 50] [--workers 4] [--recipients 3000]
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
SEND_MESSAGES_PER_INVOCATION = 1  # handle_send's SQS batch size
GOALS = {
    "achieved_rate_ratio": (">=", 0.95),
    "max_1s_window_ratio": ("<=", 1.00),
    "ses_throttling_errors": ("<=", 0),
    "dynamodb_items_written_per_recipient": ("<=", 3.5),
    "dynamodb_items_read_per_recipient": ("<=", 1.5),
    "cost_share_of_ses_price": ("<=", 0.03),
}


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
    """Accepts at most ``rate`` sends in any sliding 1-second window."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.recent: deque[float] = deque()
        self.accepted: list[float] = []
        self.recipients: Counter[str] = Counter()
        self.throttled = 0

    def offer(self, recipient: str) -> bool:
        with self.lock:
            now = time.time()
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.rate:
                self.throttled += 1
                return False
            self.recent.append(now)
            self.accepted.append(now)
            self.recipients[recipient] += 1
            return True

    def summary(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "recipients": dict(self.recipients), "throttled": self.throttled}

    def serve(self, port: int) -> ThreadingHTTPServer:
        ses = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recipient = self.rfile.read(length).decode()
                ok = ses.offer(recipient)
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

    def send_raw(self, raw: bytes, *, sender: str, to: list[str], tags: Any = None) -> str:
        from urllib.error import HTTPError
        from urllib.request import Request, urlopen

        from chalicelib.mail.ses import MailThrottled

        self.calls += 1
        request = Request(self.url, data=to[0].encode(), method="POST")
        try:
            with urlopen(request, timeout=10) as response:
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
    from chalicelib.services.sending import process_message

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
            QueueUrl=url, MaxNumberOfMessages=SEND_MESSAGES_PER_INVOCATION, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            continue
        counter["invocations"] += 1
        started = time.perf_counter()
        done = []
        for message in messages:
            try:
                process_message(deps, json.loads(message["Body"]))
                done.append(message)
            except Exception as exc:  # noqa: BLE001 — reported, the message is redelivered
                counter[f"error:{type(exc).__name__}"] += 1
            counter["messages"] += 1
        busy += time.perf_counter() - started
        for message in done:
            counter["sqs_requests"] += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put(
        {"counter": dict(counter), "busy_seconds": busy, "ses_calls": deps.mailer.calls, "max_rss_mb": rss_mb}
    )


# --- the run ------------------------------------------------------------------------------------


def setup(recipients: int) -> tuple[Any, str, str]:
    import boto3

    from chalicelib.bootstrap import Deps
    from chalicelib.config import get_settings
    from chalicelib.resources import QUEUES
    from chalicelib.services.accounts import NewAccount, create_account
    from chalicelib.storage.models import ALL_MODELS, ClientModel

    settings = get_settings()
    for model in ALL_MODELS:
        model.create_table(wait=True)
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    for spec in QUEUES:
        sqs.create_queue(QueueName=settings.resource_name(spec.name), Attributes={"VisibilityTimeout": "60"})
    deps = Deps(settings=settings)
    deps.__dict__["mailer"] = SimSesMailer("http://unused")
    account, _ = create_account(deps, NewAccount(name="Bench Salon", sender_email="news@bench.example"))
    from chalicelib.domain.account_settings import AccountSettingsPatch
    from chalicelib.services.accounts import update_settings

    update_settings(
        deps,
        account.account_id,
        AccountSettingsPatch(send_rate_per_second=1000, daily_send_cap=1_000_000, hourly_send_cap=1_000_000),
    )
    from ulid import ULID

    from chalicelib.domain.time import to_storage

    now = to_storage(deps.clock())
    ids = [f"cl_{ULID()}" for _ in range(recipients)]
    with ClientModel.batch_write() as batch:
        for i, client_id in enumerate(ids):
            batch.save(
                ClientModel(
                    account.account_id,
                    client_id,
                    email=f"client{i}@example.com",
                    email_key=f"client{i}@example.com",
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
    from chalicelib.domain.lists import READY, RecipientList

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
    return deps, account.account_id, list_id


def _start_moto(port: int) -> Any:
    import subprocess
    import sys
    from urllib.request import urlopen

    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the moto server did not start")


def run(rate: float, workers: int, recipients: int) -> dict[str, Any]:
    moto_port, ses_port = _free_port(), _free_port()
    server = _start_moto(moto_port)
    env = _environment(moto_port, rate)
    ctx = mp.get_context("spawn")
    ses_ready, ses_stop, ses_results = ctx.Event(), ctx.Event(), ctx.Queue()
    ses_proc = ctx.Process(target=ses_process, args=(rate, ses_port, ses_ready, ses_stop, ses_results))
    ses_proc.start()
    ses_ready.wait(30)
    try:
        deps, account_id, list_id = setup(recipients)
        counter: Counter[str] = Counter()
        count_dynamodb(counter)  # from here on: the campaign's own work
        from chalicelib.services import campaigns as service
        from chalicelib.services.jobs import handle_message

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
        fanout_started = time.perf_counter()
        service.send_campaign(
            deps, account, campaign.campaign_id, service.SendInput(acknowledge_non_consented=True)
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
        while True:  # the fan-out job, in this process (its own Lambda in the cloud)
            messages = sqs.receive_message(QueueUrl=jobs_url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get(
                "Messages", []
            )
            counter["sqs_requests"] += 1
            if not messages:
                if deps.campaigns.get(account_id, campaign.campaign_id, consistent=True).fanout_done:
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
        deadline = time.time() + 300
        while time.time() < deadline:
            current = deps.campaigns.get(account_id, campaign.campaign_id, consistent=True)
            if current.status.value == "sent":
                break
            time.sleep(0.5)
        stop.set()
        worker_results = [results.get(timeout=60) for _ in processes]
        for p in processes:
            p.join(timeout=30)
        report = service.campaign_report(deps, account, campaign.campaign_id)
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
        recipients,
        ses,
        counter_fanout,
        worker_results,
        fanout_lambda,
        fanout_seconds,
        report,
        current.status.value,
    )


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
    recipients: int,
    ses: dict[str, Any],
    fanout: dict[str, Any],
    worker_results: list[dict[str, Any]],
    fanout_lambda: float,
    fanout_seconds: float,
    report: dict[str, Any],
    status: str,
) -> dict[str, Any]:
    total: Counter[str] = Counter({k: v for k, v in fanout.items()})
    busy = fanout_lambda
    for result in worker_results:
        total.update(result["counter"])
        busy += result["busy_seconds"]
    sent = len(ses["accepted"])
    accepted = sorted(ses["accepted"])
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
        "achieved_rate_ratio": round(achieved / rate, 4),
        "max_1s_window_ratio": round(_max_window(accepted) / rate, 4),
        "ses_throttling_errors": ses["throttled"],
        "dynamodb_items_written_per_recipient": round(total["write_items"] / sent, 3) if sent else None,
        "dynamodb_items_read_per_recipient": round(total["read_items"] / sent, 3) if sent else None,
        "cost_share_of_ses_price": round(cost_total / PRICES["ses_per_1000"], 4),
    }
    return {
        "parameters": {"rate": rate, "workers": workers, "recipients": recipients},
        "figures": figures,
        "goals": {k: f"{op} {v}" for k, (op, v) in GOALS.items()},
        "met": {k: _meets(figures[k], *GOALS[k]) for k in GOALS},
        "details": {
            "campaign_status": status,
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
            "report": report,
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
    parser.add_argument("--recipients", type=int, default=3000)
    args = parser.parse_args()
    import sys

    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        result = run(args.rate, args.workers, args.recipients)
    finally:
        sys.stdout.close()
        sys.stdout = stdout
    print(f"{'figure':40} {'value':>10}  goal      met")
    for name, value in result["figures"].items():
        op, goal = GOALS[name]
        print(f"{name:40} {value!s:>10}  {op} {goal:<6} {'yes' if result['met'][name] else 'NO'}")
    for name, value in result["details"].items():
        if name not in ("operations", "report", "cost_usd_per_1000_besides_ses"):
            print(f"  {name}: {value}")
    print(f"  cost per 1,000 besides SES (USD): {result['details']['cost_usd_per_1000_besides_ses']}")
    print(f"  prices: on-demand, {PRICES['region']}, as of {PRICES['date']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
