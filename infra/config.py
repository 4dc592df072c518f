"""Deployment settings of each stage, from ``infra/config.json``.

Only what the infrastructure needs lives here (region, retention, alarm
thresholds, the sending worker's concurrency…).  The Lambda settings the app
reads (memory, timeout, ``PERMESSO_*`` limits) stay in ``.chalice/config.json``
and secrets live in SSM Parameter Store, never in a file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

CONFIG_FILE = Path(__file__).resolve().parent / "config.json"
CHALICE_CONFIG_FILE = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
# SQS event sources: Lambda's bounds for ScalingConfig.MaximumConcurrency.
MIN_POLLER_CONCURRENCY, MAX_POLLER_CONCURRENCY = 2, 1000
# Lambda refuses a reservation that leaves fewer unreserved concurrent executions than this.
UNRESERVED_MINIMUM = 100

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# Hosts that mark a value the operator has not filled in yet (RFC 2606 names).
_PLACEHOLDER_HOST = re.compile(r"(^|\.)(example\.(com|org|net)|example|test|invalid|localhost)$")


class InfraError(Exception):
    """The infrastructure cannot be synthesised as configured; the message says why and what to do."""


class AlarmConfig(BaseModel):
    """Thresholds; each alarm's reason is in docs/ARCHITECTURE.md (*Alarms*)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Share of API requests answered 5xx over one period that raises the alarm.
    api_5xx_rate: float = Field(default=0.05, gt=0, le=1)
    # Below this many requests in a period the 5xx rate is not judged (one error in two requests is noise).
    api_min_requests: int = Field(default=20, ge=1)
    # API Gateway's p99 latency (ms) over one period, two periods in a row.
    api_latency_p99_ms: int = Field(default=5000, ge=100)
    # ``SendErrors`` (namespace Permesso) in one period that raises the alarm.
    send_errors: int = Field(default=10, ge=1)
    # Lambda ``Errors`` (a crash, a timeout: the app handles what it expects) of one function.
    lambda_errors: int = Field(default=1, ge=1)
    # Lambda ``Throttles`` of one function (its poller or the account ran out of concurrency).
    lambda_throttles: int = Field(default=1, ge=1)
    # p99 ``Duration`` of a function as a share of its timeout: it is about to time out.
    lambda_duration_share: float = Field(default=0.8, gt=0, lt=1)
    # Age of the oldest message of a queue (minutes) by queue; others use the default.
    queue_age_minutes: dict[str, int] = Field(default_factory=lambda: {"send": 360, "ses-events": 15})
    queue_age_default_minutes: int = Field(default=30, ge=1)
    # DynamoDB read + write throttle events of one table in one period (the SDK retries a few).
    dynamodb_throttle_events: int = Field(default=10, ge=1)
    # SES account reputation, below AWS's own review thresholds (5 % bounces, 0.1 % complaints).
    ses_bounce_rate: float = Field(default=0.04, gt=0, lt=1)
    ses_complaint_rate: float = Field(default=0.0008, gt=0, lt=1)
    # Double opt-in e-mails that could not be sent (a sign-up that will never be confirmed).
    double_opt_in_failures: int = Field(default=1, ge=1)
    # Background jobs that gave up (a user's bulk tag, import or segmentation did not finish).
    jobs_failed: int = Field(default=1, ge=1)
    period_minutes: int = Field(default=5, ge=1, le=60)


class ThroughputConfig(BaseModel):
    """How many copies of each SQS consumer may run (``ScalingConfig.MaximumConcurrency``).

    The platform's SES rate ``R`` is ``PERMESSO_PLATFORM_SEND_RATE_PER_SECOND`` of the stage in
    ``.chalice/config.json`` (the account's SES MaxSendRate). Send workers:
    ``ceil(R / per_worker_send_rate) + 1`` (one spare for a worker between messages), at least 2.
    SES events arrive at about R (one ``send`` event per e-mail, plus bounces and complaints):
    ``ceil(R / ses_events_per_worker)``, at least 2. Jobs: ``jobs_concurrency``. docs/DEPLOY.md.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # E-mails per second one send worker sustains: one SES call at a time, about 100 ms each.
    per_worker_send_rate: float = Field(default=10, gt=0)
    # SES events per second one handle_ses_events copy processes (batches of 10).
    ses_events_per_worker: float = Field(default=25, gt=0)
    jobs_concurrency: int = Field(default=2, ge=MIN_POLLER_CONCURRENCY, le=MAX_POLLER_CONCURRENCY)
    # Per queue, instead of the formulas above (a queue added later defaults to 2).
    override: dict[str, int] = Field(default_factory=dict)

    def concurrency(self, queue: str, send_rate: float) -> int:
        """MaximumConcurrency of the consumer of ``queue`` at platform rate ``send_rate`` (e-mails/s)."""
        if queue in self.override:
            wanted = self.override[queue]
        elif queue == "send":
            wanted = math.ceil(send_rate / self.per_worker_send_rate) + 1
        elif queue == "ses-events":
            wanted = math.ceil(send_rate / self.ses_events_per_worker)
        elif queue == "jobs":
            wanted = self.jobs_concurrency
        else:
            wanted = MIN_POLLER_CONCURRENCY
        return min(MAX_POLLER_CONCURRENCY, max(MIN_POLLER_CONCURRENCY, wanted))


class EdgeConfig(BaseModel):
    """The public edge: API Gateway stage throttling, access logs, WAF, tracing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Stage-wide steady rate (requests/s) and burst; every client together.
    rate_per_second: float = Field(default=100, gt=0)
    burst: int = Field(default=200, ge=1)
    # Tighter on the public pages /p/ (no key: the intake form creates clients and sends e-mail).
    public_rate_per_second: float = Field(default=20, gt=0)
    public_burst: int = Field(default=40, ge=1)
    # AWS WAF on the stage: AWS managed rules + rate rules per source IP (about $10/month + $0.60
    # per million requests); off by default.
    waf: bool = False
    waf_public_requests_per_5_minutes: int = Field(default=100, ge=10)
    waf_requests_per_5_minutes: int = Field(default=2000, ge=10)
    # The account's API Gateway CloudWatch role (needed once per account and region for access
    # logs); false when the account already has one that something else manages.
    create_api_gateway_logging_role: bool = True
    # AWS X-Ray tracing of the API and the functions: off (it costs about 300 ms of cold start).
    tracing: bool = False


class DeploymentConfig(BaseModel):
    """Gradual deployment of functions through a ``live`` alias (CodeDeploy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Functions deployed gradually with automatic rollback on their alarms.
    gradual: tuple[str, ...] = ("handle_send",)
    # CodeDeploy's Lambda configuration, e.g. Canary10Percent5Minutes, Linear10PercentEvery1Minute.
    preference: str = Field(default="Canary10Percent5Minutes", pattern=r"^[A-Za-z0-9]+$")


class SlackTarget(BaseModel):
    """An AWS Chatbot Slack channel for the alarms (the workspace authorised once in the console)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace_id: str = Field(pattern=r"^[A-Z0-9]{9,}$")
    channel_id: str = Field(pattern=r"^[A-Z0-9]{9,}$")


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # Pin the stack to one AWS account (12 digits); None deploys to the CLI's current account.
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    # Base of the links in e-mails (confirm/decline/unsubscribe pages): the API's custom domain,
    # or its execute-api stage URL after a first deploy (docs/DEPLOY.md).
    public_base_url: str
    # A stage real people's e-mail goes through: the deploy check refuses it while SES is in the sandbox.
    production: bool = True
    # Tables refuse DeleteTable and are kept (DeletionPolicy Retain) when the stack is deleted.
    deletion_protection: bool = True
    log_retention_days: int = 90
    # Lambda function name -> reserved concurrent executions. Optional: the SQS pollers are capped
    # by ``throughput`` without it, and a reservation fails on an account whose concurrency quota
    # leaves fewer than 100 unreserved (new accounts: often 10). ``make deploy-check`` checks it.
    reserved_concurrency: dict[str, int] = Field(default_factory=dict)
    throughput: ThroughputConfig = Field(default_factory=ThroughputConfig)
    # Who hears the alarms: at least one is required for a deploy (make deploy-check).
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # HTTPS endpoints subscribed to the alarm topic (PagerDuty, Opsgenie… CloudWatch integrations).
    alarm_https_endpoints: tuple[str, ...] = ()
    # A Slack channel through AWS Chatbot.
    alarm_slack: SlackTarget | None = None
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)
    # Domains the businesses send from (verified in SES by this stack, DKIM on); empty: any
    # identity of the account may be used (the sending role is then scoped to identity/*).
    sender_domains: tuple[str, ...] = ()
    # Custom MAIL FROM subdomain (SPF alignment for DMARC), e.g. bounce.<domain>; None: SES's own.
    mail_from_subdomain: str | None = "bounce"
    # Bump after changing a secret in SSM: every function is updated, so every container
    # restarts and reads the new values (docs/DEPLOY.md, rotating keys).
    secrets_version: int = Field(default=1, ge=1)
    alarms: AlarmConfig = Field(default_factory=AlarmConfig)

    @field_validator("public_base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        url = urlparse(value)
        if url.scheme != "https" or not url.hostname:
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {sorted(LOG_RETENTION_DAYS)}")
        return value

    @field_validator("reserved_concurrency")
    @classmethod
    def _concurrency(cls, value: dict[str, int]) -> dict[str, int]:
        for function, count in value.items():
            if count < 1:
                raise ValueError(f"{function}: reserved concurrency must be at least 1")
        return value

    @field_validator("alarm_https_endpoints")
    @classmethod
    def _https_endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in value:
            if urlparse(endpoint).scheme != "https":
                raise ValueError(f"{endpoint!r} must be an https:// URL")
        return value

    @property
    def alarm_subscribers(self) -> list[str]:
        """Who the alarm topic reaches, as the operator reads it."""
        found = [f"e-mail {self.alarm_email}"] if self.alarm_email else []
        found += [f"https {urlparse(endpoint).hostname}" for endpoint in self.alarm_https_endpoints]
        if self.alarm_slack:
            found.append(f"Slack channel {self.alarm_slack.channel_id}")
        return found

    @property
    def platform_send_rate(self) -> float:
        """The platform's SES rate (e-mails/s): the stage's ``PERMESSO_PLATFORM_SEND_RATE_PER_SECOND``
        in ``.chalice/config.json``, which the send workers pace at, else the app's default."""
        variables = chalice_stage_environment(self.name)
        if "PERMESSO_PLATFORM_SEND_RATE_PER_SECOND" in variables:
            return float(variables["PERMESSO_PLATFORM_SEND_RATE_PER_SECOND"])
        from chalicelib.config import Settings

        return float(Settings.model_fields["platform_send_rate_per_second"].default)

    def poller_concurrency(self, queue: str) -> int:
        return self.throughput.concurrency(queue, self.platform_send_rate)

    @property
    def secrets_path(self) -> str:
        """SSM path of the stage's secrets: ``/permesso/<stage>``."""
        return f"/permesso/{self.name}"

    def placeholders(self) -> list[str]:
        """Settings still holding an example value: a deploy must not go out with them."""
        found = []
        host = urlparse(self.public_base_url).hostname or ""
        if _PLACEHOLDER_HOST.search(host):
            found.append("public_base_url")
        if self.alarm_email and _PLACEHOLDER_HOST.search(self.alarm_email.rsplit("@", 1)[1]):
            found.append("alarm_email")
        found += [
            f"sender_domains ({domain})" for domain in self.sender_domains if _PLACEHOLDER_HOST.search(domain)
        ]
        found += [
            f"alarm_https_endpoints ({endpoint})"
            for endpoint in self.alarm_https_endpoints
            if _PLACEHOLDER_HOST.search(urlparse(endpoint).hostname or "")
        ]
        return found


def chalice_stage_environment(stage: str, path: Path = CHALICE_CONFIG_FILE) -> dict[str, str]:
    """The Lambda environment ``.chalice/config.json`` gives ``stage`` (app-wide, then the stage's)."""
    data = json.loads(path.read_text())
    variables = dict(data.get("environment_variables", {}))
    variables.update(data.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return {str(key): str(value) for key, value in variables.items()}


def load_stage(name: str, path: Path = CONFIG_FILE, **overrides: Any) -> StageConfig:
    """Stage ``name`` of the config file, validated; ``overrides`` replace single settings."""
    data = json.loads(path.read_text())
    stages = data.get("stages", {})
    if name not in stages:
        raise InfraError(f"stage {name!r} is not in {path.name}: known stages are {sorted(stages)}")
    try:
        return StageConfig.model_validate({**stages[name], **overrides, "name": name})
    except ValueError as exc:
        raise InfraError(f"{path.name}, stage {name!r}: {exc}") from exc


if __name__ == "__main__":  # `python -m infra.config STAGE`: the stage's region (for cfn-lint)
    import sys

    print(load_stage(sys.argv[1] if len(sys.argv) > 1 else "prod").region)
