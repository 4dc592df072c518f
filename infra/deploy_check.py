"""The pre-deploy check: refuse a deploy that would fail, or go out with nobody hearing its alarms.

    python -m infra.deploy_check prod                 # make deploy-check STAGE=prod
    python -m infra.deploy_check prod --config infra/config.example.json
    python -m infra.deploy_check prod --ci            # make infra: report, fail only on what is broken

What it refuses (each named in the message, with what to do):

- **placeholders**: ``public_base_url``, ``alarm_email``, ``sender_domains`` or an alarm
  endpoint still on an example domain (``example.com``, ``.test``…);
- **nobody hears the alarms**: no ``alarm_email``, ``alarm_https_endpoints`` or ``alarm_slack``;
- **concurrency the account cannot give**: Lambda refuses a reservation that leaves fewer than
  100 unreserved concurrent executions, and new accounts often have a quota of 10 in all; the
  pollers' ``MaximumConcurrency`` must also leave the API room. Read from the account
  (Lambda ``GetAccountSettings``; Service Quotas ``L-B99A9384`` for the applied quota) when
  credentials are available; otherwise the manual check is printed;
- **SES sandbox** for a ``production`` stage (SESv2 ``GetAccount``: ``ProductionAccessEnabled``),
  or a platform send rate above the account's SES ``MaxSendRate``.

``--ci`` (``make infra``, CI, the default config): the account is not read and the
operator's items (placeholders, subscriber) are reported as what a deploy would refuse, without
failing; only what no account could deploy fails. The filled-in ``infra/config.example.json``
must pass the whole offline check (``make infra`` runs that too).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import CONFIG_FILE, UNRESERVED_MINIMUM, InfraError, StageConfig, load_stage

LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
# Concurrent executions the API should always have beyond every capped poller.
API_HEADROOM = 10
DEPLOY_GUIDE = "docs/DEPLOY.md"


@dataclass(frozen=True)
class AccountFacts:
    """What the target account says (None: could not be read)."""

    concurrency_limit: int | None = None  # AccountLimit.ConcurrentExecutions
    unreserved: int | None = None  # AccountLimit.UnreservedConcurrentExecutions
    own_reserved: int = 0  # reservations this stage's functions hold already (counted in unreserved)
    quota_applied: float | None = None  # Service Quotas' applied value, when readable
    ses_production: bool | None = None  # SESv2 GetAccount ProductionAccessEnabled
    ses_max_send_rate: float | None = None  # SESv2 GetAccount SendQuota.MaxSendRate
    errors: tuple[str, ...] = ()  # what could not be read, and why


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def poller_total(config: StageConfig) -> int:
    from chalicelib.resources import QUEUES

    return sum(config.poller_concurrency(spec.name) for spec in QUEUES)


def check(config: StageConfig, facts: AccountFacts | None, *, ci: bool = False) -> Report:
    """Every problem of deploying ``config`` to the account ``facts`` describes (None: offline)."""
    report = Report()
    operator_items: list[str] = []
    placeholders = config.placeholders()
    if placeholders:
        operator_items.append(
            f"still an example value: {', '.join(placeholders)} (infra/config.json, stage {config.name}; "
            f"{DEPLOY_GUIDE} step 2)"
        )
    if not config.alarm_subscribers:
        operator_items.append(
            "nobody hears the alarms: set alarm_email, alarm_https_endpoints or alarm_slack "
            f"({DEPLOY_GUIDE} step 2)"
        )
    if ci:
        report.notices += [f"a deploy would refuse: {item}" for item in operator_items]
    else:
        report.failures += operator_items

    reserved = sum(config.reserved_concurrency.values())
    pollers = poller_total(config)
    if facts is None or facts.concurrency_limit is None:
        if reserved:
            report.notices.append(
                f"reserved_concurrency asks for {reserved}: Lambda refuses it unless the account keeps "
                f"{UNRESERVED_MINIMUM} unreserved. Check by hand: aws lambda get-account-settings --query "
                f"AccountLimit (UnreservedConcurrentExecutions - {reserved} must stay >= {UNRESERVED_MINIMUM}; "
                f"{DEPLOY_GUIDE}, concurrency quota)"
            )
        report.notices.append(
            f"the SQS pollers may run {pollers} copies at once; the account's concurrency quota must leave the "
            f"API at least {API_HEADROOM} more (quota >= {pollers + API_HEADROOM}). Not read from the account"
            + (f" ({'; '.join(facts.errors)})" if facts and facts.errors else " (no credentials)")
            + ": aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions"
        )
    else:
        limit = facts.concurrency_limit
        available = (facts.unreserved or 0) + facts.own_reserved - UNRESERVED_MINIMUM
        if reserved and reserved > available:
            report.failures.append(
                f"reserved_concurrency asks for {reserved}, but the account's quota of {limit} concurrent "
                f"executions can reserve only {max(0, available)} (Lambda keeps {UNRESERVED_MINIMUM} unreserved): "
                f"remove the reservation, or request a quota increase ({DEPLOY_GUIDE}, concurrency quota)"
            )
        if limit < pollers + API_HEADROOM:
            report.failures.append(
                f"the account's Lambda concurrency quota is {limit}: the SQS pollers may take {pollers}, leaving "
                f"the API fewer than {API_HEADROOM}. Request an increase of quota {LAMBDA_CONCURRENCY_QUOTA} "
                f"to 1000 ({DEPLOY_GUIDE}, concurrency quota), or lower throughput in infra/config.json"
            )
        else:
            report.notices.append(
                f"Lambda concurrency: quota {limit}, pollers at most {pollers}, reserved {reserved}: fine"
            )
        if facts.quota_applied is not None and facts.quota_applied > limit:
            report.notices.append(
                f"Service Quotas shows {facts.quota_applied:g} applied (the account reads {limit})"
            )

    if facts is None or facts.ses_production is None:
        report.notices.append(
            "SES production access not checked"
            + (f" ({'; '.join(facts.errors)})" if facts and facts.errors else " (no credentials)")
            + ": aws sesv2 get-account --query '{production: ProductionAccessEnabled, rate: SendQuota.MaxSendRate}'"
        )
    else:
        if config.production and not facts.ses_production:
            report.failures.append(
                "SES is still in the sandbox (it sends only to verified addresses, 200 a day): request "
                f"production access before a production deploy ({DEPLOY_GUIDE} step 6), or set production "
                "to false for a test stage"
            )
        rate = config.platform_send_rate
        if facts.ses_max_send_rate is not None and rate > facts.ses_max_send_rate:
            report.failures.append(
                f"PERMESSO_PLATFORM_SEND_RATE_PER_SECOND is {rate:g} (.chalice/config.json, stage {config.name}) "
                f"but SES allows {facts.ses_max_send_rate:g} e-mails/s: set it to the SES MaxSendRate "
                f"({DEPLOY_GUIDE} step 6)"
            )
    return report


def _has_credentials() -> bool:
    import boto3

    return boto3.Session().get_credentials() is not None


def read_account(config: StageConfig) -> AccountFacts:
    """The account's facts through the SDK; what cannot be read is left None with its reason."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.access import FUNCTIONS, Names

    session = boto3.Session(region_name=config.region)
    errors: list[str] = []
    facts: dict[str, Any] = {}
    try:
        lambda_client = session.client("lambda")
        limit = lambda_client.get_account_settings()["AccountLimit"]
        facts["concurrency_limit"] = int(limit["ConcurrentExecutions"])
        facts["unreserved"] = int(limit["UnreservedConcurrentExecutions"])
        own = 0
        names = Names(config.name)
        for function in FUNCTIONS:
            try:
                found = lambda_client.get_function_concurrency(FunctionName=names.function(function))
                own += int(found.get("ReservedConcurrentExecutions") or 0)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        facts["own_reserved"] = own
    except (BotoCoreError, ClientError) as exc:
        errors.append(f"Lambda GetAccountSettings: {exc}")
    try:
        quota = session.client("service-quotas").get_service_quota(
            ServiceCode="lambda", QuotaCode=LAMBDA_CONCURRENCY_QUOTA
        )
        facts["quota_applied"] = float(quota["Quota"]["Value"])
    except (BotoCoreError, ClientError):
        pass  # optional: GetAccountSettings already says what the account allows
    try:
        account = session.client("sesv2").get_account()
        facts["ses_production"] = bool(account.get("ProductionAccessEnabled"))
        facts["ses_max_send_rate"] = float(account.get("SendQuota", {}).get("MaxSendRate", 0)) or None
    except (BotoCoreError, ClientError) as exc:
        errors.append(f"SESv2 GetAccount: {exc}")
    return AccountFacts(errors=tuple(errors), **facts)


def run(stage: str, config_path: Path, *, ci: bool, offline: bool) -> tuple[Report, StageConfig | None]:
    try:
        config = load_stage(stage, config_path)
    except InfraError as exc:
        return Report(failures=[str(exc)]), None
    facts = None
    if not (ci or offline) and _has_credentials():
        facts = read_account(config)
    return check(config, facts, ci=ci), config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy_check", description=__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="?", default="prod")
    parser.add_argument(
        "--config", type=Path, default=CONFIG_FILE, help="the stages file (infra/config.json)"
    )
    parser.add_argument("--ci", action="store_true", help="report the operator's items without failing")
    parser.add_argument("--offline", action="store_true", help="never read the account")
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("PERMESSO_STAGE", args.stage)
    report, config = run(args.stage, args.config, ci=args.ci, offline=args.offline)
    where = f"{args.config.name}, stage {args.stage}"
    for notice in report.notices:
        print(f"deploy-check ({where}): {notice}")
    if report.failures:
        print(f"deploy-check ({where}): REFUSED, {len(report.failures)} problem(s):", file=sys.stderr)
        for failure in report.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    if config is not None:
        print(
            f"deploy-check ({where}): "
            + ("nothing that any deploy would refuse (--ci)" if args.ci else "OK")
            + (f"; alarms reach {', '.join(config.alarm_subscribers)}" if config.alarm_subscribers else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
