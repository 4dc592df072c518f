"""Queues and topics the code uses: the one list shared by the app, the local stack and infra.

Tables come from ``chalicelib.storage.models.ALL_MODELS``; queues and topics
from here.  Logical names become physical ones through
``Settings.resource_name`` (``permesso-<stage>-<name>``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSpec:
    name: str
    purpose: str
    # Longer than the consuming Lambda's timeout, so a message is not redelivered mid-run.
    visibility_timeout_seconds: int = 180
    # Receives before a message goes to the dead-letter queue ``<name>-dlq``.
    max_receive_count: int = 5


@dataclass(frozen=True)
class TopicSpec:
    name: str
    purpose: str
    subscribed_queue: str | None = None


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("jobs", "background jobs: bulk tagging, list snapshots, segmentation"),
    QueueSpec("send", "fan-out batches of campaign deliveries for the sending workers"),
    QueueSpec("ses-events", "SES bounce/complaint/delivery notifications from the SNS topic"),
)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("ses-events", "SES configuration-set event destination", subscribed_queue="ses-events"),
)

# The SES configuration set every marketing e-mail is sent with.
SES_CONFIGURATION_SET = "events"

# A queue's dead-letter queue is ``<name>-dlq``, kept 14 days (the SQS maximum).
DLQ_SUFFIX = "-dlq"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

# The SES events the configuration set sends to the ``ses-events`` topic (CloudFormation's
# and the SES API's spelling). ``send`` (SES accepted the e-mail) is the one per-e-mail event:
# it reconciles a delivery a worker left ``sending`` (docs/ARCHITECTURE.md, "Exactly once").
# ``delivery`` is not published: it would be a second per-e-mail event (SNS, SQS, Lambda and
# a read each) that nothing needs, since every accepted e-mail already has its ``send``.
SES_EVENTS_TOPIC = "ses-events"
SES_EVENT_TYPES = ("send", "reject", "bounce", "complaint", "renderingFailure")
