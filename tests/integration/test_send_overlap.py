"""A message does not wait for SES's answer before its next slot: a round trip longer than
the gap between two slots (40 ms against 20 ms at 50/s) would otherwise make it skip every
other slot, and the account reach half its rate. At most ``IN_FLIGHT`` calls are outstanding
per message, and every recipient still gets exactly one e-mail.

No test here measures time: the mailer below answers a call only once the message has started
another one (or never, within the wait), which the old one-call-at-a-time loop could not do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.sending import IN_FLIGHT
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, drain, simulated
from tests.integration.test_campaigns import add_clients
from tests.integration.test_sending_reliability import _exactly_once, _send, _statuses, raise_limits


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


class HeldMailer:
    """Around the real SES adapter: each call is answered only once ``release_after`` calls
    have started (or after ``patience`` seconds), and how many were outstanding is recorded."""

    def __init__(self, real: Any, *, release_after: int, patience: float = 10.0) -> None:
        self.real = real
        self.release_after = release_after
        self.patience = patience
        self.lock = threading.Lock()
        self.started = 0
        self.outstanding = 0
        self.most_outstanding = 0
        self.waited_out = 0  # calls answered only because the patience ran out
        self.enough = threading.Event()

    def send_raw(self, raw: bytes, *, sender: str, to: list[str], tags: Any = None) -> str:
        with self.lock:
            self.started += 1
            self.outstanding += 1
            self.most_outstanding = max(self.most_outstanding, self.outstanding)
            if self.started >= self.release_after:
                self.enough.set()
        try:
            if not self.enough.wait(self.patience):
                with self.lock:
                    self.waited_out += 1
            return str(self.real.send_raw(raw, sender=sender, to=to, tags=tags))
        finally:
            with self.lock:
                self.outstanding -= 1


def test_the_next_call_starts_before_ses_answers_the_previous_one(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    _, queue = sim
    n = 12
    add_clients(http, n)
    raise_limits(http, account["account_id"])  # the account paced at the platform's rate
    deps = get_deps()
    held = HeldMailer(deps.mailer, release_after=2)
    deps.__dict__["mailer"] = held
    campaign_id = _send(http)
    drain(http.client, queue)
    # The first call was answered because the second one started while it was outstanding.
    assert held.waited_out == 0
    assert held.most_outstanding >= 2
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}


def test_no_more_than_in_flight_calls_are_outstanding(http: Http, account: dict[str, Any], sim: Any) -> None:
    _, queue = sim
    n = IN_FLIGHT + 6
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    deps = get_deps()
    # No call is answered before IN_FLIGHT + 1 have started, which the bound never allows:
    # the message holds at IN_FLIGHT until the patience lets the first answers through.
    held = HeldMailer(deps.mailer, release_after=IN_FLIGHT + 1, patience=3.0)
    deps.__dict__["mailer"] = held
    campaign_id = _send(http)
    drain(http.client, queue)
    assert held.most_outstanding == IN_FLIGHT
    assert held.waited_out >= 1
    _exactly_once(n)
    assert _statuses(campaign_id) == {"sent": n}
