"""Booking send slots: the account's pace first, then the platform's SES rate, just in time.

The rules are in ``domain/pacing.py``; this module holds the state they need, in the
shared *throttle* table (one item each, every write compare-and-set):

- ``platform#ses`` — the platform's GCRA bucket at ``safety · platform_send_rate_per_second``;
- ``platform#senders`` — the registry of accounts sending now (their wanted rate, until
  when), from which each account's fair share is computed;
- ``account#<id>#rate`` — the account's GCRA bucket, at its share;
- ``account#<id>#queue`` — where the account's next send message may start
  (``admit``): a message whose turn is far off goes back to the queue with a delay
  until then instead of holding a worker.

A ``Pacer`` books one *group* at a time: the account's next slots at its current share,
then — when the first of them is due — as many platform slots, which the caller uses at
once (or skips, never later than ``late_tolerance``). The send worker and the
transactional door (``services.outbound``) both book through it, so every e-mail of the
platform passes the same two buckets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib.bootstrap import Deps
from chalicelib.domain.pacing import Sender, group_size, may_borrow, registered, share_of, without
from chalicelib.domain.throttle import Deferred, Reservation
from chalicelib.observability import logger

PLATFORM_BUCKET = "platform#ses"
SENDERS_BUCKET = "platform#senders"
REGISTRY_TTL = 0.5  # seconds a worker process reuses its read of the registry
SENDING_HORIZON = 3.0  # an account counts as sending until this long after its last booked slot
REFRESH = 1.5  # the registry is rewritten when an account's entry would end this much too soon
PLATFORM_LEAD = 0.05  # the platform is booked this long before the account's slot
# An account ahead of its pace takes platform slots nobody has booked when the platform's next
# free slot is at most this far off (``Pacer.book``: unused capacity is not lost).
BORROW_SLACK = 0.1
BOOKING_MARGIN = 0.02  # a platform slot is never booked closer than this to "now"…
BOOKING_MARGIN_FACTOR = 1.5  # …nor closer than this many times what a booking takes lately
_CAS_ATTEMPTS = 5


def pace_bucket(account_id: str) -> str:
    return f"account#{account_id}#rate"


def queue_bucket(account_id: str) -> str:
    return f"account#{account_id}#queue"


def capacity(deps: Deps) -> float:
    """``R'``: the platform bucket's rate, a little under SES's, shared by every account."""
    return deps.settings.platform_send_rate_per_second * deps.settings.platform_rate_safety


class _Registry:
    """This process's copy of ``platform#senders``, read at most every ``REGISTRY_TTL``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.senders: dict[str, Sender] = {}
        self.rev: int | None = None
        self.read_at = float("-inf")

    def current(self, deps: Deps, now: float) -> dict[str, Sender]:
        with self.lock:
            if now - self.read_at >= REGISTRY_TTL or now < self.read_at:
                self.senders, self.rev = deps.throttle.senders(SENDERS_BUCKET)
                self.read_at = now
            return dict(self.senders)

    def register(self, deps: Deps, account_id: str, rate: float, until: float, now: float) -> None:
        """Make sure the registry says ``account_id`` sends at ``rate`` until ``until``."""
        with self.lock:
            for _ in range(_CAS_ATTEMPTS):
                update = registered(self.senders, account_id, rate, until, now, REFRESH)
                if update is None:
                    return
                if deps.throttle.save_senders(SENDERS_BUCKET, update, self.rev):
                    self.senders, self.rev = update, (self.rev or 0) + 1
                    self.read_at = now
                    return
                self.senders, self.rev = deps.throttle.senders(SENDERS_BUCKET)
                self.read_at = now

    def leave(self, deps: Deps, account_id: str, now: float) -> None:
        """Take ``account_id`` out of the registry (read afresh, compare-and-set)."""
        with self.lock:
            for _ in range(_CAS_ATTEMPTS):
                self.senders, self.rev = deps.throttle.senders(SENDERS_BUCKET)
                self.read_at = now
                update = without(self.senders, account_id, now)
                if update is None:
                    return
                if deps.throttle.save_senders(SENDERS_BUCKET, update, self.rev):
                    self.senders, self.rev = update, (self.rev or 0) + 1
                    return


_REGISTRY = _Registry()


def leave(deps: Deps, account_id: str) -> None:
    """The account has finished sending (its campaign is done): it stops counting in the
    others' shares now instead of ``SENDING_HORIZON`` after its last slot — the seconds in
    which its share went unused by everybody at the end of each campaign. Best effort: if the
    account still sends something else, its next booking registers it again."""
    try:
        _REGISTRY.leave(deps, account_id, deps.clock().timestamp())
    except Exception:  # noqa: BLE001 — shares are fairness, not safety: the entry expires anyway
        logger.exception("the registry of senders could not be written")


class _Latency:
    """How long a platform booking takes in this process (moving average): the first slot of a
    booking is placed after it, so it is not already past when the booking returns."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds = BOOKING_MARGIN

    def margin(self) -> float:
        with self.lock:
            return max(BOOKING_MARGIN, BOOKING_MARGIN_FACTOR * self.seconds)

    def observe(self, seconds: float) -> None:
        with self.lock:
            self.seconds = 0.7 * self.seconds + 0.3 * max(0.0, seconds)


_LATENCY = _Latency()


def reset_registry_cache() -> None:
    """Forget this process's copy of the registry (tests that rewind the clock)."""
    global _REGISTRY
    _REGISTRY = _Registry()


@dataclass(frozen=True)
class Group:
    """Platform slots booked for the next sends of one account (epoch seconds, ``1/R'`` apart)."""

    slots: tuple[float, ...]
    pace: float


class Pacer:
    """Books the send slots of one account (which may send at most ``rate`` per second)."""

    def __init__(self, deps: Deps, account_id: str, rate: float) -> None:
        self.deps = deps
        self.account_id = account_id
        self.rate = rate
        # The end of the account slots, and of the platform slots, this pacer last booked.
        self.paced_until = float("-inf")
        self.sent_until = float("-inf")

    def _now(self) -> float:
        return self.deps.clock().timestamp()

    def share(self, now: float | None = None) -> float:
        """The account's pace now: its fair share of the platform among the accounts sending."""
        now = self._now() if now is None else now
        try:
            senders = _REGISTRY.current(self.deps, now)
        except Exception:  # noqa: BLE001 — the platform bucket still holds the rate; log and go on
            logger.exception("the registry of senders could not be read")
            senders = {}
        return share_of(self.account_id, self.rate, senders, capacity(self.deps), now)

    def admit(self, count: int, max_ahead: float) -> Reservation | Deferred:
        """A message's place in the account's queue: ``count`` sends at the current share,
        starting at most ``max_ahead`` seconds from now (else ``Deferred``: come back then)."""
        now = self._now()
        return self.deps.throttle.reserve_rate(
            queue_bucket(self.account_id), count, self.share(now), now, max_ahead
        )

    def blocked(self, max_wait: float) -> Deferred | None:
        """``Deferred`` when a booking now would be refused — the account's bucket, or the
        platform's after it, booked more than ``max_wait`` ahead (``book``'s own test) — else
        ``None``. One read of both buckets, no write: a message looks before it reads its
        clients and claims its deliveries, so one that cannot send goes back to the queue
        having done neither."""
        now = self._now()
        booked = self.deps.throttle.booked_until([pace_bucket(self.account_id), PLATFORM_BUCKET])
        mine = max(now, booked.get(pace_bucket(self.account_id), now))
        if mine - now > max_wait:
            return Deferred(retry_at=mine - max_wait)
        shared = booked.get(PLATFORM_BUCKET, now)
        if shared - mine > max_wait:
            return Deferred(retry_at=shared - max_wait)
        return None

    def book(self, remaining: int, max_wait: float) -> Group | Deferred:
        """The account's next group: its slots at its share, then — when they are due — the
        same number of platform slots, which the caller sends in at once. ``Deferred`` when
        either bucket is booked more than ``max_wait`` ahead."""
        settings = self.deps.settings
        now = self._now()
        pace = self.share(now)
        size = group_size(
            pace, settings.send_group_seconds, settings.send_group_max, remaining, settings.send_group_min
        )
        ready = max(now + _LATENCY.margin(), self.sent_until)  # when this group could go first
        if may_borrow(self.rate, capacity(self.deps), self.paced_until, ready):
            borrowed = self._borrow(size, pace, ready)
            if borrowed is not None:
                return borrowed
        mine = self.deps.throttle.reserve_rate(pace_bucket(self.account_id), size, pace, now, max_wait)
        if isinstance(mine, Deferred):
            return mine
        self.paced_until = mine.new_tat
        try:
            _REGISTRY.register(self.deps, self.account_id, self.rate, mine.new_tat + SENDING_HORIZON, now)
        except Exception:  # noqa: BLE001 — shares are fairness, not safety: the platform bucket holds
            logger.exception("the registry of senders could not be written")
        wait = mine.start - PLATFORM_LEAD - self._now()
        if wait > 0:
            self.deps.sleep(wait)
        before = self._now()
        at = max(before + _LATENCY.margin(), mine.start)
        shared = self.deps.throttle.reserve_rate(PLATFORM_BUCKET, size, capacity(self.deps), at, max_wait)
        _LATENCY.observe(self._now() - before)
        if isinstance(shared, Deferred):
            # The account's slots stay unused: a gap in this account's own pace, never the platform's.
            return shared
        self.sent_until = shared.new_tat
        return Group(slots=tuple(shared.slot(i) for i in range(size)), pace=pace)

    def _borrow(self, size: int, pace: float, ready: float) -> Group | None:
        """The platform's next slots from ``ready`` on, outside the account's bucket, if nobody
        has booked them — or ``None`` when its next free slot is more than ``BORROW_SLACK``
        later (one read, nothing written)."""
        before = self._now()
        shared = self.deps.throttle.reserve_rate(
            PLATFORM_BUCKET, size, capacity(self.deps), max(ready, before + _LATENCY.margin()), BORROW_SLACK
        )
        _LATENCY.observe(self._now() - before)
        if isinstance(shared, Deferred):
            return None
        self.sent_until = shared.new_tat
        return Group(slots=tuple(shared.slot(i) for i in range(size)), pace=pace)
