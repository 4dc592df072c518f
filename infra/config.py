"""Deployment settings of each stage, from ``infra/config.json``.

Only what the infrastructure needs lives here (region, retention, alarm
thresholds, the sending worker's concurrency…).  The Lambda settings the app
reads (memory, timeout, ``PERMESSO_*`` limits) stay in ``.chalice/config.json``
and secrets live in SSM Parameter Store, never in a file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

CONFIG_FILE = Path(__file__).resolve().parent / "config.json"

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# Hosts that mark a value the operator has not filled in yet (RFC 2606 names).
_PLACEHOLDER_HOST = re.compile(r"(^|\.)(example\.(com|org|net)|example|test|invalid|localhost)$")


class InfraError(Exception):
    """The infrastructure cannot be synthesised as configured; the message says why and what to do."""


class AlarmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Share of API requests answered 5xx over one period that raises the alarm.
    api_5xx_rate: float = Field(default=0.05, gt=0, le=1)
    # Below this many requests in a period the 5xx rate is not judged (one error in two requests is noise).
    api_min_requests: int = Field(default=20, ge=1)
    # ``SendErrors`` (namespace Permesso) in one period that raises the alarm.
    send_errors: int = Field(default=10, ge=1)
    period_minutes: int = Field(default=5, ge=1, le=60)


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # Pin the stack to one AWS account (12 digits); None deploys to the CLI's current account.
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    # Base of the links in e-mails (confirm/decline/unsubscribe pages): the API's custom domain,
    # or its execute-api stage URL after a first deploy (docs/DEPLOY.md).
    public_base_url: str
    # Tables refuse DeleteTable and are kept (DeletionPolicy Retain) when the stack is deleted.
    deletion_protection: bool = True
    log_retention_days: int = 90
    # Lambda function name -> reserved concurrent executions (also the SQS poller's maximum).
    reserved_concurrency: dict[str, int] = Field(default_factory=dict)
    alarm_email: str | None = None
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

    @property
    def secrets_path(self) -> str:
        """SSM path of the stage's secrets: ``/permesso/<stage>``."""
        return f"/permesso/{self.name}"

    def placeholders(self) -> list[str]:
        """Settings still holding an example value: a deploy must not go out with them."""
        host = urlparse(self.public_base_url).hostname or ""
        return ["public_base_url"] if _PLACEHOLDER_HOST.search(host) else []


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
