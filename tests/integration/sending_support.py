"""Helpers for the sending tests: simulated time, an in-memory queue that honours delays
in simulated time, a drain loop that delivers messages to the real Lambda entry points
(redelivering failed ones, like SQS), and SES fault injection around moto's SES."""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

from chalice.test import Client

from chalicelib.bootstrap import Deps, get_deps
from chalicelib.config import get_settings

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class SimTime:
    """A clock that only moves when someone sleeps (or the queue jumps to a delayed message).

    Only the thread that drives the test (the one that made the clock, which also runs the
    Lambda entry points) moves the world's time. A background thread that sleeps — a send
    worker booking its next group beside its sends — waits on its own time line, as threads
    wait side by side in real time: its clock reads the later of the world's time and the end
    of its own sleep. (Were its sleep added to the world's, two threads sleeping at once would
    make time pass twice.)"""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self._driver = threading.get_ident()
        self._own = threading.local()

    def clock(self) -> datetime:
        if threading.get_ident() == self._driver:
            return self.now
        until: datetime | None = getattr(self._own, "until", None)
        return self.now if until is None or until <= self.now else until

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if threading.get_ident() == self._driver:
            self.now += timedelta(seconds=seconds)
        else:
            self._own.until = self.clock() + timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(order=True)
class _Entry:
    due: datetime
    seq: int
    queue: str = field(compare=False)
    body: dict[str, Any] = field(compare=False)


class SimQueue:
    """``MessageQueue`` in memory: messages become visible after their delay, in simulated time."""

    def __init__(self, time: SimTime) -> None:
        self.time = time
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self.sent: Counter[str] = Counter()

    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self.send_many(queue, [body], delay_seconds)

    def send_many(self, queue: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        for body in bodies:
            json.dumps(body)  # must be serialisable, like a real message
            due = self.time.now + timedelta(seconds=delay_seconds)
            heapq.heappush(self._heap, _Entry(due, next(self._seq), queue, body))
            self.sent[queue] += 1

    def receive(self, queue: str, max_messages: int) -> list[Any]:
        """Nothing: the simulated tests hand every message to a worker themselves (``drain``)."""
        return []

    def delete(self, queue: str, receipt_handles: list[str]) -> None:
        raise AssertionError("nothing was received from a simulated queue")

    def pop(self) -> _Entry | None:
        if not self._heap:
            return None
        entry = heapq.heappop(self._heap)
        if entry.due > self.time.now:
            self.time.now = entry.due  # nothing else to do until then
        return entry

    def __len__(self) -> int:
        return len(self._heap)

    def pending(self, queue: str) -> list[dict[str, Any]]:
        return [e.body for e in self._heap if e.queue == queue]


def after_real_time() -> datetime:
    """A minute after the real clock, for a test that simulates time after it sent mail on the
    real clock (an invitation, a double opt-in): those sends booked the send buckets up to
    ``send_max_wait_seconds`` ahead of the real clock. Begun at ``START``, days earlier, the
    simulated sends would find the buckets booked days ahead and wait those days out in the
    queue's longest delays: hundreds of deferred deliveries, more for each day since ``START``.
    (Not later than a minute: the console's sessions, signed in on the real clock, stay open.)"""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)


@contextmanager
def simulated(deps: Deps | None = None, start: datetime = START) -> Iterator[tuple[SimTime, SimQueue]]:
    """Run the app's shared ``Deps`` on simulated time (from ``start``) and an in-memory queue."""
    from chalicelib.services.pacing import reset_registry_cache

    deps = deps or get_deps()
    time = SimTime(start)
    queue = SimQueue(time)
    reset_registry_cache()
    saved = (deps.clock, deps.sleep, deps.__dict__.get("queue"), deps.__dict__.get("mailer"))
    deps.clock, deps.sleep = time.clock, time.sleep
    deps.__dict__["queue"] = queue
    try:
        yield time, queue
    finally:
        deps.clock, deps.sleep = saved[0], saved[1]
        for name, value in (("queue", saved[2]), ("mailer", saved[3])):
            if value is None:
                deps.__dict__.pop(name, None)
            else:
                deps.__dict__[name] = value


HANDLERS = {"jobs": "run_jobs", "send": "handle_send", "ses-events": "handle_ses_events"}


def deliver(api: Client, queue: str, body: dict[str, Any]) -> bool:
    """Invoke the queue's Lambda entry point with one message; ``False`` if it reported failure."""
    event = api.events.generate_sqs_event(
        message_bodies=[json.dumps(body)], queue_name=get_settings().resource_name(queue)
    )
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    try:
        payload = api.lambda_.invoke(HANDLERS[queue], event).payload
    except BatchProcessingError:  # every record failed: the invocation fails, SQS redelivers
        return False
    return not payload.get("batchItemFailures")


def drain(
    api: Client,
    queue: SimQueue,
    *,
    max_messages: int = 20_000,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Deliver messages until none is left (or ``stop()``); a failed message is redelivered
    later, as SQS would after its visibility timeout."""
    delivered = 0
    while delivered < max_messages:
        if stop is not None and stop():
            return delivered
        entry = queue.pop()
        if entry is None:
            return delivered
        delivered += 1
        if not deliver(api, entry.queue, entry.body):
            queue.time.advance(seconds=30)
            queue.send(entry.queue, entry.body, delay_seconds=0)
    raise AssertionError("the queues did not drain")


def sent_messages() -> list[Any]:
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    return list(get_backend("ses")[DEFAULT_ACCOUNT_ID]["eu-central-1"].sent_messages)


def recipients_of_sent() -> Counter[str]:
    """How many e-mails moto's SES accepted per recipient address (moto lists a raw
    message's recipient once per source — parameter and To header — so count a message once)."""
    counts: Counter[str] = Counter()
    for message in sent_messages():
        destinations = message.destinations
        if isinstance(destinations, dict):
            destinations = destinations.get("ToAddresses", [])
        for address in {str(a).lower() for a in destinations}:
            counts[address] += 1
    return counts


def parsed(message: Any) -> Any:
    from email.policy import default

    raw = message.raw_data
    return message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=default)


class FaultyMailer:
    """Around the real SES adapter (moto): throttles and transient failures at random, and
    optionally a crash right after SES accepted a message."""

    def __init__(
        self,
        real: Any,
        *,
        throttle: float = 0.0,
        transient: float = 0.0,
        crash_after_accept: int = 0,
        seed: int = 7,
    ) -> None:
        self.real = real
        self.throttle, self.transient = throttle, transient
        self.crashes_left = crash_after_accept
        self.random = random.Random(seed)
        self.throttled = self.transient_errors = self.accepted = 0

    def send_raw(self, raw: bytes, *, sender: str, to: list[str], tags: Any = None) -> str:
        from chalicelib.mail.ses import MailThrottled, MailTransient

        roll = self.random.random()
        if roll < self.throttle:
            self.throttled += 1
            raise MailThrottled("Throttling", "Maximum sending rate exceeded.")
        if roll < self.throttle + self.transient:
            self.transient_errors += 1
            raise MailTransient("ServiceUnavailable", "Service unavailable")
        message_id = self.real.send_raw(raw, sender=sender, to=to, tags=tags)
        self.accepted += 1
        if self.crashes_left > 0:
            self.crashes_left -= 1
            raise RuntimeError("worker killed after SES accepted the message")
        return message_id


def crowd(deps: Deps, time: SimTime, n: int = 9) -> None:
    """``n`` other accounts registered as sending for the next hour: every account's share of
    the platform falls to 1/(n+1). They never book the platform themselves."""
    from chalicelib.domain.pacing import Sender
    from chalicelib.services.pacing import SENDERS_BUCKET

    until = time.clock().timestamp() + 3600
    current, rev = deps.throttle.senders(SENDERS_BUCKET)
    others = {f"acc_other{i}": Sender(1000.0, until) for i in range(n)}
    assert deps.throttle.save_senders(SENDERS_BUCKET, current | others, rev)
