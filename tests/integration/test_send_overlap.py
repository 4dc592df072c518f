"""While SES answers before the next slot is due, a message makes its calls one at a time, at
its slots. Once SES is slower than the slots (40 ms against 20 ms at 50/s), a message does not
wait for an answer before its next slot — it would skip every other slot and the account reach
half its rate: its calls overlap, at most ``IN_FLIGHT`` outstanding, and every recipient still
gets exactly one e-mail.

The integration tests' clock is simulated (slots come at once); the mailer below takes real
time, so how many calls were outstanding at once shows which way the message went: one at a
time can never have two outstanding."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.pacing import capacity
from chalicelib.services.sending import IN_FLIGHT
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, crowd, deliver, drain, simulated
from tests.integration.test_campaigns import add_clients
from tests.integration.test_sending_reliability import _exactly_once, _send, _statuses, raise_limits


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


class TimedMailer:
    """Around the real SES adapter: each call takes ``seconds`` of wall-clock time, and how many
    were outstanding at once is recorded."""

    def __init__(self, real: Any, seconds: float) -> None:
        self.real = real
        self.seconds = seconds
        self.lock = threading.Lock()
        self.outstanding = 0
        self.most_outstanding = 0

    def send_raw(self, raw: bytes, *, sender: str, to: list[str], tags: Any = None) -> str:
        with self.lock:
            self.outstanding += 1
            self.most_outstanding = max(self.most_outstanding, self.outstanding)
        try:
            time.sleep(self.seconds)
            return str(self.real.send_raw(raw, sender=sender, to=to, tags=tags))
        finally:
            with self.lock:
                self.outstanding -= 1


def _campaign_through(
    http: Http, account: dict[str, Any], queue: Any, mailer_seconds: float, n: int
) -> TimedMailer:
    add_clients(http, n)
    raise_limits(http, account["account_id"])  # the account paced at the platform's rate (74 ms apart)
    deps = get_deps()
    mailer = TimedMailer(deps.mailer, mailer_seconds)
    deps.__dict__["mailer"] = mailer
    campaign_id = _send(http)
    drain(http.client, queue)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    return mailer


def test_a_prompt_ses_is_called_one_at_a_time(http: Http, account: dict[str, Any], sim: Any) -> None:
    # Slots 74 ms apart (simulated), SES answers at once: never two calls outstanding.
    mailer = _campaign_through(http, account, sim[1], 0.0, 12)
    assert mailer.most_outstanding == 1


def test_a_slow_ses_gets_overlapping_calls_at_most_in_flight(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    # SES takes 0.6 s against slots 74 ms apart: after the first answer shows it, the message
    # starts each call at its slot without waiting for the previous one — up to IN_FLIGHT.
    mailer = _campaign_through(http, account, sim[1], 0.6, IN_FLIGHT + 8)
    assert mailer.most_outstanding == IN_FLIGHT


def test_a_send_whose_sleep_overran_its_slot_waits_for_the_next_slot(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    # A busy worker wakes late: every third sleep of the message's thread overruns by 60 ms,
    # more than the late tolerance (21 ms at 14/s). Such a slot is skipped: no two e-mails go
    # out closer than a slot's spacing less the tolerance, which is what keeps every 1-second
    # window within the platform's rate.
    from chalicelib.services.pacing import capacity
    from chalicelib.services.sending import late_tolerance

    time, queue = sim
    deps = get_deps()
    n = 30
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    driver = threading.get_ident()
    sleeps = 0
    real_sleep = deps.sleep

    def overrunning(seconds: float) -> None:
        nonlocal sleeps
        if threading.get_ident() == driver and seconds > 0:
            sleeps += 1
            if sleeps % 3 == 0:
                seconds += 0.060
        real_sleep(seconds)

    stamps: list[float] = []
    real = deps.mailer

    class Stamping:
        def send_raw(self, raw: bytes, **kw: Any) -> str:
            stamps.append(time.clock().timestamp())
            return str(real.send_raw(raw, **kw))

    deps.sleep = overrunning
    deps.__dict__["mailer"] = Stamping()
    try:
        campaign_id = _send(http)
        drain(http.client, queue)
    finally:
        deps.sleep = real_sleep
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    assert sleeps >= n  # the overruns happened
    spacing = 1.0 / capacity(deps)
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert min(gaps) >= spacing - late_tolerance(deps.settings) - 1e-6, (min(gaps), spacing)


def test_a_message_whose_pace_falls_hands_its_rest_on_within_its_window(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The account starts alone, at the whole platform (13.44/s): its first message takes a window
    # of 100 e-mails. After 5 sends nine other accounts start sending, and its fair share falls
    # to a tenth: sending the rest at that pace would hold the worker for over a minute (past the
    # Lambda's 30 s). The message stops at its time window and a continuation carries the rest.
    from chalicelib.services.sending import SEND_WINDOW_SECONDS

    time, queue = sim
    deps = get_deps()
    # The nine newcomers below are only registered: they never book the platform, whose idle
    # slots the account would then take (``may_borrow``; tests/integration/test_send_borrowing.py).
    # Here they stand for accounts that fill it.
    monkeypatch.setattr("chalicelib.services.pacing.may_borrow", lambda *args: False)
    n = 100
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    real = deps.mailer
    calls = 0

    class Crowding:
        def send_raw(self, raw: bytes, **kw: Any) -> str:
            nonlocal calls
            calls += 1
            if calls == 5:
                crowd(deps, time)
            return str(real.send_raw(raw, **kw))

    deps.__dict__["mailer"] = Crowding()
    campaign_id = _send(http)
    durations: list[float] = []
    while (entry := queue.pop()) is not None:
        started = time.now
        assert deliver(http.client, entry.queue, entry.body)
        if entry.queue == "send":
            durations.append((time.now - started).total_seconds())
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
    # Every message ended within its window plus the wait for one more group (at most 3 e-mails
    # at 1.344/s) — never the 70 s the rest of its 100 would take at the new pace.
    assert max(durations) <= SEND_WINDOW_SECONDS + 3, durations
    assert len(durations) > 2  # the rest went on in continuations


def test_a_pooled_call_whose_thread_starts_late_is_not_made(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES takes 0.6 s, so the calls run on the pool. Every third pool thread gets going 60 ms
    # after its slot (later than the tolerance): that call is not made; the e-mail takes the
    # message's next slot, and every recipient still gets exactly one e-mail.
    from chalicelib.services import sending

    real_call = sending._call_ses
    starts = 0
    declined: list[float] = []

    def late_every_third(start: Any, *args: Any) -> bool:
        nonlocal starts
        starts += 1
        if starts % 3 == 0:
            start.latest -= 0.060 + sending.late_tolerance(get_deps().settings)
        outcome = real_call(start, *args)
        if start.declined:
            declined.append(start.latest)
        return outcome

    monkeypatch.setattr(sending, "_call_ses", late_every_third)
    mailer = _campaign_through(http, account, sim[1], 0.6, IN_FLIGHT + 8)
    assert declined  # some starts were late, and declined…
    assert mailer.most_outstanding >= 2  # …on the pool path
    # …and exactly once per recipient (checked in _campaign_through), the declined ones included.


def test_the_rest_beyond_a_window_goes_on_at_the_start_timed_to_be_in_hand_at_its_turn(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nine other accounts hold the platform (borrowing off: they stand for accounts that fill it),
    # so this account's pace is a tenth of it and its message of 40 takes a window of 13. The
    # other 27 are enqueued before the first e-mail goes out, with a delay that brings them back
    # ``ADMIT_AHEAD_SECONDS`` before the window's estimated end: a worker then holds them when
    # it is their turn, instead of picking them up whenever one happens to be free.
    from chalicelib.services.sending import ADMIT_AHEAD_SECONDS, SEND_WINDOW_SECONDS

    time, queue = sim
    deps = get_deps()
    monkeypatch.setattr("chalicelib.services.pacing.may_borrow", lambda *args: False)
    n = 40
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    crowd(deps, time)
    events: list[tuple[float, str, Any]] = []
    real_mailer, real_send_many = deps.mailer, queue.send_many

    class Stamping:
        def send_raw(self, raw: bytes, **kw: Any) -> str:
            events.append((time.now.timestamp(), "ses", kw["to"][0]))
            return str(real_mailer.send_raw(raw, **kw))

    def recording_send_many(name: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        if name == "send":
            events.append((time.now.timestamp(), "enqueue", (bodies, delay_seconds)))
        real_send_many(name, bodies, delay_seconds)

    deps.__dict__["mailer"] = Stamping()
    monkeypatch.setattr(queue, "send_many", recording_send_many)
    campaign_id = _send(http)
    while (entry := queue.pop()) is not None and entry.queue != "send":
        assert deliver(http.client, entry.queue, entry.body)
    assert entry is not None and len(entry.body["client_ids"]) == n
    events.clear()
    started = time.now.timestamp()
    assert deliver(http.client, entry.queue, entry.body)
    kinds = [kind for _, kind, _ in events]
    assert "enqueue" in kinds and kinds.index("enqueue") < kinds.index("ses")  # the rest went first
    (bodies, delay) = next(detail for _, kind, detail in events if kind == "enqueue")
    rest = bodies[0]["client_ids"]
    window = len(entry.body["client_ids"]) - len(rest)
    assert 0 < window < n and set(rest) <= set(entry.body["client_ids"])
    estimated_end = started + window / (capacity(deps) / 10)
    assert delay == int(estimated_end - ADMIT_AHEAD_SECONDS - started)
    assert 0 < delay <= SEND_WINDOW_SECONDS - ADMIT_AHEAD_SECONDS
    drain(http.client, queue)
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}


def test_a_message_whose_pace_rises_hands_the_rest_of_its_estimate_back_to_the_queue(
    http: Http, account: dict[str, Any], sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Admitted at a tenth of the platform (nine others sending), the message's window of 13 is
    # estimated at ~10 s in the account's queue; then the others finish and its groups go at
    # the platform's whole rate. When it ends, the queue says so: the account's next message
    # starts now, not when this one was expected to end (the tail of a multi-account send).
    from chalicelib.services import pacing
    from chalicelib.services.pacing import queue_bucket

    time, queue = sim
    deps = get_deps()
    monkeypatch.setattr("chalicelib.services.pacing.may_borrow", lambda *args: False)
    add_clients(http, 40)
    raise_limits(http, account["account_id"])
    crowd(deps, time)
    real_book = pacing.Pacer.book

    def book(self: Any, remaining: int, max_wait: float) -> Any:
        for i in range(9):  # the others' campaigns are done
            pacing.leave(deps, f"acc_other{i}")
        return real_book(self, remaining, max_wait)

    monkeypatch.setattr(pacing.Pacer, "book", book)
    _send(http)
    while (entry := queue.pop()) is not None and entry.queue != "send":
        assert deliver(http.client, entry.queue, entry.body)
    assert entry is not None
    started = time.now.timestamp()
    assert deliver(http.client, entry.queue, entry.body)
    ended = time.now.timestamp()
    estimated_end = started + 13 / (capacity(deps) / 10)
    assert ended < estimated_end - 5  # it went faster than it was admitted at
    queue_end = deps.throttle.booked_until([queue_bucket(account["account_id"])])[
        queue_bucket(account["account_id"])
    ]
    assert queue_end <= ended + 0.01, (queue_end - started, ended - started)
