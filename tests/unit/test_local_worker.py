"""The local worker plays Lambda's SQS event source mapping and schedules against real SQS semantics.

The queues are moto's (in-process ``mock_aws``): receive counts, visibility
and redrive to the dead-letter queue are SQS's own behaviour, not stubs. The
app is a tiny real Chalice app, so the handlers are Chalice's own Lambda
entry points, called exactly as the worker calls the project's.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from chalice import Chalice
from moto import mock_aws

from local.worker import (
    SQS_RECEIVE_MAX,
    BatchOutcome,
    Worker,
    failed_message_ids,
    scheduled_event,
)

REGION = "eu-central-1"
QUEUE = "permesso-test-work"
Behaviour = Callable[[Any], Any]


class FakeApp:
    """A Chalice app with one SQS consumer and one schedule, recording what they were given."""

    def __init__(self, queue: str = QUEUE, batch_size: int = 10, behaviour: Behaviour | None = None) -> None:
        self.behaviour: Behaviour = behaviour or (lambda event: None)
        self.batches: list[tuple[dict[str, Any], Any]] = []
        self.ticks: list[tuple[dict[str, Any], Any]] = []
        self.tick_fails = False
        app = Chalice(app_name="fake")

        @app.on_sqs_message(queue=queue, batch_size=batch_size)
        def handle_work(event: Any) -> Any:
            self.batches.append((event.to_dict(), event.context))
            return self.behaviour(event)

        @app.schedule("rate(1 hour)")
        def tick(event: Any) -> None:
            self.ticks.append((event.to_dict(), event.context))
            if self.tick_fails:
                raise RuntimeError("scheduled job failed")

        # What the worker sees: a module whose ``app`` is the Chalice app and whose
        # attributes are the Lambda entry points named by the handler strings.
        self.module = SimpleNamespace(app=app, handle_work=handle_work, tick=tick)


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def make_queue(sqs: Any, name: str = QUEUE, max_receive_count: int | None = None) -> tuple[str, str]:
    """A queue whose failed messages are visible again at once (visibility timeout 0)."""
    attributes = {"VisibilityTimeout": "0"}
    dlq_url = ""
    if max_receive_count is not None:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        )
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], dlq_url


def send(sqs: Any, url: str, *bodies: str) -> list[str]:
    return [sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"] for body in bodies]


def depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def make_worker(fake: FakeApp, sqs: Any, **kw: Any) -> Worker:
    return Worker(fake.module, sqs, region=REGION, stage="test", **kw)


def fail_bodies(*bad: str) -> Behaviour:
    def behaviour(event: Any) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": record.to_dict()["messageId"]} for record in event if record.body in bad
            ]
        }

    return behaviour


# --- discovery ------------------------------------------------------------------------------


def test_discovers_consumers_and_schedules_from_the_app() -> None:
    fake = FakeApp(batch_size=50)
    worker = Worker(fake.module, sqs=None, region=REGION, stage="local")

    [consumer] = worker.consumers
    assert consumer.queue_name == QUEUE
    assert consumer.name == "handle_work"
    assert consumer.function_name == "fake-local-handle_work"
    assert consumer.batch_size == SQS_RECEIVE_MAX  # one ReceiveMessage returns at most 10
    assert consumer.handler is fake.module.handle_work
    [schedule] = worker.schedules
    assert (schedule.function_name, schedule.expression) == ("fake-local-tick", "rate(1 hour)")


def test_a_queue_given_by_arn_is_consumed_by_name() -> None:
    app = Chalice(app_name="fake")

    @app.on_sqs_message(queue_arn=f"arn:aws:sqs:{REGION}:123456789012:other-queue")
    def consume(event: Any) -> None:
        return None

    worker = Worker(SimpleNamespace(app=app, consume=consume), sqs=None, region=REGION)
    assert [c.queue_name for c in worker.consumers] == ["other-queue"]


def test_a_handler_missing_from_the_module_is_reported() -> None:
    fake = FakeApp()
    del fake.module.tick
    with pytest.raises(LookupError, match="tick"):
        Worker(fake.module, sqs=None, region=REGION)


# --- the event ------------------------------------------------------------------------------


def test_the_handler_gets_a_lambda_shaped_sqs_event_and_context(sqs: Any) -> None:
    url, _ = make_queue(sqs)
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    message_id = sqs.send_message(
        QueueUrl=url,
        MessageBody='{"job": "snapshot"}',
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "snapshot"},
            "attempt": {"DataType": "Number", "StringValue": "1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]
    fake = FakeApp()

    outcome = make_worker(fake, sqs).poll_once(fake_consumer(fake, sqs), wait_seconds=0)

    assert outcome == BatchOutcome(received=1, deleted=(message_id,), failed=())
    [(event, context)] = fake.batches
    [record] = event["Records"]
    assert record["messageId"] == message_id
    assert record["receiptHandle"]
    assert record["body"] == '{"job": "snapshot"}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == REGION
    assert record["md5OfBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert record["messageAttributes"]["kind"] == {
        "dataType": "String",
        "stringValue": "snapshot",
        "stringListValues": [],
        "binaryListValues": [],
    }
    assert record["messageAttributes"]["attempt"]["dataType"] == "Number"
    assert base64.b64decode(record["messageAttributes"]["blob"]["binaryValue"]) == b"\x00\x01"

    assert context.function_name == "fake-test-handle_work"
    assert context.invoked_function_arn.endswith(":function:fake-test-handle_work")
    assert context.invoked_function_arn.startswith(f"arn:aws:lambda:{REGION}:")
    assert context.aws_request_id
    assert context.memory_limit_in_mb == "128"
    assert 0 < context.get_remaining_time_in_millis() <= 60_000


def fake_consumer(fake: FakeApp, sqs: Any) -> Any:
    return make_worker(fake, sqs).consumers[0]


# --- settling a batch -----------------------------------------------------------------------


def test_a_successful_batch_is_deleted(sqs: Any) -> None:
    url, _ = make_queue(sqs)
    ids = send(sqs, url, "a", "b", "c")
    fake = FakeApp()
    worker = make_worker(fake, sqs)

    outcome = worker.poll_once(worker.consumers[0], wait_seconds=0)

    assert sorted(outcome.deleted) == sorted(ids) and outcome.failed == ()
    assert depth(sqs, url) == 0


def test_a_partial_batch_response_leaves_only_the_listed_messages(sqs: Any) -> None:
    url, _ = make_queue(sqs)
    ok_a, bad, ok_b = send(sqs, url, "a", "bad", "b")
    fake = FakeApp(behaviour=fail_bodies("bad"))
    worker = make_worker(fake, sqs)
    consumer = worker.consumers[0]

    outcome = worker.poll_once(consumer, wait_seconds=0)

    assert outcome.failed == (bad,)
    assert sorted(outcome.deleted) == sorted([ok_a, ok_b])
    assert depth(sqs, url) == 1
    # SQS redelivers the failed one (visibility timeout 0 here), and counts the receive.
    again = worker.poll_once(consumer, wait_seconds=0)
    assert again.received == 1 and again.failed == (bad,)
    assert fake.batches[-1][0]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_an_exception_fails_the_whole_batch_until_the_dead_letter_queue(sqs: Any) -> None:
    url, dlq_url = make_queue(sqs, max_receive_count=2)
    ids = send(sqs, url, "a", "b")

    def explode(event: Any) -> None:
        raise ValueError("handler bug")

    fake = FakeApp(behaviour=explode)
    worker = make_worker(fake, sqs)
    consumer = worker.consumers[0]

    first = worker.poll_once(consumer, wait_seconds=0)
    assert sorted(first.failed) == sorted(ids) and first.deleted == ()
    assert depth(sqs, url) == 2
    second = worker.poll_once(consumer, wait_seconds=0)
    assert sorted(second.failed) == sorted(ids)
    # A third receive exceeds maxReceiveCount: SQS moves both to the dead-letter queue.
    assert worker.poll_once(consumer, wait_seconds=0).received == 0
    assert depth(sqs, url) == 0
    moved = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["MessageId"] for m in moved) == sorted(ids)


def test_an_identifier_not_in_the_batch_fails_the_whole_batch(sqs: Any) -> None:
    url, _ = make_queue(sqs)
    ids = send(sqs, url, "a", "b")
    fake = FakeApp(behaviour=lambda event: {"batchItemFailures": [{"itemIdentifier": "not-a-message"}]})
    worker = make_worker(fake, sqs)

    outcome = worker.poll_once(worker.consumers[0], wait_seconds=0)

    assert sorted(outcome.failed) == sorted(ids) and outcome.deleted == ()
    assert depth(sqs, url) == 2


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ("done", set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{"id": "m1"}]}, {"m1", "m2"}),
        ({"batchItemFailures": "m1"}, {"m1", "m2"}),
    ],
)
def test_batch_responses_are_read_by_lambdas_rules(response: Any, failed: set[str]) -> None:
    assert failed_message_ids(response, ["m1", "m2"]) == failed


# --- schedules ------------------------------------------------------------------------------


def test_a_schedule_gets_a_scheduled_event_and_a_failure_is_only_logged(sqs: Any) -> None:
    fake = FakeApp()
    worker = make_worker(fake, sqs)

    assert worker.fire(worker.schedules[0]) is True
    [(event, context)] = fake.ticks
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["region"] == REGION
    assert event["resources"][0].endswith(":rule/fake-test-tick")
    assert event["time"].endswith("Z")
    assert context.function_name == "fake-test-tick"

    fake.tick_fails = True
    assert worker.fire(worker.schedules[0]) is False


def test_scheduled_event_shape() -> None:
    event = scheduled_event("permesso-local-tick", REGION)
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }


# --- the running worker ---------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_running_worker_drains_queues_fires_schedules_and_stops(sqs: Any) -> None:
    url, _ = make_queue(sqs)
    fake = FakeApp()
    worker = make_worker(fake, sqs, schedule_seconds=0.2, wait_seconds=1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        send(sqs, url, "one", "two")
        assert wait_until(lambda: sum(len(event["Records"]) for event, _ in fake.batches) == 2)
        assert wait_until(lambda: depth(sqs, url) == 0)
        assert wait_until(lambda: len(fake.ticks) >= 2)
    finally:
        worker.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()


def test_a_missing_queue_or_failing_poll_does_not_stop_the_worker(sqs: Any) -> None:
    fake = FakeApp()
    worker = make_worker(fake, sqs, schedule_seconds=60, wait_seconds=1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # the queue does not exist yet: the poll fails and is retried
        assert thread.is_alive()
        url, _ = make_queue(sqs)
        send(sqs, url, "late")
        assert wait_until(lambda: len(fake.batches) == 1)
    finally:
        worker.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
