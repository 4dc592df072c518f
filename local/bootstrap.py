"""Create every AWS resource of a stage in the local emulator (moto server). Idempotent.

What exists on AWS through ``infra/`` exists here too, from the same lists:
the tables of ``chalicelib.storage.models.ALL_MODELS``, the queues of
``chalicelib.resources.QUEUES`` (each with its dead-letter queue and redrive
policy), the topics of ``TOPICS`` with their SQS subscriptions (raw delivery
off: the consumer gets the SNS envelope, as on AWS), the SES configuration set
with its SNS event destination, and verified SES senders (moto refuses to send
from an unverified address, like the SES sandbox).

``python -m local.bootstrap`` runs it for the local stage against
``PERMESSO_AWS_ENDPOINT_URL``; ``local.run`` calls ``bootstrap()`` itself.
It refuses to run without an emulator endpoint, so it can never touch a real
AWS account.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # chalicelib binds table names at import: import it only once the env is set
    from chalicelib.config import Settings

# Shared with infra (resources.py binds no table name, so importing it here is safe).
from chalicelib.resources import DLQ_RETENTION_SECONDS, DLQ_SUFFIX, SES_EVENT_TYPES

DEMO_SENDER = "hello@demo-salon.example"


@dataclass
class BootstrapReport:
    tables: list[str] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # physical name -> URL
    topics: dict[str, str] = field(default_factory=dict)  # physical name -> ARN
    configuration_set: str = ""
    senders: list[str] = field(default_factory=list)


def _settings(settings: Settings | None) -> Settings:
    if settings is None:
        from chalicelib.config import get_settings

        settings = get_settings()
    if not settings.aws_endpoint_url:
        raise RuntimeError(
            "local bootstrap only targets an AWS emulator: PERMESSO_AWS_ENDPOINT_URL is not set"
        )
    return settings


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client for the emulator of ``settings``."""
    return boto3.client(service, region_name=settings.region, endpoint_url=settings.aws_endpoint_url)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- DynamoDB -------------------------------------------------------------------------------


def create_tables(settings: Settings) -> list[str]:
    from chalicelib.storage.models import ALL_MODELS

    names = []
    for model in ALL_MODELS:
        meta = model.Meta
        expected_prefix = settings.resource_name("")
        if meta.host != settings.aws_endpoint_url or not meta.table_name.startswith(expected_prefix):
            raise RuntimeError(
                f"{model.__name__} is bound to {meta.table_name} at {meta.host}, not to stage "
                f"{settings.stage} at {settings.aws_endpoint_url}: set the environment before "
                "importing chalicelib"
            )
        model.create_table(wait=True)  # PynamoDB skips a table that exists
        names.append(meta.table_name)
    return names


# --- SQS ------------------------------------------------------------------------------------


def ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    """Create queue ``name`` or bring an existing one to ``attributes``; its URL."""
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if "NonExistentQueue" not in _error_code(exc):
            raise
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_queues(settings: Settings, sqs: Any) -> dict[str, str]:
    from chalicelib.resources import QUEUES

    urls: dict[str, str] = {}
    for spec in QUEUES:
        dlq_name = settings.resource_name(spec.name + DLQ_SUFFIX)
        dlq_url = ensure_queue(sqs, dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
        redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": spec.max_receive_count}
        name = settings.resource_name(spec.name)
        urls[dlq_name] = dlq_url
        urls[name] = ensure_queue(
            sqs,
            name,
            {
                "VisibilityTimeout": str(spec.visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
    return urls


# --- SNS ------------------------------------------------------------------------------------


def _allow_topic_to_send(sqs: Any, queue_url: str, target_arn: str, topic_arn: str) -> None:
    """The queue policy AWS needs before SNS may deliver (moto does not check it; AWS does)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "sns-delivery",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": target_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def subscribe_queue(sns: Any, topic_arn: str, target_arn: str) -> str:
    """Subscribe queue ``target_arn`` to the topic once, with the SNS envelope kept."""
    paginator = sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            if subscription["Protocol"] == "sqs" and subscription["Endpoint"] == target_arn:
                arn = str(subscription["SubscriptionArn"])
                sns.set_subscription_attributes(
                    SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="false"
                )
                return arn
    response = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=target_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )
    return str(response["SubscriptionArn"])


def create_topics(settings: Settings, sns: Any, sqs: Any) -> dict[str, str]:
    from chalicelib.resources import TOPICS

    arns: dict[str, str] = {}
    for spec in TOPICS:
        name = settings.resource_name(spec.name)
        topic_arn = str(sns.create_topic(Name=name)["TopicArn"])  # idempotent by name
        arns[name] = topic_arn
        if spec.subscribed_queue:
            url = sqs.get_queue_url(QueueName=settings.resource_name(spec.subscribed_queue))["QueueUrl"]
            target_arn = queue_arn(sqs, url)
            _allow_topic_to_send(sqs, url, target_arn, topic_arn)
            subscribe_queue(sns, topic_arn, target_arn)
    return arns


# --- SES ------------------------------------------------------------------------------------


def create_configuration_set(settings: Settings, ses: Any, topic_arn: str | None) -> str:
    """The configuration set marketing e-mail is sent with; its events go to the SNS topic."""
    from chalicelib.resources import SES_CONFIGURATION_SET

    name = settings.resource_name(SES_CONFIGURATION_SET)
    try:
        ses.create_configuration_set(ConfigurationSet={"Name": name})
    except ClientError as exc:
        if "AlreadyExists" not in _error_code(exc):
            raise
    if topic_arn:
        try:
            ses.create_configuration_set_event_destination(
                ConfigurationSetName=name,
                EventDestination={
                    "Name": f"{name}-sns",
                    "Enabled": True,
                    "MatchingEventTypes": list(SES_EVENT_TYPES),
                    "SNSDestination": {"TopicARN": topic_arn},
                },
            )
        except ClientError as exc:
            if "AlreadyExists" not in _error_code(exc):
                raise
    return name


def verify_sender(email: str, settings: Settings | None = None) -> None:
    """Verify ``email`` as an SES sender in the emulator, through both SES APIs. Idempotent.

    moto keeps one identity store for SES v1 and v2; verifying through both
    keeps this true whichever API the sending code and the tests use.
    """
    settings = _settings(settings)
    aws_client("ses", settings).verify_email_identity(EmailAddress=email)
    try:
        aws_client("sesv2", settings).create_email_identity(EmailIdentity=email)
    except ClientError as exc:
        if "AlreadyExists" not in _error_code(exc):
            raise


# --- all of it ------------------------------------------------------------------------------


def bootstrap(settings: Settings | None = None, senders: Iterable[str] = (DEMO_SENDER,)) -> BootstrapReport:
    """Create (or bring up to date) every resource of the stage. Safe to run any number of times."""
    settings = _settings(settings)
    sqs, sns, ses = (aws_client(name, settings) for name in ("sqs", "sns", "ses"))
    report = BootstrapReport()
    report.tables = create_tables(settings)
    report.queues = create_queues(settings, sqs)
    report.topics = create_topics(settings, sns, sqs)
    events_topic = report.topics.get(settings.resource_name("ses-events"))
    report.configuration_set = create_configuration_set(settings, ses, events_topic)
    for email in senders:
        verify_sender(email, settings)
        report.senders.append(email)
    return report


def describe(report: BootstrapReport) -> str:
    lines = [f"  tables: {', '.join(report.tables)}"]
    lines.append(f"  queues: {', '.join(report.queues)}")
    lines.append(f"  topics: {', '.join(report.topics)}")
    lines.append(f"  SES configuration set: {report.configuration_set}; senders: {', '.join(report.senders)}")
    return "\n".join(lines)


def main() -> int:
    """``python -m local.bootstrap``: bootstrap the local stage at PERMESSO_AWS_ENDPOINT_URL."""
    import os

    from local.stage import stage_environment

    os.environ.update(stage_environment())
    # Any credentials do for the emulator; never let a developer's real ones be picked up.
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    report = bootstrap()
    print("Local AWS resources ready:\n" + describe(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
