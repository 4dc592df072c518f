"""A send invocation takes more messages from the queue itself while it has time
(``services.sending.Feed``): against the emulated SQS queue, with ``process_message``
replaced by a stand-in that sleeps, fails or counts as each message's body says; and a
message given its invocation's deadline books nothing after it (the real worker, simulated
time)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from chalicelib.services import sending
from chalicelib.services.sending import MESSAGES_PER_INVOCATION, Feed, process_bodies


class StandIn:
    """Runs a message as its body says (``sleep`` seconds, ``fail``); counts what ran and the
    most that ran at once."""

    def __init__(self) -> None:
        self.ran: Counter[str] = Counter()
        self.deadlines: list[float | None] = []
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, deps: Any, body: dict[str, Any], deadline: float | None = None) -> str:
        with self._lock:
            self.ran[body["name"]] += 1
            self.deadlines.append(deadline)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(float(body.get("sleep", 0)))
            if body.get("fail"):
                raise RuntimeError("this message fails")
        finally:
            with self._lock:
                self.running -= 1
        return "sent"


@pytest.fixture
def stand_in(aws: None, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    fake = StandIn()
    monkeypatch.setattr(sending, "process_message", fake)
    return fake


def deps() -> Any:
    from chalicelib.bootstrap import Deps
    from chalicelib.config import get_settings

    return Deps(settings=get_settings())  # the real SQS adapter, on the emulated queue


def on_queue(d: Any, *bodies: dict[str, Any]) -> None:
    d.queue.send_many(sending.SEND_QUEUE, list(bodies))


def queue_counts(d: Any) -> tuple[int, int]:
    """(visible, in flight) messages of the send queue."""
    attributes = d.queue._sqs().get_queue_attributes(
        QueueUrl=d.queue.url(sending.SEND_QUEUE),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def feed_of(d: Any, seconds: float) -> Feed:
    """Takes messages for ``seconds``; its messages book until 60 s from now."""
    return Feed(
        receive=lambda n: d.queue.receive(sending.SEND_QUEUE, n),
        delete=lambda handles: d.queue.delete(sending.SEND_QUEUE, handles),
        send_until=time.monotonic() + 60,
        take_until=time.monotonic() + seconds,
    )


def event_message(name: str, **body: Any) -> tuple[str, str]:
    return (f"event-{name}", json.dumps({"name": name, **body}))


def test_while_a_message_runs_its_invocation_takes_the_next_ones_and_deletes_those_that_succeeded(
    stand_in: StandIn,
) -> None:
    d = deps()
    on_queue(d, {"name": "b", "sleep": 0.1}, {"name": "c", "fail": True}, {"name": "d"})
    answer = process_bodies(d, [event_message("a", sleep=1.25 * sending.FEED_POLL_SECONDS)], feed_of(d, 60))
    assert answer == {"batchItemFailures": []}  # only the event's own messages are reported
    assert stand_in.ran == Counter({"a": 1, "b": 1, "c": 1, "d": 1})
    # Each message books until the invocation's end, on the app's (epoch) clock.
    assert all(abs(deadline - (time.time() + 60)) < 5 for deadline in stand_in.deadlines if deadline)
    assert len(stand_in.deadlines) == 4 and None not in stand_in.deadlines
    # b and d were deleted; c failed and stays on the queue, hidden until its visibility
    # timeout, as a batch item failure would.
    assert queue_counts(d) == (0, 1)


def test_an_event_message_that_fails_is_reported_and_the_ones_it_took_are_not(stand_in: StandIn) -> None:
    d = deps()
    on_queue(d, {"name": "b", "sleep": 0.1})
    answer = process_bodies(
        d, [event_message("a", sleep=1.25 * sending.FEED_POLL_SECONDS, fail=True)], feed_of(d, 60)
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "event-a"}]}
    assert stand_in.ran == Counter({"a": 1, "b": 1})
    assert queue_counts(d) == (0, 0)


def test_past_its_time_an_invocation_takes_nothing_more(stand_in: StandIn) -> None:
    d = deps()
    on_queue(d, {"name": "b"})
    assert process_bodies(
        d, [event_message("a", sleep=1.25 * sending.FEED_POLL_SECONDS)], feed_of(d, -1)
    ) == {"batchItemFailures": []}
    assert stand_in.ran == Counter({"a": 1})
    assert queue_counts(d) == (1, 0)


def test_an_invocation_runs_at_most_its_batch_size_at_once_and_ends_when_nothing_runs(
    stand_in: StandIn,
) -> None:
    d = deps()
    on_queue(d, *[{"name": f"m{i}", "sleep": 0.5} for i in range(25)])
    started = time.monotonic()
    process_bodies(d, [event_message("a", sleep=2 * sending.FEED_POLL_SECONDS)], feed_of(d, 60))
    assert stand_in.most <= MESSAGES_PER_INVOCATION
    assert stand_in.most > 2  # several side by side, not one after the other
    assert sum(stand_in.ran.values()) == 26 and max(stand_in.ran.values()) == 1
    assert queue_counts(d) == (0, 0)
    assert time.monotonic() - started < 10  # ended with its last message, not at its feed's time


def test_a_queue_that_fails_to_answer_stops_the_feeding_and_loses_nothing(stand_in: StandIn) -> None:
    d = deps()

    calls: list[int] = []

    def broken(n: int) -> list[Any]:
        calls.append(n)
        raise RuntimeError("SQS is unwell")

    feed = Feed(
        receive=broken,
        delete=lambda handles: None,
        send_until=time.monotonic() + 60,
        take_until=time.monotonic() + 50,
    )
    assert process_bodies(d, [event_message("a", sleep=2.5 * sending.FEED_POLL_SECONDS)], feed) == {
        "batchItemFailures": []
    }
    assert stand_in.ran == Counter({"a": 1})
    assert calls == [MESSAGES_PER_INVOCATION - 1]  # asked once, then never again


class Context:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def test_the_feed_of_a_lambda_comes_from_its_timeout(aws: None) -> None:
    d = deps()
    assert Feed.for_lambda(d, None) is None
    # 30 s (the prod stage's other functions): not more than one message's lifetime, no feed.
    assert Feed.for_lambda(d, Context(30)) is None
    for end in (sending.FEED_END_SPREAD, 1.0):  # the earliest and the latest end drawn
        feed = Feed.for_lambda(d, Context(120), draw=lambda low, high, end=end: end)
        assert feed is not None
        send_for = 120 * sending.FEED_TIMEOUT_SHARE * end - sending.FEED_FINISH_SECONDS
        assert feed.send_until - time.monotonic() == pytest.approx(send_for, abs=1.0)
        assert feed.take_until == feed.send_until - sending.FEED_LAST_TAKE_SECONDS
        # A message taken at the last moment can still wait for its turn in hand and send.
        assert sending.FEED_LAST_TAKE_SECONDS > sending.ADMIT_AHEAD_SECONDS
        # Longer than one message may run, or a message of the event would be cut short.
        assert send_for >= sending.MESSAGE_LIFETIME_SECONDS
        # The invocation ends within the duration alarm's share of the timeout.
        assert send_for + sending.FEED_FINISH_SECONDS <= 120 * 0.8


def test_the_prod_send_function_has_time_to_take_more_messages(aws: None) -> None:
    from local.stage import function_settings

    timeout = function_settings("handle_send", "prod").timeout_seconds
    assert Feed.for_lambda(deps(), Context(timeout)) is not None


def test_a_message_books_nothing_after_its_invocations_deadline_and_hands_its_recipients_on(
    http: Any, account: dict[str, Any]
) -> None:
    from chalicelib.bootstrap import get_deps
    from tests.integration.conftest import verify_sender
    from tests.integration.sending_support import deliver, drain, recipients_of_sent, simulated
    from tests.integration.test_campaigns import add_clients, new_campaign
    from tests.integration.test_sending_reliability import raise_limits

    verify_sender("hello@salon.example")
    n = 12
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    with simulated() as (clock, queue):
        campaign = new_campaign(http)
        status, body = http.post(
            f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
        )
        assert status == 202, body
        drain(http.client, queue, stop=lambda: queue.sent["send"] > 0)  # the fan-out only
        entry = queue.pop()
        assert entry is not None and entry.queue == "send"
        # Its invocation's time is up: the message books no group and sends nothing; its
        # recipients go on at once, in a continuation, none failed.
        past = clock.now.timestamp() - 1
        assert sending.process_message(get_deps(), entry.body, past) == "continued"
        assert recipients_of_sent() == Counter()
        back = queue.pop()
        assert back is not None and back.due <= clock.now
        assert sorted(back.body["client_ids"]) == sorted(entry.body["client_ids"])
        assert deliver(http.client, "send", back.body)
        drain(http.client, queue)
    per_address = recipients_of_sent()
    assert len(per_address) == n and set(per_address.values()) == {1}
