"""The scale benchmark (``bench/scale.py``) at tiny sizes, so it cannot silently rot: it builds
its accounts, calls every operation through the app, runs the jobs they start, and judges the
figures — flat where the request's work is bounded, and failing where it grows with the account.

The request/job thresholds are lowered (as the sizes are) so that 50 and 200 clients are both
"large": every bounded path is the one a 100,000-client account takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from bench import scale
from bench.meter import Meter, install, schemas_of
from chalicelib.services import targets
from chalicelib.storage.models import ALL_MODELS

SIZES = (50, 200)


@pytest.fixture
def meter(aws: None) -> Iterator[Meter]:
    meter = Meter(schemas_of(ALL_MODELS), trust_reported=False)
    remove = install(meter)
    try:
        yield meter
    finally:
        remove()


@pytest.fixture
def measured(
    api: Client, meter: Meter, tune: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[int, dict[str, dict[str, Any]]]:
    tune(
        bulk_sync_limit=20,
        requeue_sync_limit=20,
        import_inline_rows=10,
        job_chunk_items=40,
        preview_max_clients=20,
    )
    monkeypatch.setattr(targets, "COUNT_BUDGET", 30)
    by_size = {}
    for size in SIZES:
        by_size[size] = scale.measure_size(
            api, meter, size, job_units=1000, import_rows=30, log=lambda _: None
        )
    return by_size


def test_the_bench_measures_every_operation_and_judges_it(measured: dict[int, dict[str, Any]]) -> None:
    small, large = (measured[size] for size in SIZES)
    assert set(small) == set(large) == set(scale.OPERATIONS)

    # The report reads the campaign and its counter items: the same few whatever the size.
    assert small["report"]["request_items"] == large["report"]["request_items"] <= 10

    # Above the (lowered) thresholds resume, cancel, the import, the bulk tag and the preview
    # answer 202 and a job does the work, which the bench runs and counts apart.
    for name, units in (
        ("resume", 1.0),
        ("cancel", 1.0),
        ("import", 30),
        ("bulk_tag", 1.0),
        ("preview", 1.0),
    ):
        for size, figures in measured.items():
            assert figures[name]["status"] == 202, (name, size, figures[name])
            assert figures[name]["job_finished"], (name, size)
            expected = units if name == "import" else units * size
            if name == "preview":  # the request counted the limit and one more: handed over
                expected -= 20 + 1
            assert figures[name]["job_units"] == expected, (name, size, figures[name])
            assert figures[name]["job_items"] > figures[name]["job_units"]  # every unit costs items
    assert large["bulk_tag"]["job_items"] > 3 * small["bulk_tag"]["job_items"]  # the job grows…
    # …and the request stays bounded: the selection's first stretch and the count's budget.
    assert large["bulk_tag"]["request_items"] <= 1.2 * small["bulk_tag"]["request_items"]
    # The preview reads the limit and one more in the request (and the campaign): no more.
    assert small["preview"]["request_items"] == large["preview"]["request_items"] <= 20 + 1 + 5

    # The automatic round reads only those who changed into its audience (1 %).
    assert small["automatic_round"]["changed"] == 1 and large["automatic_round"]["changed"] == 2
    assert large["automatic_round"]["job_units"] == 2

    verdicts = scale.judge(measured)
    for name in ("report", "preview", "resume", "cancel", "import", "bulk_tag", "automatic_round"):
        assert verdicts[name]["flat"] and verdicts[name]["within_budget"], (name, verdicts[name])
    printed = scale.table(verdicts, list(SIZES))
    assert "preview" in printed and "FAIL" not in printed


def test_the_verdict_fails_past_the_ratio_or_the_budget() -> None:
    def figures(items: int, *, job: int = 0, units: int = 0, changed: int = 0) -> dict[str, Any]:
        return {
            "status": 200,
            "request_items": items,
            "job_items": job,
            "job_units": units,
            "job_total": units,
            "job_finished": True,
            "job_items_per_unit": round(job / units, 2) if units else None,
            "changed": changed,
        }

    by_size = {
        1000: {
            "report": figures(7),
            "preview": figures(1003),
            "automatic_round": figures(10, job=60, changed=10),
        },
        100000: {
            "report": figures(8),
            "preview": figures(12_000),
            "automatic_round": figures(1000, job=6000, changed=1000),
        },
    }
    verdicts = scale.judge(by_size, ratio_goal=1.2, budget=10_000)
    assert verdicts["report"]["met"] and verdicts["report"]["ratio"] == 1.14
    assert not verdicts["preview"]["flat"] and not verdicts["preview"]["within_budget"]
    # The round is judged per changed client (7.0 both times), not by its growing change.
    assert verdicts["automatic_round"]["per_changed_client"] == {1000: 7.0, 100000: 7.0}
    assert verdicts["automatic_round"]["met"]
