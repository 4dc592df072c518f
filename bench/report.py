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
BASELINE = ROOT / "baseline.json"
CARRIED = "Not run this time: the figures below are carried over from the previous report."

Row = tuple[str, str, str, bool | None]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def cold_start(data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        (
            "`import app` / bare `import chalice, boto3` (median of fresh interpreters)",
            f"{data['ratio']:.2f}x",
            f"<= {data['goal']}x",
            data["ratio"] <= data["goal"],
        )
    ]
    if "first_request_ratio" in data:
        rows.append(
            (
                "`import app` + first `GET /v1/account` (one GetItem) / bare `import chalice, boto3`",
                f"{data['first_request_ratio']:.2f}x",
                "(no goal: what the import defers)",
                None,
            )
        )
    return rows + _package_rows(data)


def _package_rows(data: dict[str, Any]) -> list[Row]:
    if "package_not_measured" in data:
        return [
            (
                "the deployment package on the Lambda's Python",
                "not measured",
                data["package_not_measured"],
                None,
            )
        ]
    if "package_ratio" not in data:
        return []
    where = f"the deployment package on Python {data['package_python']} ({data['package_machine']})"
    ms = {key: value * 1000 for key, value in data.items() if key.endswith("_median_s")}
    return [
        (
            f"{where}: `import app` ({ms['package_app_median_s']:.0f} ms) / bare `import chalice, boto3` "
            f"({ms['package_baseline_median_s']:.0f} ms) from the package",
            f"{data['package_ratio']:.2f}x",
            "(no goal: the runtime as deployed)",
            None,
        ),
        (
            f"{where}: first request's imports, PynamoDB + pydantic + a DynamoDB client "
            f"({ms['package_first_median_s']:.0f} ms) / bare import",
            f"{data['package_first_ratio']:.2f}x",
            "—",
            None,
        ),
        (
            f"{where}: first request's imports without bytecode, as `chalice package` ships "
            f"({ms['nobytecode_first_median_s']:.0f} ms) / with the package's bytecode",
            f"{data['bytecode_speedup_first']:.2f}x",
            "(what precompiling saves)",
            None,
        ),
    ]


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
            f"zipped `deployment.zip` ({data.get('runtime', 'python3.11')} "
            f"{data.get('architecture', 'x86_64')}, {data['zipped_bytes'] / mib:.1f} MiB) / 50 MiB direct-upload limit",
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


def local_stack(data: dict[str, Any]) -> list[Row]:
    goals = data["goals"]
    met = data.get("met") or {}

    def judged(name: str, ok: bool) -> bool | None:
        return met.get(name, ok)

    rows: list[Row] = []
    if "time_per_row_ratio_10k_1k" in data:
        rows += [
            (
                f"10,000-row import, time per row / 1,000-row import ({data['ms_per_row_10k']} ms vs "
                f"{data['ms_per_row_1k']} ms a row, through `POST /v1/clients/import`)",
                f"{data['time_per_row_ratio_10k_1k']}",
                f"<= {goals['time_per_row_ratio_10k_1k']}",
                judged(
                    "time_per_row_ratio_10k_1k",
                    data["time_per_row_ratio_10k_1k"] <= goals["time_per_row_ratio_10k_1k"],
                ),
            ),
            (
                "stack resident memory after the 10,000-row import, all processes (GB)",
                f"{data['rss_gb_after_10k']}",
                f"< {goals['rss_gb_after_10k']}",
                judged("rss_gb_after_10k", data["rss_gb_after_10k"] < goals["rss_gb_after_10k"]),
            ),
        ]
    if "rss_gb_at_100k" in data:
        rows.append(
            (
                f"stack resident memory holding {data['clients_at_100k']:,} clients (GB; fill: {data['fill']})",
                f"{data['rss_gb_at_100k']}",
                f"< {goals['rss_gb_at_100k']}",
                judged("rss_gb_at_100k", data["rss_gb_at_100k"] < goals["rss_gb_at_100k"]),
            )
        )
    else:
        rows.append(
            (
                "stack resident memory holding 100,000 clients (GB)",
                "not measured in this run",
                f"< {goals['rss_gb_at_100k']}",
                None,
            )
        )
    if "stop_seconds" in data:
        rows += [
            (
                "Ctrl-C at 100,000 clients: seconds until every process is gone, state saved",
                f"{data['stop_seconds']}",
                f"<= {goals['stop_seconds']}",
                judged("stop_seconds", data["stop_seconds"] <= goals["stop_seconds"]),
            ),
            (
                "restart at 100,000 clients: seconds until the API answers (state restored)",
                f"{data['restart_ready_seconds_at_100k']}",
                "—",
                None,
            ),
        ]
    rows.append(
        (
            "load average of the machine during the run (1, 5, 15 min)",
            str(data.get("load_average")),
            "—",
            None,
        )
    )
    if data.get("note"):
        rows.append((f"note: {data['note']}", "—", "—", None))
    return rows


SCALE_LABELS = {
    "report": "`GET /v1/campaigns/{id}/report`",
    "preview": "`POST /v1/campaigns/{id}/preview` (audience: every client)",
    "resume": "`POST /v1/campaigns/{id}/resume` (80 % of the recipients waiting)",
    "cancel": "`POST /v1/campaigns/{id}/cancel` (80 % waiting)",
    "import": "`POST /v1/clients/import` (10,000 rows)",
    "bulk_tag": "`POST /v1/clients/bulk-tags` (every client)",
    "automatic_round": "automatic round, 1 % of the clients changed (the schedule's invocation)",
}


def scale(data: dict[str, Any]) -> list[Row]:
    """Per operation: the items touched inside the request at each account size, their ratio
    (largest / smallest) and the fixed budget; then what the job it started did per unit."""
    sizes = [str(size) for size in data["sizes"]]
    goals = data["goals"]
    shown = " / ".join(f"{int(size):,}" for size in sizes)
    rows: list[Row] = []
    for name, op in data["operations"].items():
        label = SCALE_LABELS.get(name, name)
        items = " / ".join(f"{op['request_items'][size]:,}" for size in sizes)
        rows.append(
            (
                f"{label}: DynamoDB items touched in the request at {shown} clients",
                f"{items} (max {max(op['request_items'].values()):,})",
                f"each <= {goals['request_item_budget']:,}",
                op["within_budget"],
            )
        )
        if op.get("per_changed_client"):
            per = " / ".join(f"{op['per_changed_client'][size]}" for size in sizes)
            rows.append(
                (
                    f"{label}: items per changed client (schedule and round), ratio largest / smallest ({per})",
                    f"{op['ratio']}",
                    f"<= {goals['ratio_largest_to_smallest']}",
                    op["flat"],
                )
            )
        else:
            rows.append(
                (
                    f"{label}: request items, largest / smallest account",
                    f"{op['ratio']}",
                    f"<= {goals['ratio_largest_to_smallest']}",
                    op["flat"],
                )
            )
        if any(op["job_items_per_unit"][size] is not None for size in sizes):
            per_unit = " / ".join(str(op["job_items_per_unit"][size] or "—") for size in sizes)
            capped = [
                size for size in sizes if op["job_items_per_unit"][size] and not op["job_finished"][size]
            ]
            note = (
                f" (first {data['job_units_cap']:,} units at {', '.join(f'{int(s):,}' for s in capped)})"
                if capped
                else ""
            )
            counting = op.get("job_count_items") or {}
            if any(counting.get(size) for size in sizes):
                spent = " / ".join(f"{counting.get(size) or 0:,}" for size in sizes)
                note += f"; before them, the job's first chunks counted the selection: {spent} items"
            rows.append(
                (f"{label}: the job's items per unit done{note}", per_unit, "(in the job: no limit)", None)
            )
    rows.append(
        (
            "peak resident memory of the benchmark (GB)",
            f"{data.get('peak_rss_gb')}",
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
    ("Local stack (`make run`) at a salon's size", "local_stack", local_stack),
    ("Request work by account size (1,000 / 10,000 / 100,000 clients)", "scale", scale),
)


def previous_sections(text: str) -> dict[str, list[str]]:
    """The sections of an earlier report by their heading line (``## Title (`python -m …`)``)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line, [])
        elif current is not None:
            current.append(line)
    return sections


def before_after(baseline: dict[str, Any]) -> list[str]:
    """Today's package and cold-start figures beside the recorded ones (``bench/baseline.json``)."""
    mib = 1024 * 1024
    package, cold = _load("package_size"), _load("cold_start")
    if package is None and cold is None:
        return []
    rows = [
        "## Before and after the python3.12 arm64 package (`bench/baseline.json`)",
        "",
        f"Before: {baseline['label']}. After: this report's runs.",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    if package is not None:
        old = baseline["package_size"]
        rows += [
            f"| zipped package (MiB) / ratio to 50 MiB | {old['zipped_mib']} / {old['zipped_ratio']} | "
            f"{package['zipped_bytes'] / mib:.1f} / {package['zipped_ratio']} |",
            f"| unzipped package (MiB) / ratio to 250 MiB | {old['unzipped_mib']} / {old['unzipped_ratio']} | "
            f"{package['unzipped_bytes'] / mib:.1f} / {package['unzipped_ratio']} |",
            f"| files in the package | {old['files']} | {package['files']} |",
        ]
    if cold is not None:
        old = baseline["cold_start"]
        rows.append(
            f"| `import app` / bare `import chalice, boto3` (dev venv) | {old['ratio']:.2f}x | {cold['ratio']:.2f}x |"
        )
        if "first_request_ratio" in cold:
            rows.append(
                f"| `import app` + first request / bare import (dev venv) | {old['first_request_ratio']:.2f}x | "
                f"{cold['first_request_ratio']:.2f}x |"
            )
    return [*rows, ""]


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
    earlier = previous_sections(REPORT.read_text()) if REPORT.exists() else {}
    for title, name, rows_of in SECTIONS:
        data = _load(name)
        if name == "sending":
            title = sending_title(data)  # the run's parameters
        heading = f"## {title} (`python -m bench.{name}`)"
        if data is None:
            # A partial run (make bench BENCHES=…) keeps the other sections' last figures, marked,
            # under their last heading (the sending section's names the parameters it ran with).
            suffix = f"(`python -m bench.{name}`)"
            heading = next((line for line in earlier if line.endswith(suffix)), heading)
            table = [line for line in earlier.get(heading, []) if line.startswith("|")]
            if table:
                lines += [heading, "", CARRIED, "", *table, ""]
                continue
            lines += [heading, "", "Not run: no `bench/results/" + name + ".json`.", ""]
            continue
        lines += [heading, ""]
        lines += ["| figure | measured | goal | |", "|---|---|---|---|"]
        lines += [
            f"| {label} | {value} | {goal} | {_mark(met)} |" for label, value, goal, met in rows_of(data)
        ]
        lines.append("")
    if BASELINE.exists():
        lines += before_after(json.loads(BASELINE.read_text()))
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
