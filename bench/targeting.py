"""Targeting benchmark: search, list snapshots and bulk tagging on a 20,000-client account.

Run: ``python -m bench.targeting`` (about 4 minutes on 2 cores).  It starts
an in-process moto server on a free loopback port, points the app at it
(``PERMESSO_AWS_ENDPOINT_URL``, set before ``chalicelib`` is imported), creates
the tables and queues from the app's own definitions, loads a generated
account with batch writes (setup, not measured), then measures each shape
through the app's services — the same code the API and the worker run.

What is counted, honestly:
- **items read / written**: every DynamoDB call the app makes goes through
  PynamoDB's ``Connection._make_api_call``; the benchmark wraps it and counts
  the items each response returned (Query, GetItem, BatchGetItem) and the
  items each request wrote (Put/Update/Delete, BatchWriteItem, each
  Put/Update/Delete of a TransactWriteItems; condition checks are not writes).
  Index queries count the index items they return (keys only).
- **read capacity (RCU)**: moto does not meter capacity, so the benchmark
  computes it with DynamoDB's published rules from the returned items' sizes:
  a Query costs ceil(total size / 4 KB) * 0.5 per page (eventually
  consistent), a GetItem or each BatchGetItem item ceil(size / 4 KB) * 0.5
  (* 1 when strongly consistent).  Item sizes follow DynamoDB's sizing
  (attribute names + values), approximately for numbers.
- **time**: wall time against the emulator on this machine.  Only the ratios
  mean anything; absolute times say nothing about AWS.
- The emulator's transaction rollback copies whole tables, and its response
  serialiser costs milliseconds per item; the emulator patches of the local
  stack (``local/emulator.py``: item-level rollback, direct JSON for reads)
  replace both so that 20,000 clients fit in minutes — this changes emulator
  time only, never the items counted.

Each shape is reported as a ratio to a plain paginated ``Query`` over the
account's clients (the read a "scan the account" design would do), together
with the issue's goals.  Figures go to ``bench/results/targeting.json``.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

N_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20000"))
N_TAGS = 30
SEED = 20261122
RESULTS = Path(__file__).parent / "results" / "targeting.json"


# ---------------------------------------------------------------- metering


def _attr_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(_attr_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _attr_size(v) + 1 for k, v in data.items())
    return sum(len(str(v)) for v in data)  # sets


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _attr_size(value) for name, value in item.items())


class Meter:
    """Counts DynamoDB items and read capacity of every call the app makes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.items_read = 0
        self.items_written = 0
        self.rcu = 0.0
        self.calls: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        return {
            "items_read": self.items_read,
            "items_written": self.items_written,
            "rcu": round(self.rcu, 1),
            "calls": dict(self.calls),
        }

    def record(self, operation: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        self.calls[operation] += 1
        factor = 1.0 if request.get("ConsistentRead") else 0.5
        if operation in ("Query", "Scan"):
            items = response.get("Items", [])
            self.items_read += len(items)
            self.rcu += max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * factor
        elif operation == "GetItem":
            item = response.get("Item")
            self.items_read += 1 if item else 0
            self.rcu += max(1, math.ceil(item_size(item or {}) / 4096)) * factor
        elif operation == "BatchGetItem":
            for table, items in response.get("Responses", {}).items():
                table_factor = 1.0 if request["RequestItems"][table].get("ConsistentRead") else 0.5
                self.items_read += len(items)
                self.rcu += sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) * table_factor
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self.items_written += 1
        elif operation == "BatchWriteItem":
            sent = sum(len(v) for v in request["RequestItems"].values())
            unprocessed = sum(len(v) for v in response.get("UnprocessedItems", {}).values())
            self.items_written += sent - unprocessed
        elif operation == "TransactWriteItems":
            self.items_written += sum(
                1 for entry in request["TransactItems"] if "ConditionCheck" not in entry
            )


METER = Meter()


def install_meter() -> None:
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def metered(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        response = original(self, operation_name, operation_kwargs)
        METER.record(operation_name, operation_kwargs, response or {})
        return response

    Connection._make_api_call = metered  # type: ignore[method-assign]


def measure(run: Callable[[], int]) -> dict[str, Any]:
    METER.reset()
    started = time.perf_counter()
    matched = run()
    seconds = time.perf_counter() - started
    return {"matched": matched, "seconds": round(seconds, 3), **METER.snapshot()}


# ---------------------------------------------------------------- environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator() -> Any:
    import logging

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from local.emulator import EmulatorServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per emulator request

    port = free_port()
    server = EmulatorServer(port)  # the local stack's emulator, with its patches (local/emulator.py)
    server.start()
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "PERMESSO_STAGE": "bench",
            "PERMESSO_REGION": "eu-central-1",
            "PERMESSO_AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "PERMESSO_OPERATOR_KEY": "bench-operator-key",
            "PERMESSO_TOKEN_KEYS": "b1:bench-token-signing-secret-01",
            "PERMESSO_EMAIL_HASH_KEY": "bench-email-hash-key-0000000001",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_NAMESPACE": "Permesso",
        }
    )
    return server


def create_resources() -> None:
    import boto3

    from chalicelib.config import get_settings
    from chalicelib.resources import QUEUES
    from chalicelib.storage.models import ALL_MODELS

    settings = get_settings()
    for model in ALL_MODELS:
        model.create_table(wait=True)
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    for queue in QUEUES:
        sqs.create_queue(QueueName=settings.resource_name(queue.name))


# ---------------------------------------------------------------- data


TAGS = [f"tag{i:02d}" for i in range(N_TAGS)]
# Skewed popularity (a few tags are common, most are rare), like real salons' tags.
TAG_WEIGHTS = [1 / (i + 1) ** 0.8 for i in range(N_TAGS)]


def load_account(deps: Any) -> tuple[Any, dict[str, int]]:
    """An account with N_CLIENTS generated clients; returns it and each tag's client count."""
    from chalicelib.domain.time import to_storage
    from chalicelib.services.accounts import NewAccount, create_account
    from chalicelib.storage.clients import status_shard, tag_partition
    from chalicelib.storage.models import ClientEmailModel, ClientModel, TagMemberModel

    account, _ = create_account(deps, NewAccount(name="Bench Salon", sender_email="bench@salon.example"))
    aid = account.account_id
    rng = random.Random(SEED)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    tag_counts: Counter[str] = Counter()
    with (
        ClientModel.batch_write() as clients,
        TagMemberModel.batch_write() as members,
        ClientEmailModel.batch_write() as claims,
    ):
        for i in range(N_CLIENTS):
            client_id = f"cl_{i:026d}"
            email = f"client{i}@example.com"
            tags = sorted(set(rng.choices(TAGS, TAG_WEIGHTS, k=rng.choice((0, 1, 1, 2, 2, 3, 4)))))
            auto = rng.choices(("new", "active", "lapsing", "lost"), (15, 35, 25, 25))[0]
            consent = rng.choices(("granted", "denied", "unknown"), (25, 10, 65))[0]
            confirmed = now - timedelta(days=rng.randrange(1, 700)) if consent == "granted" else None
            next_change = now + timedelta(days=rng.randrange(1, 90)) if auto != "lost" else None
            clients.save(
                ClientModel(
                    aid,
                    client_id,
                    email=email,
                    email_key=email,
                    first_name=rng.choice(("Anna", "Eva", "Jana", "Marco", "Giulia", "Petr")),
                    last_name=f"Surname{i % 997}",
                    language=rng.choice(("en", "cs", "it")),
                    tags=tags,
                    status=rng.choice(("regular", "vip", "occasional", None)),
                    auto_status=auto,
                    account_auto_status=f"{aid}#{auto}",
                    next_status_at=to_storage(next_change) if next_change else None,
                    status_shard=status_shard(client_id) if next_change else None,
                    last_visit_at=to_storage(now - timedelta(days=rng.randrange(1, 400))),
                    fields={"visits": rng.randrange(0, 40)},
                    consent_state=consent,
                    consent_confirmed_at=to_storage(confirmed) if confirmed else None,
                    consent_source="reactivation_campaign" if confirmed else None,
                    suppressed=rng.random() < 0.03,
                    created_at=to_storage(now - timedelta(days=rng.randrange(30, 900))),
                    updated_at=to_storage(now),
                    version=1,
                )
            )
            claims.save(ClientEmailModel(aid, email, client_id=client_id))
            for tag in tags:
                members.save(TagMemberModel(tag_partition(aid, tag), client_id))
                tag_counts[tag] += 1
    return account, dict(tag_counts)


# ---------------------------------------------------------------- shapes


def drain_jobs(deps: Any) -> int:
    """What the worker Lambda does: take job messages and run their chunks until none is left."""
    import boto3

    from chalicelib.services import job_kinds
    from chalicelib.services.jobs import handle_message

    job_kinds.load()  # as the worker's entry point does
    settings = deps.settings
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    url = sqs.get_queue_url(QueueName=settings.resource_name("jobs"))["QueueUrl"]
    handled = 0
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return handled
        for message in batch:
            handle_message(deps, json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1


def run() -> dict[str, Any]:
    from chalicelib.bootstrap import get_deps
    from chalicelib.domain.filter_plan import plan_filter
    from chalicelib.domain.filters import parse_filter
    from chalicelib.services import bulk_tags, lists, search
    from chalicelib.services.selection import plan_name
    from chalicelib.storage.models import ClientModel

    create_resources()
    deps = get_deps()
    started = time.perf_counter()
    account, tag_counts = load_account(deps)
    setup_seconds = time.perf_counter() - started
    install_meter()
    aid = account.account_id

    def full_query() -> int:
        return sum(1 for _ in ClientModel.query(aid))

    def search_all(flt: Any) -> Callable[[], int]:
        def go() -> int:
            found, cursor = 0, None
            while True:
                items, cursor = search.search_clients(deps, account, flt, 500, cursor)
                found += len(items)
                if cursor is None:
                    return found

        return go

    def create_list(flt: Any, name: str) -> Callable[[], int]:
        def go() -> int:
            created = lists.create_list(
                deps, account, lists.NewList.model_validate({"name": name, "source": {"filter": flt}})
            )
            drain_jobs(deps)
            return deps.lists.get(aid, created.list_id).size

        return go

    single_tag = min(tag_counts, key=lambda t: abs(tag_counts[t] - 1000))
    popular_tag = max(tag_counts, key=lambda t: tag_counts[t])
    shapes: dict[str, Any] = {
        "(a) single-tag search": {"field": "tags", "op": "contains", "value": single_tag},
        "(b) 3-condition filter search": {
            "all": [
                {"field": "tags", "op": "contains", "value": popular_tag},
                {"field": "auto_status", "op": "in", "value": ["lapsing", "lost"]},
                {"field": "consent.state", "op": "ne", "value": "denied"},
            ]
        },
        "(b2) 3-condition filter, nothing indexable": {
            "all": [
                {"field": "status", "op": "eq", "value": "regular"},
                {"field": "language", "op": "eq", "value": "cs"},
                {"field": "fields.visits", "op": "gt", "value": 20},
            ]
        },
        "(c) list from filter (seed segment)": {"field": "consent.confirmed_at", "op": "is_set"},
        "(c2) list from filter, needs client reads": {
            "all": [
                {"field": "consent.confirmed_at", "op": "is_set"},
                {"field": "suppressed", "op": "eq", "value": False},
            ]
        },
    }
    baseline = measure(full_query)
    results: dict[str, Any] = {}
    for name, flt in shapes.items():
        runner = create_list(flt, name) if name.startswith("(c") else search_all(flt)
        figures = measure(runner)
        figures["plan"] = plan_name(plan_filter(parse_filter(flt)))
        figures["filter"] = flt
        results[name] = figures
    bulk = measure(lambda: _bulk_tag_all(deps, account, bulk_tags))
    return {
        "clients": N_CLIENTS,
        "tags": N_TAGS,
        "tag_clients": {
            "single": [single_tag, tag_counts[single_tag]],
            "popular": [popular_tag, tag_counts[popular_tag]],
        },
        "setup_seconds": round(setup_seconds, 1),
        "baseline_full_query": baseline,
        "shapes": results,
        "bulk_tag_all": bulk,
    }


def _bulk_tag_all(deps: Any, account: Any, bulk_tags: Any) -> int:
    request = bulk_tags.BulkTagsRequest.model_validate({"selection": {"filter": None}, "add": ["bench-all"]})
    status, body = bulk_tags.bulk_tags(deps, account, request)
    assert status == 202, body
    drain_jobs(deps)
    job = deps.jobs.get(account.account_id, body["job_id"], consistent=True)
    assert job.status == "done", job
    return int(job.result.get("updated", 0))


# ---------------------------------------------------------------- report


def ratios(figures: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    matched = max(figures["matched"], 1)
    return {
        "time_vs_full_query": round(figures["seconds"] / baseline["seconds"], 3),
        "items_read_vs_full_query": round(figures["items_read"] / baseline["items_read"], 3),
        "rcu_vs_full_query": round(figures["rcu"] / baseline["rcu"], 3),
        "items_read_per_match": round(figures["items_read"] / matched, 3),
        # one eventually consistent read of an item up to 4 KB costs 0.5 RCU
        "item_read_equivalents_per_match": round(figures["rcu"] / 0.5 / matched, 3),
    }


def report(data: dict[str, Any]) -> dict[str, Any]:
    baseline = data["baseline_full_query"]
    rows = []
    for name, figures in data["shapes"].items():
        figures["ratios"] = ratios(figures, baseline)
        rows.append((name, figures))
    bulk = data["bulk_tag_all"]
    bulk["items_written_per_client"] = round(bulk["items_written"] / data["clients"], 3)
    bulk["items_read_per_client"] = round(bulk["items_read"] / data["clients"], 3)
    single = data["shapes"]["(a) single-tag search"]["ratios"]
    worst = max(f["ratios"]["items_read_vs_full_query"] for _, f in rows)
    worst_rcu = max(f["ratios"]["rcu_vs_full_query"] for _, f in rows)
    data["goals"] = {
        "single_tag_items_read_per_match_le_1.1": {
            "items": single["items_read_per_match"],
            "met_in_items": single["items_read_per_match"] <= 1.1,
            "item_read_equivalents_rcu": single["item_read_equivalents_per_match"],
            "met_in_rcu": single["item_read_equivalents_per_match"] <= 1.1,
        },
        "no_shape_reads_more_than_full_query": {
            "worst_items_ratio": worst,
            "worst_rcu_ratio": worst_rcu,
            "met_in_items": worst <= 1.0,
            "met_in_rcu": worst_rcu <= 1.0,
        },
        "bulk_tag_items_written_per_client_le_2.1": {
            "value": bulk["items_written_per_client"],
            "met": bulk["items_written_per_client"] <= 2.1,
        },
    }

    print(
        f"\nTargeting benchmark — {data['clients']} clients, {data['tags']} tags (moto server, this machine)"
    )
    print(
        f"baseline: plain paginated Query over the account: {baseline['items_read']} items, "
        f"{baseline['rcu']} RCU, {baseline['seconds']} s\n"
    )
    header = (
        f"{'shape':44} {'plan':22} {'matched':>7} {'time/full':>9} {'items/full':>10} {'RCU/full':>8} "
        f"{'items/match':>11} {'RCU-eq/match':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, figures in rows:
        r = figures["ratios"]
        print(
            f"{name:44} {figures['plan']:22} {figures['matched']:>7} {r['time_vs_full_query']:>9} "
            f"{r['items_read_vs_full_query']:>10} {r['rcu_vs_full_query']:>8} {r['items_read_per_match']:>11} "
            f"{r['item_read_equivalents_per_match']:>12}"
        )
    print(
        f"\nbulk tag of all {data['clients']} clients: {bulk['items_written_per_client']} items written per client "
        f"(goal <= 2.1), {bulk['items_read_per_client']} items read per client, {bulk['seconds']} s"
    )
    print("\ngoals:")
    for goal, values in data["goals"].items():
        print(f"  {goal}: {values}")
    return data


def main() -> None:
    server = start_emulator()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        data = report(run())
    finally:
        server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(
        f"\nfigures written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )


if __name__ == "__main__":
    main()
