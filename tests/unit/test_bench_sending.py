"""The sending benchmark's own rules: deployed settings, prices, figures that can fail, the
quiet-machine rule (bench/pricing.py, bench/sending.py, bench/machine.py)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from bench.machine import quiet_enough
from bench.pricing import PricingError, deployed, prices_for
from bench.sending import SimulatedSes, combine, cost_per_1000, inventory, summarise
from infra.lambda_package import TARGET

ROOT = Path(__file__).resolve().parents[2]


def test_the_deployed_settings_are_read_from_the_stage_config() -> None:
    infra = json.loads((ROOT / "infra" / "config.json").read_text())["stages"]["prod"]
    chalice = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]
    settings = deployed("prod")
    assert settings.region == infra["region"]
    # The send queue's MaximumConcurrency, as the stack sets it: ceil(R / per-worker rate) + 1.
    rate = float(chalice["environment_variables"]["PERMESSO_PLATFORM_SEND_RATE_PER_SECOND"])
    per_worker = infra["throughput"]["per_worker_send_rate"]
    assert "handle_send" not in infra["reserved_concurrency"]
    assert settings.send_workers == max(2, math.ceil(rate / per_worker) + 1)
    assert settings.platform_rate == float(
        chalice["environment_variables"]["PERMESSO_PLATFORM_SEND_RATE_PER_SECOND"]
    )
    assert settings.memory_mb == chalice["lambda_memory_size"]
    # The stack deploys every function on the package's platform, whatever Chalice would.
    assert settings.architecture == TARGET.architecture == "arm64"


def test_prices_are_the_regions_and_the_architectures() -> None:
    x86 = prices_for("eu-central-1", "x86_64")
    arm = prices_for("eu-central-1", "arm64")
    assert x86.region == "eu-central-1" and x86.date
    assert x86.lambda_gb_second / arm.lambda_gb_second == pytest.approx(1.25, rel=1e-3)
    assert x86.dynamodb_write_request_unit != prices_for("us-east-1", "x86_64").dynamodb_write_request_unit
    assert "eu-central-1" in x86.describe() and "x86_64" in x86.describe()


def test_a_region_without_prices_is_refused() -> None:
    with pytest.raises(PricingError, match="no prices for ap-south-2"):
        prices_for("ap-south-2", "x86_64")


def test_cost_per_1000_prices_every_counted_unit() -> None:
    prices = prices_for("eu-central-1", "x86_64")
    counted = {
        "wru": 3000,
        "index_wru": 1000,
        "rru": 2000,
        "sqs_requests": 50,
        "invocations": 10,
        "log_bytes": 2_000_000,
    }
    cost = cost_per_1000(counted, 1000, gb_seconds=100.0, prices=prices, memory_gb=0.5, events_per_email=0)
    assert cost["dynamodb_writes"] == pytest.approx(4000 * 0.7625e-6)
    assert cost["dynamodb_reads"] == pytest.approx(2000 * 0.1525e-6)
    assert cost["sqs"] == pytest.approx(50 * 0.4e-6)
    assert cost["lambda_requests"] == pytest.approx(10 * 0.2e-6)
    assert cost["lambda_compute"] == pytest.approx(100 * 1.66667e-5)
    assert cost["cloudwatch_logs"] == pytest.approx(0.002 * 0.63)  # 2 MB ingested at $0.63/GB
    assert cost["ses_events"] == 0


def _ses_run(attempted: list[float], accepted: list[float]) -> dict[str, object]:
    return {
        "attempted": attempted,
        "accepted": [(t, "acc_1") for t in accepted],
        "recipients": {f"r{i}": 1 for i in range(len(accepted))},
        "throttled": len(attempted) - len(accepted),
    }


def test_the_window_figure_counts_attempted_sends_so_it_can_fail() -> None:
    # 20 calls in half a second against R = 14: SES accepted 14 of them.
    ses = SimulatedSes(14)
    for i in range(20):
        ses.offer(f"r{i}", "acc_1", now=1000.0 + i * 0.025)
    summary = ses.summary()
    assert len(summary["accepted"]) == 14 and summary["throttled"] == 6
    result = summarise(
        14.0,
        1,
        1,
        20,
        summary,
        {},
        [{"counter": {}, "busy_seconds": 1.0}],
        0.0,
        0.0,
        [],
        ["sent"],
        prices=prices_for("eu-central-1", "x86_64"),
        memory_mb=512,
    )
    assert result["figures"]["max_1s_window_ratio"] == round(20 / 14, 4)
    assert result["met"]["max_1s_window_ratio"] is False
    assert result["details"]["largest_1s_window_of_accepted"] == 14


def test_the_simulated_ses_answers_after_its_round_trip() -> None:
    ses = SimulatedSes(14, latency=0.040, jitter=0.25)
    trips = [ses.round_trip() for _ in range(200)]
    assert 0.030 <= min(trips) and max(trips) <= 0.050
    assert max(trips) - min(trips) > 0.005  # jitter, not a constant


def test_repeated_runs_give_the_median_and_the_spread() -> None:
    def one(rate: float, cost: float) -> dict[str, object]:
        return {
            "parameters": {},
            "goals": {},
            "details": {"cost": cost},
            "figures": {
                "achieved_rate_ratio": rate,
                "cost_share_of_ses_price": cost,
                "fair_share_deviation": None,
            },
        }

    combined = combine([one(0.9, 0.05), one(0.7, 0.03), one(0.95, 0.04)])
    assert combined["figures"]["achieved_rate_ratio"] == 0.9
    assert combined["spread"]["achieved_rate_ratio"] == [0.7, 0.95]
    assert combined["details"] == {"cost": 0.04}  # the run with the median cost
    assert combined["met"]["achieved_rate_ratio"] is False


def test_the_inventory_is_per_recipient() -> None:
    rows = inventory(
        {
            "inv|UpdateItem|permesso-bench-deliveries|calls": 200,
            "inv|UpdateItem|permesso-bench-deliveries|units": 200,
            "op:GetItem": 5,
        },
        100,
    )
    assert rows == {"UpdateItem deliveries": {"calls": 2.0, "units": 2.0}}


def test_a_busy_machine_is_refused_with_the_reason() -> None:
    assert quiet_enough(2, 1.2, [2.0, 2.5, 2.2])[0]
    busy, why = quiet_enough(2, 4.7, [5.0])
    assert not busy and "4.70 before" in why
    crowded, why = quiet_enough(2, 1.0, [3.5, 4.0, 4.5])
    assert not crowded and "median load average" in why


def test_the_mailer_reaches_the_simulated_ses_over_one_kept_connection() -> None:
    import socket

    from bench.sending import SimSesMailer
    from chalicelib.mail.ses import MailThrottled

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ses = SimulatedSes(3, latency=0.004)
    server = ses.serve(port)
    try:
        mailer = SimSesMailer(f"http://127.0.0.1:{port}/send")
        before = time.time()
        ids = [mailer.send_raw(b"x", sender="a@b.example", to=[f"r{i}@c.example"]) for i in range(3)]
        connection = mailer._connection()
        with pytest.raises(MailThrottled):  # the fourth in the same second: SES's own limit
            mailer.send_raw(b"x", sender="a@b.example", to=["r4@c.example"])
        assert mailer._connection() is connection  # kept open, as the SDK's pool keeps it
        after = time.time()
    finally:
        server.shutdown()
    assert len(set(ids)) == 3
    summary = ses.summary()
    assert summary["throttled"] == 1 and len(summary["attempted"]) == 4
    # An arrival is half a round trip after the call reached the server.
    assert all(before + 0.0015 <= t <= after for t in summary["attempted"])


def test_the_workers_log_lines_are_counted_as_cloudwatch_ingests_them() -> None:
    from bench.sending import LogSink

    sink = LogSink()
    print('{"level":"INFO","message":"campaign finished"}', file=sink)  # type: ignore[arg-type]
    print("é", file=sink)  # type: ignore[arg-type]
    assert sink.bytes == len('{"level":"INFO","message":"campaign finished"}') + 1 + 2 + 1  # UTF-8 bytes


def test_a_call_offered_out_of_its_arrival_order_is_judged_in_every_window_holding_it() -> None:
    # The server's threads may offer a call after a later-arriving one: R = 3, two accepted at
    # 1.0 and 1.5; one arriving at 0.6 still fits [0.6, 1.6), a fourth arriving at 0.7 would make
    # that window hold four — refused although the window ending at 0.7 holds only one.
    ses = SimulatedSes(3)
    assert ses.offer("r1", "acc_1", now=1.0) and ses.offer("r2", "acc_1", now=1.5)
    assert ses.offer("r3", "acc_1", now=0.6)
    assert not ses.offer("r4", "acc_1", now=0.7)
    assert ses.offer("r5", "acc_1", now=2.0)  # [1.5, 2.5) holds 1.5 and 2.0
    summary = ses.summary()
    assert summary["throttled"] == 1 and len(summary["accepted"]) == 4
