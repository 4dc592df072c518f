"""Scale benchmark: the DynamoDB items a console/API request touches stay flat as the account grows.

Run: ``python -m bench.scale [--sizes 1000,10000,100000] [--job-units 5000] [--rss-limit-gb 8]``.

For each size ``N`` of ``--sizes`` a fresh in-process emulator (moto, with the
emulator patches of ``local/emulator.py``, as the test suites run it) holds an
account of ``N`` clients, built by direct batch writes through the storage
models (setup: not measured): every client consented, 30 % of them ``lapsing``
since long ago, 1 % ``lapsing`` since after the previous automatic round, the
rest ``active``; a standard campaign to every client, paused mid-send with its
``N`` deliveries (20 % sent, 80 % waiting) and its counter items as the workers
leave them; a draft campaign to every client (for the preview); an automatic
campaign to the ``lapsing`` clients, active, whose previous round is done.

Each operation then goes through the real app (the Chalice app's test client,
as ``tests/integration`` calls it; the automatic round through the scheduled
function's Lambda entry point), with the DynamoDB meter (``bench/meter.py``:
every call of PynamoDB's one door, Query and Scan items counted as *scanned*,
not as returned) counting what the request alone reads and writes:

- ``report``: ``GET /v1/campaigns/{id}/report`` of the paused campaign;
- ``preview``: ``POST /v1/campaigns/{id}/preview`` of the draft to every client;
- ``resume``: ``POST /v1/campaigns/{id}/resume`` of the paused campaign (80 % waiting);
- ``cancel``: ``POST /v1/campaigns/{id}/cancel`` of the same campaign, paused again;
- ``import``: ``POST /v1/clients/import`` of a 10,000-row CSV of new clients;
- ``bulk_tag``: ``POST /v1/clients/bulk-tags`` adding a tag to every client (``filter: {}``);
- ``automatic_round``: the ``run_automatic_campaigns`` schedule, with 1 % of the clients
  newly ``lapsing`` (its "request" is the scheduled invocation).

The job a request starts (202) is then run through the worker's entry point
(``run_jobs``, one SQS message at a time, as the integration tests do) and its
items counted apart, with the units it did (rows, clients, deliveries): at most
``--job-units`` (2,000) units per job (the rest of its messages dropped), so a job over
100,000 clients costs minutes, not an hour; its items per unit are what stays
flat, and the whole job's items are projected from them.

Goals (issue "Work that grows with an account never runs inside a request"):

- **flat**: items touched (read + written) in the request at the largest size
  over the smallest ≤ ``RATIO_GOAL`` (1.2); for the automatic round, whose
  change grows with the account by construction (1 %), the items per changed
  client (request and round) instead;
- **budget**: no request touches more than ``REQUEST_ITEM_BUDGET`` (10,000)
  items, whatever the account's size (``docs/ARCHITECTURE.md``, *The request
  item budget*).

The request's 10 s guard on counting a selection (``targets.COUNT_SECONDS``) is lifted: on
DynamoDB its item bound binds first, while the emulator scans a whole 100,000-client partition
for each page (the guard would stop the count early and flatter the figure).

A missed goal makes the exit status 1. Memory is watched: above
``--rss-limit-gb`` (8) resident, the run stops (exit 3). Figures go to
``bench/results/scale.json``; ``bench/report.py`` puts them in ``bench/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.json"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
RATIO_GOAL = 1.2
# The most DynamoDB items (read + written, Query items scanned) one API or console request may
# touch, whatever the account's size: the selection read of 5,000 index items plus the first
# stretch of at most 1,001 client records, and at most 1,000 clients changed in the request.
REQUEST_ITEM_BUDGET = 10_000
IMPORT_ROWS = 10_000
SENT_SHARE = 0.2  # of the paused campaign's deliveries: the rest wait
LAPSING_SHARE = 0.3  # clients lapsing since long before the previous round
CHANGED_SHARE = 0.01  # clients who became lapsing since the previous round
OPERATIONS = ("report", "preview", "resume", "cancel", "import", "bulk_tag", "automatic_round")
OPERATOR_KEY = "bench-operator-key"


# ------------------------------------------------------------------ environment


def environment() -> None:
    """The app's settings for an in-process emulator (before ``chalicelib`` is imported):
    nothing goes to a real endpoint."""
    for name in ("AWS_ENDPOINT_URL", "PERMESSO_AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "PERMESSO_STAGE": "bench",
            "PERMESSO_REGION": "eu-central-1",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "PERMESSO_OPERATOR_KEY": OPERATOR_KEY,
            "PERMESSO_TOKEN_KEYS": "b1:bench-token-signing-secret-0001",
            "PERMESSO_EMAIL_HASH_KEY": "bench-email-hash-key-000000000001",
            "PERMESSO_PUBLIC_BASE_URL": "https://permesso.bench",
            "POWERTOOLS_METRICS_NAMESPACE": "Permesso",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
    )


def emulator_patches() -> None:
    """The emulator patches and the gateway's routing the test suites install (each changes how
    the emulator works, never what the app reads or writes), and Lambda contexts with the
    functions' configured timeout (the test client's default is 3 s)."""
    import chalice.test
    from chalice.local import LambdaContext
    from moto.core.config import default_user_config

    from local.emulator import install
    from local.gateway import install as install_gateway

    install()
    install_gateway()
    default_user_config["core"]["reset_boto3_session"] = False

    class ConfiguredContext(LambdaContext):
        def __init__(self, function_name: str, memory_size: int, max_runtime_ms: int | None = None) -> None:
            from chalicelib.bootstrap import get_deps

            timeout_ms = int(get_deps().settings.lambda_timeout_seconds * 1000)
            super().__init__(function_name, memory_size, max_runtime_ms=max_runtime_ms or timeout_ms)

    setattr(chalice.test, "LambdaContext", ConfiguredContext)  # noqa: B010 (the module does not export it)


def create_world() -> None:
    """Every table and queue of the app, empty, in the active emulator."""
    import boto3

    from chalicelib.config import get_settings
    from chalicelib.resources import QUEUES
    from chalicelib.storage.models import ALL_MODELS

    for model in ALL_MODELS:
        model.create_table(wait=True)
    settings = get_settings()
    sqs = boto3.client("sqs", region_name=settings.region)
    for queue in QUEUES:
        sqs.create_queue(
            QueueName=settings.resource_name(queue.name),
            Attributes={"VisibilityTimeout": str(queue.visibility_timeout_seconds)},
        )


class Watchdog:
    """Stops the process (exit 3) when its resident memory passes ``limit_gb``."""

    def __init__(self, limit_gb: float, interval: float = 1.0) -> None:
        self.limit = limit_gb
        self.interval = interval
        self.peak_gb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_gb() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024 / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = self.rss_gb()
            self.peak_gb = max(self.peak_gb, rss)
            if rss > self.limit:
                print(f"scale benchmark stopped: resident memory {rss:.2f} GB > {self.limit} GB", flush=True)
                os._exit(3)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


# ------------------------------------------------------------------ the HTTP side


class Api:
    """JSON (and CSV) calls through the Chalice test client, with the account's key."""

    def __init__(self, client: Any, key: str | None = None) -> None:
        self.client = client
        self.key = key

    def call(self, method: str, path: str, body: Any = None, *, csv: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "text/csv" if csv is not None else "application/json"}
        headers["Authorization"] = f"Bearer {self.key or os.environ['PERMESSO_OPERATOR_KEY']}"
        payload = (
            csv.encode() if csv is not None else (json.dumps(body).encode() if body is not None else b"")
        )
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        text = response.body.decode() if response.body else ""
        return response.status_code, (json.loads(text) if text else None)


# ------------------------------------------------------------------ the account


@dataclass
class Account:
    account_id: str
    key: str
    size: int
    paused: str = ""  # the standard campaign paused mid-send
    draft: str = ""  # a draft to every client (preview)
    automatic: str = ""  # active, to the lapsing clients
    changed: int = 0  # clients who became lapsing since the previous round


def client_id(i: int) -> str:
    return f"cl_{i:026d}"


def build(api: Api, size: int, now: datetime) -> Account:
    """An account of ``size`` clients with its campaigns, written directly (not measured)."""
    from chalicelib.domain.time import to_storage
    from chalicelib.storage.models import (
        CampaignCounterModel,
        CampaignModel,
        ClientModel,
        DeliveryModel,
        JobModel,
    )

    status, body = api.call(
        "POST", "/v1/accounts", {"name": "Scale Bench", "sender_email": f"hello@scale-{size}.example"}
    )
    assert status == 201, body
    account = Account(body["account_id"], body["api_key"], size)
    aid = account.account_id
    owner = Api(api.client, account.key)
    # The previous automatic round started after the account was made (a round after a change of
    # the account's settings reads its whole audience); the next one runs at ``round_clock(now)``.
    previous_round = now + timedelta(hours=1)
    long_ago = to_storage(now - timedelta(days=200))
    changed_every = round(1 / CHANGED_SHARE)
    lapsing_every = round(1 / LAPSING_SHARE)
    with ClientModel.batch_write() as batch:
        for i in range(size):
            changed = i % changed_every == 1
            lapsing = changed or i % lapsing_every == 0
            status_name = "lapsing" if lapsing else "active"
            since = previous_round + timedelta(minutes=10) if changed else now - timedelta(days=30)
            account.changed += changed
            batch.save(
                ClientModel(
                    aid,
                    client_id(i),
                    email=f"client{i}@example.com",
                    email_key=f"client{i}@example.com",
                    first_name="Anna",
                    tags=[],
                    auto_status=status_name,
                    account_auto_status=f"{aid}#{status_name}",
                    status_since=to_storage(since),
                    last_visit_at=to_storage(now - timedelta(days=100 if lapsing else 10)),
                    fields={},
                    consent_state="granted",
                    created_at=long_ago,
                    updated_at=long_ago,
                    version=1,
                )
            )

    def campaign(kind: str, audience: dict[str, Any]) -> str:
        status, body = owner.call(
            "POST",
            "/v1/campaigns",
            {
                "name": f"{kind} bench",
                "kind": kind,
                "subject": "Hello",
                "html": "<p>Hello</p>",
                "audience": audience,
            },
        )
        assert status == 201, body
        return str(body["campaign_id"])

    account.draft = campaign("standard", {"filter": {}})
    account.paused = campaign("standard", {"filter": {}})
    account.automatic = campaign("automatic", {"auto_status": "lapsing"})

    batch_size = 100
    sent = round(size * SENT_SHARE)
    started = to_storage(now - timedelta(minutes=30))
    CampaignModel(aid, account.paused).update(
        actions=[
            CampaignModel.status.set("paused"),
            CampaignModel.paused_from.set("sending"),
            CampaignModel.paused_reason.set("staff"),
            CampaignModel.fanout_done.set(True),
            CampaignModel.n_recipients.set(size),
            CampaignModel.n_batches.set(-(-size // batch_size)),
            CampaignModel.started_at.set(started),
        ]
    )
    with DeliveryModel.batch_write() as batch:
        for i in range(size):
            batch.save(
                DeliveryModel(
                    account.paused,
                    client_id(i),
                    account_id=aid,
                    status="sent" if i < sent else "queued",
                    batch=i // batch_size,
                    queued_at=started,
                    updated_at=started,
                )
            )
    for shard in range(4):  # the counters as the workers and the fan-out leave them
        values: dict[str, Any] = {"sent": sent // 4 + (sent % 4 if shard == 0 else 0), "batches_done": 0}
        if shard == 0:  # the fan-out's totals
            values.update(fanout_recipients=size, fanout_suppressed=0, fanout_excluded_no_consent=0)
        CampaignCounterModel(f"counts#{account.paused}", str(shard), updated_at=started, **values).save()

    job_id = "job_previousround0000000000000"
    JobModel(
        account_id=aid,
        job_id=job_id,
        kind="automatic_round",
        status="done",
        done=0,
        total=0,
        params=json.dumps({"campaign_id": account.automatic, "batch_base": 0}),
        result="{}",
        created_at=to_storage(previous_round),
        updated_at=to_storage(previous_round),
    ).save()
    CampaignModel(aid, account.automatic).update(
        actions=[
            CampaignModel.status.set("active"),
            CampaignModel.automatic_active.set("active"),
            CampaignModel.job_id.set(job_id),
            CampaignModel.started_at.set(to_storage(previous_round)),
        ]
    )
    return account


def round_clock(now: datetime) -> datetime:
    return now + timedelta(hours=2)


def import_csv(rows: int) -> str:
    lines = ["email,first_name,tags,consent,consent_date,consent_source"]
    lines += [f"imported{i}@example.org,Iris,imported,granted,2019-05-01,paper form" for i in range(rows)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ measuring


ITEMS = ("items_read", "items_written")


def touched(counts: dict[str, float]) -> int:
    return int(counts.get("items_read", 0) + counts.get("items_written", 0))


def calls(counts: dict[str, float]) -> int:
    return int(sum(v for k, v in counts.items() if k.startswith("op:")))


@dataclass
class Measured:
    status: int
    request: dict[str, float]
    job: dict[str, float] = field(default_factory=dict)
    job_units: int = 0  # rows, clients or deliveries the job did
    job_total: int | None = None
    job_finished: bool = True
    changed: int = 0  # automatic round: clients who changed into the audience
    # Items the job's first chunks spent finishing the count of a selection the request could
    # not count within its budget (``targets.counted_first``), before any unit of work.
    job_count_items: int = 0

    def take_job(self, ran: Measured) -> None:
        """The work of the job the request started (``run_job``'s figures)."""
        self.job, self.job_units, self.job_total = ran.job, ran.job_units, ran.job_total
        self.job_finished, self.job_count_items = ran.job_finished, ran.job_count_items

    def figures(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "request_items": touched(self.request),
            "request_read": int(self.request.get("items_read", 0)),
            "request_written": int(self.request.get("items_written", 0)),
            "request_calls": calls(self.request),
            "job_items": touched(self.job),
            "job_calls": calls(self.job),
            "job_units": self.job_units,
            "job_total": self.job_total,
            "job_finished": self.job_finished,
            "job_count_items": self.job_count_items,
            "job_items_per_unit": (
                round((touched(self.job) - self.job_count_items) / self.job_units, 2)
                if self.job_units
                else None
            ),
            "changed": self.changed,
        }


@contextmanager
def counted(meter: Any) -> Iterator[dict[str, float]]:
    """The meter's counts of the block, in the dict yielded (filled when the block ends)."""
    out: dict[str, float] = {}
    meter.reset()
    try:
        yield out
    finally:
        out.update(meter.snapshot())
        meter.reset()


def _queue_url(name: str) -> str:
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    sqs = boto3.client("sqs", region_name=settings.region)
    return str(sqs.get_queue_url(QueueName=settings.resource_name(name))["QueueUrl"])


def _take(name: str) -> list[str]:
    import boto3

    sqs = boto3.client("sqs", region_name=os.environ["AWS_DEFAULT_REGION"])
    url = _queue_url(name)
    taken: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return taken
        for message in messages:
            taken.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def drop_messages() -> None:
    """Empty the jobs and send queues (what a capped job left; the sends nobody runs here)."""
    from chalicelib.resources import QUEUES

    for queue in QUEUES:
        _take(queue.name)


def run_job(client: Any, meter: Any, account_id: str, job_id: str, max_units: int) -> Measured:
    """Deliver the jobs queue's messages to the worker until the job ends or has done
    ``max_units``; what the chunks touched, and the units done."""
    from chalicelib.bootstrap import get_deps
    from chalicelib.config import get_settings

    deps = get_deps()
    job = deps.jobs.get(account_id, job_id, consistent=True)
    start = job.done
    counting_items = 0
    with counted(meter) as work:
        while not job.finished and job.done - start < max_units:
            counting = job.total is None
            bodies = _take("jobs")
            if not bodies:
                break
            for body in bodies:
                event = client.events.generate_sqs_event(
                    message_bodies=[body], queue_name=get_settings().resource_name("jobs")
                )
                client.lambda_.invoke("run_jobs", event)
            with meter.uncounted():
                job = deps.jobs.get(account_id, job_id, consistent=True)
            if counting and job.total is not None and not job.finished:
                counting_items = touched(meter.snapshot())
    drop_messages()
    units = job.done - start
    if job.kind == "campaign_requeue":  # done counts deliveries re-enqueued; all were read
        units = max(units, int(job.result.get("read", 0)))
    return Measured(0, {}, work, units, job.total, job.finished, job_count_items=counting_items)


def measure_size(
    client: Any,
    meter: Any,
    size: int,
    *,
    job_units: int,
    import_rows: int = IMPORT_ROWS,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Build an account of ``size`` clients and measure every operation on it."""
    from chalicelib.bootstrap import get_deps

    deps = get_deps()
    saved_clock = deps.clock
    now = datetime.now(UTC).replace(microsecond=0)
    operator = Api(client)
    t0 = time.monotonic()
    with meter.uncounted():
        account = build(operator, size, now)
    log(f"  {size:,} clients: account built in {time.monotonic() - t0:.0f} s")
    api = Api(client, account.key)
    out: dict[str, dict[str, Any]] = {}

    def job_of(body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        if isinstance(body.get("job"), dict):
            return str(body["job"]["job_id"])
        return str(body["job_id"]) if body.get("job_id") else None

    def request(name: str, method: str, path: str, body: Any = None, csv: str | None = None) -> None:
        t = time.monotonic()
        with counted(meter) as counts:
            status, answer = api.call(method, path, body, csv=csv)
        assert status in (200, 202) or (status, name) == (409, "preview"), (name, status, answer)
        found = Measured(status, counts)
        job_id = job_of(answer) if status == 202 else None
        if job_id:
            ran = run_job(client, meter, account.account_id, job_id, job_units)
            found.take_job(ran)
        else:
            drop_messages()
        out[name] = found.figures()
        log(f"    {name}: {status}, {touched(counts)} items in the request ({time.monotonic() - t:.1f} s)")

    paused = f"/v1/campaigns/{account.paused}"
    request("report", "GET", f"{paused}/report")
    request("preview", "POST", f"/v1/campaigns/{account.draft}/preview")
    request("resume", "POST", f"{paused}/resume")
    with meter.uncounted():
        status, answer = api.call("POST", f"{paused}/pause")
        assert status == 200, answer
    request("cancel", "POST", f"{paused}/cancel")
    request("bulk_tag", "POST", "/v1/clients/bulk-tags", {"selection": {"filter": {}}, "add": ["bench"]})

    # The automatic round: the schedule's invocation is its "request"; the round is its job.
    later = round_clock(now)
    deps.clock = lambda: later
    try:
        t = time.monotonic()
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        with counted(meter) as counts:
            client.lambda_.invoke("run_automatic_campaigns", event)
        found = Measured(200, counts, changed=account.changed)
        with meter.uncounted():
            campaign = deps.campaigns.get(account.account_id, account.automatic, consistent=True)
        assert campaign.job_id and campaign.job_id != "job_previousround0000000000000", "no round started"
        ran = run_job(client, meter, account.account_id, campaign.job_id, job_units)
        with meter.uncounted():
            round_job = deps.jobs.get(account.account_id, campaign.job_id, consistent=True)
        assert round_job.params.get("since"), "the round was not incremental"
        found.take_job(ran)
        out["automatic_round"] = found.figures()
        log(f"    automatic_round: {touched(counts)} items in the schedule ({time.monotonic() - t:.1f} s)")
    finally:
        deps.clock = saved_clock
    # Last: its new clients would change the account's size for the operations above.
    request("import", "POST", "/v1/clients/import?accept_consent=true", csv=import_csv(import_rows))
    return out


# ------------------------------------------------------------------ judging


def judge(
    by_size: dict[int, dict[str, dict[str, Any]]],
    *,
    ratio_goal: float = RATIO_GOAL,
    budget: int = REQUEST_ITEM_BUDGET,
) -> dict[str, dict[str, Any]]:
    """Per operation: the request's items at each size, the ratio largest/smallest, and whether
    it is flat and within the budget (the automatic round: items per changed client)."""
    sizes = sorted(by_size)
    small, large = sizes[0], sizes[-1]
    verdicts: dict[str, dict[str, Any]] = {}
    for name in OPERATIONS:
        if not all(name in by_size[s] for s in sizes):
            continue
        items = {s: by_size[s][name]["request_items"] for s in sizes}
        per_change = None
        if name == "automatic_round":
            per_change = {
                s: round(
                    (by_size[s][name]["request_items"] + by_size[s][name]["job_items"])
                    / max(1, by_size[s][name]["changed"]),
                    2,
                )
                for s in sizes
            }
            ratio = per_change[large] / max(per_change[small], 1e-9)
        else:
            ratio = items[large] / max(items[small], 1)
        per_unit = {s: by_size[s][name]["job_items_per_unit"] for s in sizes}
        flat = ratio <= ratio_goal
        within = max(items.values()) <= budget
        verdicts[name] = {
            "request_items": items,
            "ratio": round(ratio, 2),
            "flat": flat,
            "within_budget": within,
            "per_changed_client": per_change,
            "job_items_per_unit": per_unit,
            "job_items": {s: by_size[s][name]["job_items"] for s in sizes},
            "job_count_items": {s: by_size[s][name].get("job_count_items", 0) for s in sizes},
            "job_units": {s: by_size[s][name]["job_units"] for s in sizes},
            "job_total": {s: by_size[s][name]["job_total"] for s in sizes},
            "job_finished": {s: by_size[s][name]["job_finished"] for s in sizes},
            "status": {s: by_size[s][name]["status"] for s in sizes},
            "met": flat and within,
        }
    return verdicts


def table(verdicts: dict[str, dict[str, Any]], sizes: list[int], budget: int = REQUEST_ITEM_BUDGET) -> str:
    """The printed table: one line per operation."""
    heads = [f"{s:,}" for s in sizes]
    lines = [
        "items touched (read + written, Query items scanned) inside the request, by account size; "
        f"goals: ratio {sizes[-1]:,}/{sizes[0]:,} <= {RATIO_GOAL}, every size <= {budget:,}",
        f"{'operation':<16} "
        + " ".join(f"{h:>9}" for h in heads)
        + f" {'ratio':>6} {'flat':>5} {'budget':>6}"
        "   job: items per unit (units done / total) by size",
    ]
    for name, v in verdicts.items():
        cells = " ".join(f"{v['request_items'][s]:>9,}" for s in sizes)
        jobs = []
        for s in sizes:
            per = v["job_items_per_unit"][s]
            if per is None:
                jobs.append("-")
            else:
                total = v["job_total"][s]
                left = "" if v["job_finished"][s] else f"/{total if total is not None else '?'}, capped"
                count = v["job_count_items"][s]
                counted_first = f" + {count:,} counting" if count else ""
                jobs.append(f"{per} ({v['job_units'][s]:,}{left}){counted_first}")
        mark = "ok" if v["flat"] else "FAIL"
        within = "ok" if v["within_budget"] else "FAIL"
        lines.append(f"{name:<16} {cells} {v['ratio']:>6} {mark:>5} {within:>6}   " + "; ".join(jobs))
        if v["per_changed_client"]:
            per = ", ".join(f"{v['per_changed_client'][s]}" for s in sizes)
            lines.append(f"{'':<16} items per changed client (schedule + round): {per} (the ratio above)")
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def run(sizes: list[int], job_units: int, import_rows: int = IMPORT_ROWS) -> dict[str, Any]:
    """Measure every size in a fresh emulator of its own (the environment already set)."""
    from chalice.test import Client
    from moto import mock_aws

    from bench.meter import Meter, install, schemas_of
    from chalicelib.storage.models import ALL_MODELS

    meter = Meter(schemas_of(ALL_MODELS), trust_reported=False)
    remove = install(meter)
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    try:
        for size in sizes:
            with mock_aws():
                create_world()
                from app import app

                with Client(app) as client:
                    by_size[size] = measure_size(
                        client, meter, size, job_units=job_units, import_rows=import_rows
                    )
            import gc

            gc.collect()
    finally:
        remove()
    verdicts = judge(by_size)
    return {
        "sizes": sizes,
        "job_units_cap": job_units,
        "import_rows": import_rows,
        "goals": {"ratio_largest_to_smallest": RATIO_GOAL, "request_item_budget": REQUEST_ITEM_BUDGET},
        "by_size": {str(s): v for s, v in by_size.items()},
        "operations": {
            name: {
                k: ({str(s): x for s, x in val.items()} if isinstance(val, dict) else val)
                for k, val in v.items()
            }
            for name, v in verdicts.items()
        },
        "met": all(v["met"] for v in verdicts.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--job-units", type=int, default=2000, help="units a measured job may do at most")
    parser.add_argument("--import-rows", type=int, default=IMPORT_ROWS)
    parser.add_argument("--rss-limit-gb", type=float, default=8.0)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    if len(sizes) < 2:
        parser.error("--sizes needs at least two sizes")
    environment()
    sys.path.insert(0, str(ROOT))
    emulator_patches()
    # The request's count of a selection stops at COUNT_BUDGET items or COUNT_SECONDS (10 s),
    # whichever comes first; on DynamoDB the item bound binds first, but the emulator scans a
    # 100,000-client partition for each page, many times slower: lift the time guard so that
    # the items counted are those DynamoDB would serve (as the job fault-injection tests do).
    from chalicelib.services import targets

    targets.COUNT_SECONDS = 3600.0
    watchdog = Watchdog(args.rss_limit_gb).start()
    from bench.machine import LoadSampler

    sampler = LoadSampler()
    sampler.start()
    started = time.monotonic()
    try:
        data = run(sizes, args.job_units, args.import_rows)
    finally:
        sampler.stop()
        watchdog.stop()
    data["seconds"] = round(time.monotonic() - started, 1)
    data["peak_rss_gb"] = round(watchdog.peak_gb, 2)
    data["machine"] = sampler.summary()
    verdicts = {
        name: {
            k: ({int(s): x for s, x in val.items()} if isinstance(val, dict) else val) for k, val in v.items()
        }
        for name, v in data["operations"].items()
    }
    print(table(verdicts, sizes))
    print(f"peak resident memory {data['peak_rss_gb']} GB; {data['seconds']} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    if not data["met"]:
        missed = [name for name, v in data["operations"].items() if not v["met"]]
        print(f"goals missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
