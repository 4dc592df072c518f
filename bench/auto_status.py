"""Automatic-status job benchmark: 20,000 clients of which 1 % change status today.

Run: ``python -m bench.auto_status``. It uses the targeting benchmark's
environment (in-process moto server on a free port, tables from the app's
models, the same DynamoDB item meter and emulator speed-ups; see
``bench/targeting.py`` for what is counted and how) and measures, side by side:

- the daily job (``services.auto_status.recompute_due_statuses``) with the
  clock at the moment 1 % of the clients are due;
- a plain paginated ``Query`` over the account's clients — the read a
  full-scan design would do every day.

Goals (issue "Automatic client status"): items read per changed client ≤ 3,
job time / full account Query time ≤ 0.1. The read capacity ratio is printed
too: the emulator spends milliseconds of CPU per request, so its wall time
favours few large reads over many small writes far more than DynamoDB does. Figures go to
``bench/results/auto_status.json``.
"""

from __future__ import annotations

import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

N_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20000"))
DUE_SHARE = 0.01
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results" / "auto_status.json"


def load(deps: Any) -> tuple[Any, int]:
    """An account whose clients visited between 1 and 170 days ago; exactly DUE_SHARE of
    them cross a threshold between yesterday and NOW."""
    from chalicelib.domain.auto_status import compute_auto_status
    from chalicelib.domain.time import to_storage
    from chalicelib.services.accounts import NewAccount, create_account
    from chalicelib.storage.clients import status_shard
    from chalicelib.storage.models import ClientModel

    account, _ = create_account(deps, NewAccount(name="Bench Salon", sender_email="bench@salon.example"))
    aid, thresholds = account.account_id, account.settings.auto_status.as_domain()
    rng = random.Random(20261122)
    due = 0
    with ClientModel.batch_write() as batch:
        for i in range(N_CLIENTS):
            client_id = f"cl_{i:026d}"
            if i % int(1 / DUE_SHARE) == 0:  # crosses 90 days (active → lapsing) in the last day
                visit = NOW - timedelta(days=90, hours=rng.randrange(1, 23))
                due += 1
            else:  # stays where it is today: away from both boundaries
                days = rng.choice((rng.randrange(1, 89), rng.randrange(91, 179)))
                visit = NOW - timedelta(days=days, hours=12)
            created = NOW - timedelta(days=400)
            # Stored as of yesterday, as the previous daily run left it.
            state = compute_auto_status(created, visit, NOW - timedelta(days=1), thresholds)
            nxt = state.next_change_at
            batch.save(
                ClientModel(
                    aid,
                    client_id,
                    email=f"client{i}@example.com",
                    email_key=f"client{i}@example.com",
                    first_name="Anna",
                    tags=["vip"] if i % 3 == 0 else [],
                    auto_status=state.status.value,
                    account_auto_status=f"{aid}#{state.status.value}",
                    next_status_at=to_storage(nxt) if nxt else None,
                    status_shard=status_shard(client_id) if nxt else None,
                    last_visit_at=to_storage(visit),
                    fields={"visits": rng.randrange(0, 40)},
                    created_at=to_storage(created),
                    updated_at=to_storage(NOW - timedelta(days=1)),
                    version=1,
                )
            )
    return account, due


def run() -> dict[str, Any]:
    from bench.targeting import METER, create_resources, install_meter, measure
    from chalicelib.bootstrap import get_deps
    from chalicelib.services.auto_status import recompute_due_statuses
    from chalicelib.storage.models import ClientModel

    create_resources()
    install_meter()
    deps = get_deps()
    account, due = load(deps)
    deps.clock = lambda: NOW

    def full_query() -> int:
        return sum(1 for _ in ClientModel.query(account.account_id, page_size=1000))

    def job() -> int:
        return recompute_due_statuses(deps).changed

    baseline = measure(full_query)
    figures = measure(job)
    changed = figures["matched"]
    per_changed = figures["items_read"] / max(changed, 1)
    METER.reset()
    return {
        "clients": N_CLIENTS,
        "due": due,
        "changed": changed,
        "full_query": baseline,
        "job": figures,
        "items_read_per_changed_client": round(per_changed, 2),
        "time_ratio_to_full_query": round(figures["seconds"] / baseline["seconds"], 3),
        "read_capacity_ratio_to_full_query": round(figures["rcu"] / baseline["rcu"], 4),
        "goals": {"items_read_per_changed_client": 3, "time_ratio_to_full_query": 0.1},
    }


def main() -> None:
    from bench.targeting import start_emulator

    server = start_emulator()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        data = run()
    finally:
        server.stop()
    print(
        f"automatic-status job over {data['clients']} clients, {data['changed']} changed (due {data['due']}):"
    )
    print(
        f"  items read per changed client {data['items_read_per_changed_client']} (goal <= 3); "
        f"time / full account Query {data['time_ratio_to_full_query']} (goal <= 0.1); "
        f"read capacity / full account Query {data['read_capacity_ratio_to_full_query']}"
    )
    print(
        "  (emulator time is dominated by its per-request CPU cost: one conditional UpdateItem per"
        " changed client against 20 Query pages; see bench/REPORT.md)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
