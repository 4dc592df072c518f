"""The local stand-in for Lambda's event sources: SQS event source mappings and schedules.

On AWS, Lambda polls each queue an ``@app.on_sqs_message`` handler consumes,
calls the function with a batch, and deletes what succeeded; EventBridge calls
each ``@app.schedule`` function. Locally this process does both, for whatever
the Chalice app declares (``app.event_sources``), calling the very entry points
Lambda would call (the module attributes named by each ``handler_string``):

- one thread per queue long-polls it and builds the Lambda SQS event
  (``Records`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
  ``messageAttributes``, ``eventSourceARN``…);
- a handler that returns ``{"batchItemFailures": [{"itemIdentifier": id}]}``
  gets a partial batch response: only the listed messages stay on the queue;
  an exception, or an identifier that is not in the batch, fails the whole
  batch, as on AWS. Messages left on the queue come back after the queue's
  visibility timeout and go to its dead-letter queue after ``maxReceiveCount``
  receives — SQS's own semantics, since the queues are real (moto) queues;
- every schedule fires every ``--schedule-seconds`` (default 10, or
  ``PERMESSO_LOCAL_SCHEDULE_SECONDS``) with a scheduled-event payload, whatever
  its rate or cron expression says, so demos do not wait for the clock.

Invocations are serialised (one at a time, like a function with reserved
concurrency 1), so handlers never share module state across threads.
Exceptions are logged and never stop the worker; SIGINT/SIGTERM stop it.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType, ModuleType
from typing import Any

import boto3
from chalice.app import ScheduledEventConfig, SQSEventConfig

from local.process import exit_with_parent, quiet_library_logs
from local.stage import LOCAL_STAGE, FunctionSettings, function_settings, import_app_module

LOG = logging.getLogger("local.worker")  # not under "permesso": Chalice sets that logger to ERROR

ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs match the emulator's
SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most 10 messages
DEFAULT_SCHEDULE_SECONDS = 10.0
SCHEDULE_SECONDS_ENV = "PERMESSO_LOCAL_SCHEDULE_SECONDS"
DEFAULT_WAIT_SECONDS = 2  # long-poll wait: short enough for a prompt shutdown
RETRY_SECONDS = 3.0  # pause after a failed poll (emulator down, queue missing)
# At stop, how long an invocation in progress may take to finish. Pollers waiting on an empty
# queue are not waited for (daemon threads); a batch received but not yet handled stays on its
# queue and comes back after the visibility timeout, as after a Lambda timeout.
STOP_JOIN_SECONDS = 1.5

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """What Lambda's Python runtime passes as ``context``."""

    def __init__(
        self,
        function_name: str,
        region: str,
        settings: FunctionSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = settings or FunctionSettings()
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        # The runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE: a string there as well.
        self.memory_limit_in_mb = str(settings.memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + settings.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


# --- events ---------------------------------------------------------------------------------


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API attribute (``StringValue``, bytes ``BinaryValue``) -> Lambda's (camelCase, base64)."""
    attribute: dict[str, Any] = {
        "dataType": value["DataType"],
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records`` entry, as Lambda builds it from a received SQS message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: str(value) for name, value in message.get("Attributes", {}).items()},
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def build_sqs_event(messages: Sequence[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(message, queue_arn, region) for message in messages]}


def scheduled_event(function_name: str, region: str, now: datetime | None = None) -> dict[str, Any]:
    """The payload EventBridge sends a scheduled rule's target."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{function_name}"],
        "detail": {},
    }


def failed_message_ids(response: Any, message_ids: Sequence[str]) -> set[str]:
    """Which messages of a batch Lambda leaves on the queue, given what the handler returned.

    Complete success: no response, no ``batchItemFailures`` or an empty one.
    Complete failure: an entry whose ``itemIdentifier`` is missing, empty or not
    a message of the batch (AWS's rules for ``ReportBatchItemFailures``).
    """
    if not isinstance(response, dict):
        if response is not None:
            LOG.warning(
                "handler returned %s, not a batch response: batch treated as a success",
                type(response).__name__,
            )
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    batch = set(message_ids)
    if not isinstance(failures, list):
        LOG.error("batchItemFailures is not a list: the whole batch fails")
        return batch
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch:
            LOG.error(
                "batchItemFailures names %r, not a message of the batch: the whole batch fails", identifier
            )
            return batch
        failed.add(identifier)
    return failed


# --- discovery ------------------------------------------------------------------------------


@dataclass
class QueueConsumer:
    """An ``@app.on_sqs_message`` function and the queue it consumes."""

    name: str  # Chalice's name (config.json's lambda_functions key)
    function_name: str  # the Lambda function's name
    queue_name: str
    batch_size: int
    handler: Handler
    url: str | None = None
    arn: str | None = None
    missing_reported: bool = field(default=False, repr=False)


@dataclass
class Schedule:
    """An ``@app.schedule`` function."""

    name: str
    function_name: str
    expression: str
    handler: Handler


@dataclass(frozen=True)
class BatchOutcome:
    received: int = 0
    deleted: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def resolve_handler(app_module: ModuleType | Any, handler_string: str) -> Handler:
    """The Lambda entry point ``app.<name>``: the module attribute Lambda would call."""
    name = handler_string.rsplit(".", 1)[-1]
    handler = getattr(app_module, name, None)
    if not callable(handler):
        raise LookupError(f"the app module has no callable {name!r} (handler {handler_string})")
    return handler  # type: ignore[no-any-return]


def lambda_function_name(app_name: str, stage: str, name: str) -> str:
    """Chalice's name for the Lambda function of a handler: ``<app>-<stage>-<name>``."""
    return f"{app_name}-{stage}-{name}"


def discover(app_module: ModuleType | Any, stage: str) -> tuple[list[QueueConsumer], list[Schedule]]:
    app = app_module.app
    consumers: list[QueueConsumer] = []
    schedules: list[Schedule] = []
    for source in app.event_sources:
        function_name = lambda_function_name(app.app_name, stage, source.name)
        if isinstance(source, SQSEventConfig):
            queue = source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]
            consumers.append(
                QueueConsumer(
                    name=source.name,
                    function_name=function_name,
                    queue_name=queue,
                    batch_size=max(1, min(int(source.batch_size), SQS_RECEIVE_MAX)),
                    handler=resolve_handler(app_module, source.handler_string),
                )
            )
        elif isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            schedules.append(
                Schedule(
                    name=source.name,
                    function_name=function_name,
                    expression=expression if isinstance(expression, str) else expression.to_string(),
                    handler=resolve_handler(app_module, source.handler_string),
                )
            )
        else:
            LOG.warning(
                "event source %s (%s) is not played by the local worker", source.name, type(source).__name__
            )
    return consumers, schedules


# --- the worker -----------------------------------------------------------------------------


class Worker:
    def __init__(
        self,
        app_module: ModuleType | Any,
        sqs: Any,
        *,
        region: str,
        stage: str = LOCAL_STAGE,
        schedule_seconds: float = DEFAULT_SCHEDULE_SECONDS,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        function_settings: Callable[[str], FunctionSettings] | None = None,
    ) -> None:
        if schedule_seconds <= 0:
            raise ValueError("schedule_seconds must be positive")
        self.consumers, self.schedules = discover(app_module, stage)
        self._sqs = sqs
        self._region = region
        self._schedule_seconds = schedule_seconds
        self._wait_seconds = wait_seconds
        self._function_settings = function_settings or (lambda _name: FunctionSettings())
        self._stop = threading.Event()
        self._invoke_lock = threading.Lock()

    # one invocation ---------------------------------------------------------------------------

    def invoke(self, function: QueueConsumer | Schedule, event: dict[str, Any]) -> tuple[bool, Any]:
        """Call a handler as Lambda would; (succeeded, returned value). Never raises."""
        context = LambdaContext(function.function_name, self._region, self._function_settings(function.name))
        with self._invoke_lock:
            try:
                return True, function.handler(event, context)
            except Exception:  # a failed invocation is reported, never fatal
                LOG.exception("%s failed (request %s)", function.function_name, context.aws_request_id)
                return False, None

    # SQS ------------------------------------------------------------------------------------

    def resolve_queue(self, consumer: QueueConsumer) -> None:
        url = self._sqs.get_queue_url(QueueName=consumer.queue_name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        consumer.url, consumer.arn = url, attributes["Attributes"]["QueueArn"]

    def poll_once(self, consumer: QueueConsumer, wait_seconds: int | None = None) -> BatchOutcome:
        """Receive one batch, invoke the handler, delete what succeeded."""
        if consumer.url is None or consumer.arn is None:
            self.resolve_queue(consumer)
        assert consumer.url is not None and consumer.arn is not None
        response = self._sqs.receive_message(
            QueueUrl=consumer.url,
            MaxNumberOfMessages=consumer.batch_size,
            WaitTimeSeconds=self._wait_seconds if wait_seconds is None else wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return BatchOutcome()
        ids = [message["MessageId"] for message in messages]
        event = build_sqs_event(messages, consumer.arn, self._region)
        succeeded, result = self.invoke(consumer, event)
        failed = failed_message_ids(result, ids) if succeeded else set(ids)
        deleted = self._delete(
            consumer, [message for message in messages if message["MessageId"] not in failed]
        )
        outcome = BatchOutcome(
            received=len(messages),
            deleted=tuple(deleted),
            failed=tuple(message_id for message_id in ids if message_id in failed),
        )
        LOG.info(
            "%s: %d message(s) from %s, %d done, %d left for retry",
            consumer.function_name,
            outcome.received,
            consumer.queue_name,
            len(outcome.deleted),
            len(outcome.failed),
        )
        return outcome

    def _delete(self, consumer: QueueConsumer, messages: Sequence[dict[str, Any]]) -> list[str]:
        deleted: list[str] = []
        for start in range(0, len(messages), SQS_RECEIVE_MAX):
            chunk = messages[start : start + SQS_RECEIVE_MAX]
            response = self._sqs.delete_message_batch(
                QueueUrl=consumer.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                LOG.warning(
                    "could not delete message %s from %s: %s",
                    chunk[int(failure["Id"])]["MessageId"],
                    consumer.queue_name,
                    failure.get("Message", failure.get("Code")),
                )
            deleted.extend(chunk[int(entry["Id"])]["MessageId"] for entry in response.get("Successful", []))
        return deleted

    # schedules ------------------------------------------------------------------------------

    def fire(self, schedule: Schedule) -> bool:
        event = scheduled_event(schedule.function_name, self._region)
        succeeded, _ = self.invoke(schedule, event)
        return succeeded

    # the loops ------------------------------------------------------------------------------

    def _consume(self, consumer: QueueConsumer) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(consumer)
                consumer.missing_reported = False
            except Exception as exc:  # noqa: BLE001 - the worker outlives any failed poll
                if not consumer.missing_reported:
                    LOG.error(
                        "polling %s failed (%s); retrying every %.0f s",
                        consumer.queue_name,
                        exc,
                        RETRY_SECONDS,
                    )
                    consumer.missing_reported = True
                consumer.url = consumer.arn = None
                self._stop.wait(RETRY_SECONDS)

    def _fire_schedules(self) -> None:
        next_at = time.monotonic() + self._schedule_seconds
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            for schedule in self.schedules:
                if self._stop.is_set():
                    return
                self.fire(schedule)
            next_at = max(next_at + self._schedule_seconds, time.monotonic())

    def run(self) -> None:
        """Poll and fire until ``stop()``; then return as soon as no invocation is in progress
        (an invocation gets ``STOP_JOIN_SECONDS`` to finish; idle pollers are not waited for)."""
        threads = [
            threading.Thread(
                target=self._consume, args=(consumer,), name=f"sqs-{consumer.queue_name}", daemon=True
            )
            for consumer in self.consumers
        ]
        if self.schedules:
            threads.append(threading.Thread(target=self._fire_schedules, name="schedules", daemon=True))
        for thread in threads:
            thread.start()
        self._stop.wait()
        if self._invoke_lock.acquire(timeout=STOP_JOIN_SECONDS):
            self._invoke_lock.release()
        for thread in threads:
            thread.join(timeout=0.05)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


# --- command line ---------------------------------------------------------------------------


def _default_schedule_seconds() -> float:
    text = os.environ.get(SCHEDULE_SECONDS_ENV)
    return float(text) if text else DEFAULT_SCHEDULE_SECONDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schedule-seconds",
        type=float,
        default=_default_schedule_seconds(),
        help=f"fire every schedule this often (default 10, or ${SCHEDULE_SECONDS_ENV})",
    )
    parser.add_argument(
        "--wait-seconds", type=int, default=DEFAULT_WAIT_SECONDS, help="SQS long-poll wait (0-20)"
    )
    parser.add_argument("--stage", default=LOCAL_STAGE)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s worker %(levelname)s %(message)s"
    )

    quiet_library_logs()
    app_module = import_app_module(args.stage)
    from chalicelib.config import get_settings

    settings = get_settings()
    if not settings.aws_endpoint_url:
        LOG.error("the local worker only talks to an AWS emulator: PERMESSO_AWS_ENDPOINT_URL is not set")
        return 2
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)

    worker = Worker(
        app_module,
        sqs,
        region=settings.region,
        stage=args.stage,
        schedule_seconds=args.schedule_seconds,
        wait_seconds=args.wait_seconds,
        function_settings=lambda name: function_settings(name, args.stage),
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        LOG.info("received %s, stopping", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_with_parent(worker.stop)
    LOG.info(
        "consuming %s; firing %s every %g s",
        ", ".join(c.queue_name for c in worker.consumers) or "no queue",
        ", ".join(s.function_name for s in worker.schedules) or "no schedule",
        args.schedule_seconds,
    )
    worker.run()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
