"""Write ``bench/REPORT.md`` from the figures the benchmarks left in ``bench/results/``.

Run by ``make bench`` after every benchmark: each figure is a ratio (or a
count per item) measured side by side in one run, printed next to its goal.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
REPORT = ROOT / "REPORT.md"

Row = tuple[str, str, str, bool | None]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def cold_start(data: dict[str, Any]) -> list[Row]:
    return [
        (
            "`import app` / bare `import chalice, boto3` (median of fresh interpreters)",
            f"{data['ratio']:.2f}x",
            f"<= {data['goal']}x",
            data["ratio"] <= data["goal"],
        )
    ] + (
        [
            (
                "`import app` + first `GET /v1/account` (one GetItem) / bare `import chalice, boto3`",
                f"{data['first_request_ratio']:.2f}x",
                "(no goal: what the import defers)",
                None,
            )
        ]
        if "first_request_ratio" in data
        else []
    )


def targeting(data: dict[str, Any]) -> list[Row]:
    goals = data["goals"]
    tag = goals["single_tag_items_read_per_match_le_1.1"]
    widest = goals["no_shape_reads_more_than_full_query"]
    bulk = goals["bulk_tag_items_written_per_client_le_2.1"]
    rows: list[Row] = [
        ("single-tag search: items read per match", f"{tag['items']}", "<= 1.1", tag["met_in_items"]),
        (
            "single-tag search: read capacity per match (item-read equivalents)",
            f"{tag['item_read_equivalents_rcu']}",
            "<= 1.1",
            tag["met_in_rcu"],
        ),
        (
            "worst shape: items read / full account Query",
            f"{widest['worst_items_ratio']}",
            "<= 1",
            widest["met_in_items"],
        ),
        (
            "worst shape: read capacity / full account Query",
            f"{widest['worst_rcu_ratio']}",
            "<= 1",
            widest["met_in_rcu"],
        ),
        ("bulk tag: items written per client", f"{bulk['value']}", "<= 2.1", bulk["met"]),
    ]
    for shape, figures in data.get("shapes", {}).items():
        ratios = figures.get("ratios") if isinstance(figures, dict) else None
        if isinstance(ratios, dict) and "seconds" in ratios:
            rows.append((f"shape `{shape}`: time / full account Query", f"{ratios['seconds']}", "—", None))
    return rows


def auto_status(data: dict[str, Any]) -> list[Row]:
    goals = data["goals"]
    return [
        (
            "status job: items read per changed client",
            f"{data['items_read_per_changed_client']}",
            f"<= {goals['items_read_per_changed_client']}",
            data["items_read_per_changed_client"] <= goals["items_read_per_changed_client"],
        ),
        (
            "status job time / full account Query time (emulator)",
            f"{data['time_ratio_to_full_query']}",
            f"<= {goals['time_ratio_to_full_query']}",
            data["time_ratio_to_full_query"] <= goals["time_ratio_to_full_query"],
        ),
        (
            "status job read capacity / full account Query",
            f"{data['read_capacity_ratio_to_full_query']}",
            "—",
            None,
        ),
    ]


def sending(data: dict[str, Any]) -> list[Row]:
    """One block of rows per run (account count) of ``bench/results/sending.json``: the median
    of the repeated runs, with their spread."""
    labels = {
        "max_1s_window_ratio": "largest 1-second window of attempted sends / SES rate R",
        "achieved_rate_ratio": "achieved send rate / R",
        "ses_throttling_errors": "throttling refusals from the simulated SES",
        "fair_share_deviation": "largest deviation of an account's share from 1/n",
        "dynamodb_items_written_per_recipient": "DynamoDB items written per recipient (index entries included)",
        "dynamodb_items_read_per_recipient": "DynamoDB items read per recipient (Query items scanned)",
        "cost_share_of_ses_price": "AWS cost besides SES / SES price (per 1,000 e-mails)",
    }
    rows: list[Row] = []
    for accounts, run in data.get("runs", {}).items():
        spread = run.get("spread", {})
        for name, value in run["figures"].items():
            if value is None:
                continue
            label = f"{accounts} account{'s' if accounts != '1' else ''}: {labels.get(name, name)}"
            low_high = spread.get(name)
            shown = f"{value} [{low_high[0]} to {low_high[1]}]" if low_high else f"{value}"
            rows.append((label, shown, str(run["goals"].get(name, "—")), run["met"].get(name)))
        details = run.get("details", {})
        for name in ("dynamodb_write_units_per_recipient", "dynamodb_read_units_per_recipient"):
            if details.get(name) is not None:
                rows.append((f"{accounts}: {name.replace('_', ' ')}", f"{details[name]}", "—", None))
    return rows


def sending_title(data: dict[str, Any] | None) -> str:
    if not data:
        return "Sending"
    p, d = data["parameters"], data.get("deployed", {})
    where = (
        "the prod stage's settings" if d.get("bench_at_deployed_settings") else "settings other than prod's"
    )
    return (
        f"Sending ({p['recipients']} recipients in all, R = {p['rate']}/s, {p['workers']} workers: {where}; "
        f"SES {p.get('ses_latency_ms')} ms; median of {p.get('repeat', 1)} runs [spread]; "
        f"prices {data.get('prices', {}).get('region')} {data.get('prices', {}).get('date')}, "
        f"{d.get('architecture')})"
    )


def package_size(data: dict[str, Any]) -> list[Row]:
    mib = 1024 * 1024
    goals, met = data["goals"], data["met"]
    rows: list[Row] = [
        (
            f"zipped `deployment.zip` ({data['zipped_bytes'] / mib:.1f} MiB) / 50 MiB direct-upload limit",
            f"{data['zipped_ratio']}",
            f"<= {goals['zipped_ratio']}",
            met["zipped_ratio"],
        ),
        (
            f"unzipped ({data['unzipped_bytes'] / mib:.1f} MiB, {data['files']} files) / 250 MiB limit",
            f"{data['unzipped_ratio']}",
            f"<= {goals['unzipped_ratio']}",
            met["unzipped_ratio"],
        ),
    ]
    rows += [
        (f"biggest: `{entry['name']}` (MiB unzipped)", f"{entry['unzipped_bytes'] / mib:.1f}", "—", None)
        for entry in data["biggest"]
    ]
    carried = ", ".join(
        f"{name} {size / mib:.1f} MiB" for name, size in data["runtime_provided_in_package"].items() if size
    )
    rows.append(
        (
            f"boto3/botocore, also in the Lambda runtime, packaged anyway ({carried or 'none'}) / unzipped",
            f"{data['runtime_provided_share_of_unzipped']}",
            "—",
            None,
        )
    )
    return rows


SECTIONS = (
    ("Cold start", "cold_start", cold_start),
    ("Targeting (20,000 clients)", "targeting", targeting),
    ("Automatic-status job (20,000 clients, 1 % changing)", "auto_status", auto_status),
    ("Sending", "sending", sending),
    ("Lambda package size (stage prod)", "package_size", package_size),
)


def render() -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Written by `make bench` (`bench/report.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "Every figure is a ratio or a per-item count measured side by side in one run on this",
        "project's 2-core machine against the embedded emulator; absolute times say nothing",
        "about AWS. How each is measured is in the benchmark's own docstring.",
        "",
    ]
    for title, name, rows_of in SECTIONS:
        data = _load(name)
        if name == "sending":
            title = sending_title(data)
        lines += [f"## {title} (`python -m bench.{name}`)", ""]
        if data is None:
            lines += ["Not run: no `bench/results/" + name + ".json`.", ""]
            continue
        lines += ["| figure | measured | goal | |", "|---|---|---|---|"]
        lines += [
            f"| {label} | {value} | {goal} | {_mark(met)} |" for label, value, goal, met in rows_of(data)
        ]
        lines.append("")
    return "\n".join(lines)


def machine_check() -> tuple[bool, str]:
    """Whether the figures may be written: the machine was quiet while the sending benchmark
    ran (its recorded load), and is now (``bench/machine.py``)."""
    from bench.machine import cores, quiet_enough

    recorded = (_load("sending") or {}).get("machine")
    if recorded and not recorded.get("quiet", True):
        return False, f"while the sending benchmark ran, {recorded['why']}"
    now = os.getloadavg()[0]
    quiet, why = quiet_enough(cores(), now, [now])
    return quiet, why if quiet else f"now, {why}"


def main() -> int:
    quiet, why = machine_check()
    if not quiet:
        print(
            f"bench/REPORT.md not written: the machine is too busy for the figures to mean anything ({why})."
        )
        print("The figures are in bench/results/; run `make bench` again on a quiet machine.")
        return 1
    REPORT.write_text(render())
    print(f"written {REPORT.relative_to(ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
