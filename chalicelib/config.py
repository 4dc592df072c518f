"""Typed settings, read once per cold start.

Nothing else in the code base reads ``os.environ`` (but ``chalicelib.stage``,
which reads the stage alone for ``import app``): every module asks
``get_settings()`` and gets the same frozen object.  In the cloud, the
secrets are SSM Parameter Store SecureStrings under
``PERMESSO_SECRETS_PARAMETER_PATH`` (set by ``infra/``), fetched once per cold
start by ``chalicelib.secrets``; locally and in tests that variable is absent
and the secrets are plain environment variables (``make run`` generates them
into ``.local/``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from chalicelib.stage import DEFAULT_STAGE, STAGE_PATTERN
from chalicelib.stage import resource_name as _resource_name

LOCAL_OPERATOR_KEY = "local-operator-key"  # API.md: default of the local stack only
# The settings that are secrets: in the cloud each is the SSM parameter ``<path>/<field>``.
SECRET_FIELDS = ("operator_key", "token_keys", "email_hash_key")


class Settings(BaseModel):
    """Field ``x`` comes from ``PERMESSO_X`` (plain pydantic: pydantic-settings
    would add ~40 ms of imports to every cold start)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str = Field(default=DEFAULT_STAGE, pattern=STAGE_PATTERN)
    region: str = "eu-central-1"
    # Only the local stack sets this (moto server); in AWS the SDK's own endpoints are used.
    aws_endpoint_url: str | None = None

    operator_key: SecretStr | None = None
    # "kid:secret[,kid:secret…]" — the first key signs, every listed key verifies (rotation).
    token_keys: SecretStr | None = None
    # Key of the HMAC that turns an erased client's e-mail into a suppression entry.
    email_hash_key: SecretStr | None = None
    # Cloud only: SSM path holding the secrets above (``/permesso/<stage>``), see ``with_secrets``.
    secrets_parameter_path: str | None = None

    # Base URL of the public pages (links in e-mails): API Gateway stage URL or custom domain.
    public_base_url: str = "http://127.0.0.1:8000"

    max_json_body_bytes: int = Field(default=256 * 1024, gt=0)
    max_csv_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)

    # Sending limits (the sending engine reads these); local defaults are generous (API.md).
    platform_send_rate_per_second: float = Field(default=14.0, gt=0)
    # How long a one-shot campaign's deliveries are kept (DynamoDB TTL from the fan-out):
    # past it the report comes from the campaign's counters (docs/data-model.md, Retention).
    delivery_retention_days: int = Field(default=400, ge=30, le=3650)
    # A new account's warm-up: its daily cap starts here and grows with each clean day of
    # sending, reaching the account's daily limit after ``warmup_days`` clean days
    # (domain/limits.py); ``warmup_days`` is also the history the volume-spike check needs.
    warmup_daily_cap: int = Field(default=1000, ge=1)
    warmup_days: int = Field(default=14, ge=0)
    # The limits a new account gets (the operator changes them per account with
    # PUT /v1/accounts/{id}/limits; the business may only lower its settings below them).
    new_account_send_rate_per_second: float = Field(default=5.0, gt=0, le=1000)
    new_account_hourly_send_cap: int = Field(default=2_000, ge=1, le=10_000_000)
    new_account_daily_send_cap: int = Field(default=10_000, ge=1, le=10_000_000)
    # Sender domains get a custom MAIL FROM domain ``<subdomain>.<domain>``, so SPF passes
    # aligned with the From domain (DMARC), not only DKIM.
    ses_mail_from_subdomain: str = Field(default="bounce", pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
    # The platform bucket runs a little under the SES rate, so no 1-second window exceeds it.
    platform_rate_safety: float = Field(default=0.96, gt=0, le=1)
    # Recipients per send message (one SQS message, one throttle reservation).
    send_batch_size: int = Field(default=100, ge=1, le=100)
    # A worker waits at most this long for its first send slot; else the message is delayed.
    send_max_wait_seconds: float = Field(default=10.0, gt=0)
    # A slot a worker is later than this for is skipped, so sends never bunch into other
    # workers' slots (capped by what the safety factor allows: see sending.late_tolerance).
    send_late_tolerance_seconds: float = Field(default=0.05, gt=0)
    # A delivery left in ``sending`` (worker died around the SES call) this long is settled.
    send_unconfirmed_after_seconds: int = Field(default=900, ge=1)
    send_max_transient_attempts: int = Field(default=6, ge=1)
    # Platform slots are booked just in time, one group at a time: about this much of the
    # account's pace per group, at least ``send_group_min`` and at most ``send_group_max``
    # e-mails (services/pacing.py, domain/pacing.group_size).
    send_group_seconds: float = Field(default=1.0, gt=0, le=10)
    send_group_min: int = Field(default=3, ge=1, le=25)
    send_group_max: int = Field(default=25, ge=1, le=100)
    # A transactional e-mail (double opt-in, invitation, test send) waits at most this long
    # for its slot in the platform's rate before it is refused as "platform busy".
    transactional_max_wait_seconds: float = Field(default=10.0, gt=0)
    # Recipients a request counts (preview, the consent gate of send, the console's counts);
    # a larger audience is counted by an ``audience_count`` job (services/audience_counts.py).
    preview_max_clients: int = Field(default=1_000, ge=1)
    # Anti-spam thresholds (PRODUCT.md §4), set by the operator through the environment.
    suspend_bounce_rate: float = Field(default=0.05, gt=0, le=1)
    suspend_complaint_rate: float = Field(default=0.001, gt=0, le=1)
    suspend_min_sent: int = Field(default=200, ge=1)
    suspend_spike_factor: float = Field(default=10.0, gt=1)
    breaker_sample: int = Field(default=200, ge=1)
    breaker_bounce_rate: float = Field(default=0.10, gt=0, le=1)

    # Targeting: selections up to this many clients are handled in the request, larger ones
    # by a background job that works in chunks of at most job_chunk_items / job_chunk_seconds.
    bulk_sync_limit: int = Field(default=1000, ge=1)
    job_chunk_items: int = Field(default=1000, ge=1)
    # ``resume`` and ``cancel`` re-enqueue a campaign's waiting deliveries in the request when
    # its deliveries fit in one read of this many (services/requeue.py); beyond, a job does it.
    requeue_sync_limit: int = Field(default=1000, ge=1)
    job_chunk_seconds: float = Field(default=10.0, gt=0)
    # The functions' configured timeout (.chalice/config.json's lambda_timeout): the time budget
    # of a scheduled function or job chunk invoked without a Lambda context.
    lambda_timeout_seconds: float = Field(default=30.0, gt=0)
    max_import_rows: int = Field(default=10_000, ge=1)
    # A CSV import with at most this many rows to apply runs in the request (200 with its
    # report); a larger one is parsed and validated in the request, then applied by a job (202).
    # 500 rows stay within the request item budget (docs/ARCHITECTURE.md): about 3 items read
    # and 5 written a row.
    import_inline_rows: int = Field(default=500, ge=0)
    # Client transactions written in parallel by bulk tagging and import. 1 by default because
    # the embedded emulator (moto) is not safe under concurrent transactions; AWS stages raise it.
    write_concurrency: int = Field(default=1, ge=1, le=32)

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _local_defaults(self) -> Settings:
        if self.operator_key is None and self.stage == "local":
            object.__setattr__(self, "operator_key", SecretStr(LOCAL_OPERATOR_KEY))
        return self

    def resource_name(self, name: str) -> str:
        """Physical name of a table, queue or topic: ``permesso-<stage>-<name>``."""
        return _resource_name(self.stage, name)

    def require(self, field: str) -> str:
        """The value of a secret that a code path cannot work without."""
        value = getattr(self, field)
        if value is None:
            raise RuntimeError(f"setting PERMESSO_{field.upper()} is not configured")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, str] = {}
        for name in cls.model_fields:
            value = environ.get(f"PERMESSO_{name.upper()}")
            if value is not None and value != "":
                values[name] = value
        if "region" not in values:
            region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        return cls.model_validate(values)


def with_secrets(environ: Mapping[str, str]) -> Mapping[str, str]:
    """``environ`` plus the secrets from SSM when ``PERMESSO_SECRETS_PARAMETER_PATH`` is set.

    ``PERMESSO_SECRETS`` names the secrets this function may read (comma
    separated, default all of ``SECRET_FIELDS``; empty: none): each Lambda's
    role can read only its own parameters.  A value from SSM wins over an
    environment variable of the same name.  Without the path (local stack,
    tests) ``environ`` is returned as is and boto is never imported.
    """
    path = environ.get("PERMESSO_SECRETS_PARAMETER_PATH")
    if not path:
        return environ
    from chalicelib.secrets import load_secrets  # lazily: only cloud cold starts pay for it

    listed = environ.get("PERMESSO_SECRETS")
    names = SECRET_FIELDS if listed is None else tuple(n.strip() for n in listed.split(",") if n.strip())
    region = (
        environ.get("PERMESSO_REGION")
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or Settings.model_fields["region"].default
    )
    values = load_secrets(
        path, names, region=region, endpoint_url=environ.get("PERMESSO_AWS_ENDPOINT_URL") or None
    )
    return {**environ, **{f"PERMESSO_{name.upper()}": value for name, value in values.items()}}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ(with_secrets(os.environ))
