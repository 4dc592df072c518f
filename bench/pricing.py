"""What a stage deploys, and the prices of its region: the benchmarks price what AWS bills.

Everything is read from the stage's own configuration, never restated here:

- the **region** and how many ``handle_send`` Lambdas may run at once from
  ``infra/config.json``: the send queue's ``MaximumConcurrency`` the stack derives
  from the stage's ``throughput`` and SES rate (``StageConfig.poller_concurrency``),
  capped by a reserved concurrency if the stage names one;
- the send worker's **memory** from ``.chalice/config.json`` as Chalice packages it,
  and its **architecture** as the stack deploys every function (``TARGET`` of
  ``infra/lambda_package.py``: it overrides Chalice's);
- the **platform SES rate** from the stage's environment
  (``PERMESSO_PLATFORM_SEND_RATE_PER_SECOND``);
- the **prices** of that region from ``bench/prices.json`` (one table per region,
  each with the date and the pricing pages it was transcribed from). A region
  the file does not list is refused: the benchmark never prices one region's
  run with another's figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).resolve().parent / "prices.json"
SEND_FUNCTION = "handle_send"


class PricingError(Exception):
    """The stage cannot be priced as configured (the message says why)."""


@dataclass(frozen=True)
class Deployed:
    stage: str
    region: str
    architecture: str
    memory_mb: int
    send_workers: int
    platform_rate: float
    jobs_workers: int = 2  # copies of the jobs consumer (the fan-outs run side by side up to this)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Prices:
    region: str
    date: str
    sources: tuple[str, ...]
    architecture: str
    lambda_request: float
    lambda_gb_second: float
    dynamodb_write_request_unit: float
    dynamodb_read_request_unit: float
    dynamodb_storage_gb_month: float
    dynamodb_pitr_gb_month: float
    sqs_request: float
    sns_publish: float
    ses_per_1000: float
    cloudwatch_logs_ingested_gb: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"on-demand prices of {self.region} as of {self.date} ({'; '.join(self.sources)}): Lambda "
            f"${self.lambda_gb_second:.10f}/GB-s ({self.architecture}) + ${self.lambda_request * 1e6:.2f}/M "
            f"requests, DynamoDB ${self.dynamodb_write_request_unit * 1e6:.4f}/M write and "
            f"${self.dynamodb_read_request_unit * 1e6:.4f}/M read request units, SQS "
            f"${self.sqs_request * 1e6:.2f}/M requests, SNS ${self.sns_publish * 1e6:.2f}/M publishes, "
            f"SES ${self.ses_per_1000:.2f}/1,000 e-mails, CloudWatch Logs "
            f"${self.cloudwatch_logs_ingested_gb:.2f}/GB ingested"
        )


def prices_for(region: str, architecture: str, path: Path = PRICES_FILE) -> Prices:
    """The price table of ``region`` with Lambda compute at ``architecture``'s rate."""
    regions = json.loads(path.read_text())["regions"]
    if region not in regions:
        raise PricingError(f"{path.name} has no prices for {region} (it lists {sorted(regions)}): add them")
    table = dict(regions[region])
    per_architecture = table.pop("lambda_gb_second")
    if architecture not in per_architecture:
        raise PricingError(f"{path.name}, {region}: no Lambda price for {architecture}")
    return Prices(
        region=region,
        date=table.pop("date"),
        sources=tuple(table.pop("sources")),
        architecture=architecture,
        lambda_gb_second=float(per_architecture[architecture]),
        **{k: float(v) for k, v in table.items()},
    )


def deployed(stage: str = "prod") -> Deployed:
    """The settings ``stage`` deploys the sending path with."""
    from infra.config import load_stage
    from infra.lambda_package import TARGET
    from local.stage import function_settings, stage_environment

    infra = load_stage(stage)
    function = function_settings(SEND_FUNCTION, stage)
    environment = stage_environment(stage, environ={})
    if "PERMESSO_PLATFORM_SEND_RATE_PER_SECOND" not in environment:
        raise PricingError(f".chalice/config.json, stage {stage}: no PERMESSO_PLATFORM_SEND_RATE_PER_SECOND")
    workers = infra.poller_concurrency("send")
    if SEND_FUNCTION in infra.reserved_concurrency:
        workers = min(workers, infra.reserved_concurrency[SEND_FUNCTION])
    return Deployed(
        stage=stage,
        region=infra.region,
        architecture=TARGET.architecture,  # the stack overrides Chalice's (infra/stack.py)
        memory_mb=function.memory_mb,
        send_workers=workers,
        platform_rate=float(environment["PERMESSO_PLATFORM_SEND_RATE_PER_SECOND"]),
        jobs_workers=infra.poller_concurrency("jobs"),
    )
