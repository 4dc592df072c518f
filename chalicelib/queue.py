"""The SQS adapter: the only code that sends queue messages.

boto3 is imported and its client created on first use, so request paths
that never enqueue (most of them) pay nothing at cold start.  Queue names
are logical (``chalicelib.resources.QUEUES``) and resolved to URLs once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.config import Settings


@dataclass(frozen=True)
class Received:
    """A message a worker took from a queue itself (not one Lambda's event brought)."""

    message_id: str
    body: str
    receipt_handle: str  # what deletes it once handled; until then it comes back after its visibility timeout


class MessageQueue(Protocol):
    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None: ...

    def send_many(self, queue: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None: ...

    def receive(self, queue: str, max_messages: int) -> list[Received]: ...

    def delete(self, queue: str, receipt_handles: list[str]) -> None: ...


class SqsQueue:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None
        self._urls: dict[str, str] = {}

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # lazy: heavy import, only needed by code that enqueues

            from chalicelib.aws import client_config

            self._client = boto3.client(
                "sqs",
                region_name=self._settings.region,
                endpoint_url=self._settings.aws_endpoint_url,
                config=client_config("sqs"),
            )
        return self._client

    def url(self, queue: str) -> str:
        if queue not in self._urls:
            name = self._settings.resource_name(queue)
            self._urls[queue] = self._sqs().get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[queue]

    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self._sqs().send_message(
            QueueUrl=self.url(queue),
            MessageBody=json.dumps(body, separators=(",", ":")),
            DelaySeconds=delay_seconds,
        )

    def receive(self, queue: str, max_messages: int) -> list[Received]:
        """One ``ReceiveMessage`` without waiting (up to 10 messages): for a worker that takes
        more messages itself while it has time (``services.sending.Feed``)."""
        messages = (
            self._sqs()
            .receive_message(QueueUrl=self.url(queue), MaxNumberOfMessages=max(1, min(10, max_messages)))
            .get("Messages", [])
        )
        return [Received(m["MessageId"], m["Body"], m["ReceiptHandle"]) for m in messages]

    def delete(self, queue: str, receipt_handles: list[str]) -> None:
        """``DeleteMessageBatch`` of messages this worker received and handled (10 a request); one
        SQS could not delete comes back after its visibility timeout, which every consumer
        tolerates (they are idempotent)."""
        url = self.url(queue)
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            self._sqs().delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            )

    def send_many(self, queue: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        """``SendMessageBatch``, 10 messages per request; entries SQS did not take are resent."""
        url = self.url(queue)
        for start in range(0, len(bodies), 10):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(body, separators=(",", ":")),
                    "DelaySeconds": delay_seconds,
                }
                for i, body in enumerate(bodies[start : start + 10])
            ]
            for _ in range(5):
                failed = self._sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
                if not failed:
                    break
                retry = {f["Id"] for f in failed if not f.get("SenderFault")}
                if len(retry) < len(failed):
                    raise RuntimeError(f"SQS refused {len(failed) - len(retry)} message(s) as malformed")
                entries = [e for e in entries if e["Id"] in retry]
            else:
                raise RuntimeError("SQS kept refusing a batch of messages")
