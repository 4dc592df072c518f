"""The platform's SES rate shared by every tenant (``domain/pacing.py``): the maths, and a
simulation of many accounts sending at once with the booking rules the worker uses."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.pacing import (
    Sender,
    dump_senders,
    fair_shares,
    group_size,
    late_tolerance,
    live,
    load_senders,
    max_in_window,
    may_borrow,
    registered,
    share_of,
    window_bound,
    without,
)
from chalicelib.domain.throttle import Reservation, reserve
from chalicelib.services.pacing import BORROW_SLACK

demands = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.floats(0.01, 500), max_size=12)


@given(st.floats(0.5, 1000), demands)
def test_fair_shares_are_max_min_fair(capacity: float, wanted: dict[str, float]) -> None:
    shares = fair_shares(capacity, wanted)
    assert set(shares) == set(wanted)
    assert sum(shares.values()) <= capacity * (1 + 1e-9)
    for name, share in shares.items():
        assert 0 < share <= wanted[name] * (1 + 1e-9)
    if sum(wanted.values()) <= capacity:
        assert shares == pytest.approx(wanted)  # everybody gets what it wants
    else:
        assert sum(shares.values()) == pytest.approx(capacity)  # nothing is left on the table
        for name, share in shares.items():
            if share < wanted[name] * (1 - 1e-9):  # held back: nobody gets more than it
                assert all(share >= other * (1 - 1e-9) for other in shares.values())


def test_fair_shares_examples() -> None:
    assert fair_shares(48, {"a": 1000, "b": 1000, "c": 1000}) == pytest.approx({"a": 16, "b": 16, "c": 16})
    # A slow account gets its own rate; the others split what it leaves.
    assert fair_shares(48, {"a": 1000, "b": 1000, "slow": 2}) == pytest.approx({"a": 23, "b": 23, "slow": 2})
    assert fair_shares(48, {"a": 5}) == {"a": 5}


def test_the_registry_is_written_only_when_it_must_be() -> None:
    senders = {"a": Sender(10.0, 105.0), "old": Sender(10.0, 99.0)}
    assert registered(senders, "a", 10.0, 105.5, now=100.0, refresh=1.5) is None  # close enough
    update = registered(senders, "a", 10.0, 110.0, now=100.0, refresh=1.5)
    assert update == {"a": Sender(10.0, 110.0)}  # extended, and the expired entry dropped
    assert registered(senders, "a", 5.0, 105.0, now=100.0, refresh=1.5) == {"a": Sender(5.0, 105.0)}
    assert registered({}, "b", 3.0, 104.0, now=100.0, refresh=1.5) == {"b": Sender(3.0, 104.0)}
    assert load_senders(dump_senders(senders)) == senders
    assert live(senders, 100.0) == {"a": Sender(10.0, 105.0)}


def test_an_account_that_stops_sending_leaves_the_registry_at_once() -> None:
    senders = {"a": Sender(10.0, 105.0), "b": Sender(10.0, 104.0), "old": Sender(10.0, 99.0)}
    assert without(senders, "a", now=100.0) == {"b": Sender(10.0, 104.0)}  # and the expired dropped
    assert without(senders, "c", now=100.0) is None  # not in it: nothing to write
    assert share_of("b", 1000.0, without(senders, "a", now=100.0) or {}, 14.0, now=100.0) == 14.0


def test_an_account_counts_itself_among_the_senders() -> None:
    senders = {"a": Sender(1000.0, 200.0), "b": Sender(1000.0, 200.0)}
    assert share_of("c", 1000.0, senders, 48.0, now=100.0) == pytest.approx(16.0)
    assert share_of("a", 1000.0, senders, 48.0, now=100.0) == pytest.approx(24.0)
    assert share_of("a", 1000.0, senders, 48.0, now=300.0) == pytest.approx(48.0)  # the others expired


@given(st.floats(0.01, 1000), st.floats(0.1, 5), st.integers(1, 100), st.integers(1, 500), st.integers(1, 25))
def test_group_size_is_bounded(pace: float, seconds: float, most: int, remaining: int, least: int) -> None:
    size = group_size(pace, seconds, most, remaining, least)
    assert 1 <= size <= max(1, min(most, remaining))
    assert size >= min(least, most, remaining)


def test_a_slow_account_books_at_least_the_minimum_group() -> None:
    # Ten accounts sharing 13.44/s get 1.344/s each: a group of one per booking without a floor.
    assert group_size(1.344, 1.0, 25, 140) == 1
    assert group_size(1.344, 1.0, 25, 140, 3) == 3
    assert group_size(1.344, 1.0, 25, 2, 3) == 2  # never more than is left
    assert group_size(13.44, 1.0, 25, 140, 3) == 13  # a fast account's group is its second


@pytest.mark.parametrize("rate", [1, 2, 5, 14, 20, 50, 100, 500, 1000])
def test_sends_at_most_the_tolerance_late_never_exceed_the_rate(rate: int) -> None:
    tolerance = late_tolerance(0.96, 0.05)
    assert tolerance == pytest.approx(0.5 * (1 / 0.96 - 1))
    assert window_bound(rate, 0.96, tolerance) <= rate
    # Worst case: slots 1/R' apart, each send exactly ``tolerance`` late, except the ones that
    # open a window on time.
    interval = 1 / (0.96 * rate)
    slots = [i * interval for i in range(3 * rate + 5)]
    sends = [s + (tolerance if i % 2 else 0) for i, s in enumerate(slots)]
    assert max_in_window(sends) <= rate


def test_max_in_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1


# --- a simulation of the booking rules ---------------------------------------------------------


@dataclass
class Simulated:
    sends: list[tuple[float, str]] = field(default_factory=list)
    borrowed: int = 0  # sends in platform slots taken beyond the account's share

    def times(self, account: str | None = None) -> list[float]:
        return [t for t, a in self.sends if account is None or a == account]


def old_scheme(rate: float, accounts: dict[str, tuple[float, int, float]], batch: int = 25) -> Simulated:
    """The booking before: a batch booked its platform slots and its account slots as two
    blocks from the same moment and sent each e-mail at the later of its two slots."""
    capacity = 0.96 * rate
    platform: float | None = None
    own: dict[str, float | None] = dict.fromkeys(accounts)
    events = [(start, name, count) for name, (start, count, _) in accounts.items()]
    heapq.heapify(events)
    out = Simulated()
    while events:
        now, name, left = heapq.heappop(events)
        n = min(batch, left)
        mine = reserve(own[name], now, n, accounts[name][2], 1e9)
        shared = reserve(platform, now, n, capacity, 1e9)
        assert isinstance(mine, Reservation) and isinstance(shared, Reservation)
        own[name], platform = mine.new_tat, shared.new_tat
        times = [max(mine.slot(i), shared.slot(i)) for i in range(n)]
        out.sends += [(t, name) for t in times]
        if left > n:
            heapq.heappush(events, (times[-1], name, left - n))
    return out


def new_scheme(
    rate: float,
    accounts: dict[str, tuple[float, int, float]],
    *,
    seed: int = 1,
    group_seconds: float = 1.0,
    group_max: int = 25,
    group_min: int = 3,
    horizon: float = 3.0,
    borrow: bool = True,
    window: float = float("inf"),
    gap: float = 0.0,
) -> Simulated:
    """The worker's rules (services/pacing.py): per group, the account's slots at its fair
    share among the registered senders, then — when they are due — the platform's slots,
    each e-mail sent at its platform slot plus a random lateness within the tolerance. With
    ``borrow``, an account ahead of its pace first asks for the platform's slots right after
    its own (``may_borrow``, ``BORROW_SLACK``). With a finite ``window``, an account's sending
    comes in messages: once a message has sent for ``window`` seconds, the account books
    nothing for a random pause of ``gap`` seconds on average (its continuation being received
    and read)."""
    capacity = 0.96 * rate
    tolerance = late_tolerance(0.96, 0.05)
    rng = random.Random(seed)
    platform: float | None = None
    own: dict[str, float | None] = dict.fromkeys(accounts)
    left = {name: count for name, (_, count, _) in accounts.items()}
    senders: dict[str, Sender] = {}
    message_start: dict[str, float] = {}  # when each account's current message began sending
    sent_until: dict[str, float] = {}  # the end of each account's last platform slots
    # (time, order, kind, account, size): "pace" books the account's slots, "platform" the SES's.
    events: list[tuple[float, int, str, str, int]] = []
    order = 0
    for name, (start, _, _) in accounts.items():
        events.append((start, order, "pace", name, 0))
        order += 1
    heapq.heapify(events)
    out = Simulated()
    while events:
        now, _, kind, name, size = heapq.heappop(events)
        wanted = accounts[name][2]
        if kind == "pace":
            opened = message_start.setdefault(name, now)
            if now >= opened + window:  # the message's time is up: its continuation starts later
                del message_start[name]
                heapq.heappush(events, (now + rng.uniform(0, 2 * gap), order, "pace", name, 0))
                order += 1
                continue
            share = share_of(name, wanted, senders, capacity, now)
            size = group_size(share, group_seconds, group_max, left[name], group_min)
            ready = max(now + 0.02, sent_until.get(name, now))
            if borrow and may_borrow(wanted, capacity, own[name] or float("-inf"), ready):
                lent = reserve(platform, ready, size, capacity, BORROW_SLACK)
                if isinstance(lent, Reservation):
                    platform = sent_until[name] = lent.new_tat
                    out.sends += [(lent.slot(i) + rng.uniform(0, tolerance), name) for i in range(size)]
                    out.borrowed += size
                    left[name] -= size
                    if left[name] > 0:
                        heapq.heappush(events, (lent.slot(size - 1), order, "pace", name, 0))
                    order += 1
                    continue
            mine = reserve(own[name], now, size, share, 1e9)
            assert isinstance(mine, Reservation)
            own[name] = mine.new_tat
            senders = registered(senders, name, wanted, mine.new_tat + horizon, now, 1.5) or senders
            left[name] -= size
            heapq.heappush(events, (max(now, mine.start), order, "platform", name, size))
        else:
            shared = reserve(platform, now + 0.02, size, capacity, 1e9)
            assert isinstance(shared, Reservation)
            platform = sent_until[name] = shared.new_tat
            times = [shared.slot(i) + rng.uniform(0, tolerance) for i in range(size)]
            out.sends += [(t, name) for t in times]
            if left[name] > 0:  # the worker books its next group once this one is sent
                heapq.heappush(events, (shared.slot(size - 1), order, "pace", name, 0))
        order += 1
    return out


def fair_window_shares(run: Simulated, names: list[str]) -> dict[str, float]:
    """Each account's share of the sends while every account was sending (from the last
    first send to the first last send)."""
    start = max(min(run.times(n)) for n in names)
    end = min(max(run.times(n)) for n in names)
    counts = {n: sum(1 for t in run.times(n) if start <= t <= end) for n in names}
    total = sum(counts.values())
    return {n: c / total for n, c in counts.items()}


def test_the_old_booking_overshoots_with_two_accounts() -> None:
    """The measured bug: two accounts at 10/s against 14/s went over the SES rate."""
    run = old_scheme(14, {"a": (0.0, 200, 10.0), "b": (0.01, 200, 10.0)})
    assert max_in_window(run.times()) >= 1.4 * 14  # 20 e-mails in a second against 14


@pytest.mark.parametrize("n_accounts", [1, 3, 10])
def test_many_accounts_share_the_rate_fairly_without_exceeding_it(n_accounts: int) -> None:
    rate = 50.0
    accounts = {f"acc{i}": (0.05 * i, 3000 // n_accounts, 1000.0) for i in range(n_accounts)}
    run = new_scheme(rate, accounts, seed=n_accounts)
    assert len(run.sends) == sum(count for _, count, _ in accounts.values())
    assert max_in_window(run.times()) <= rate
    times = sorted(run.times())
    assert (len(times) - 1) / (times[-1] - times[0]) >= 0.93 * rate
    if n_accounts > 1:
        shares = fair_window_shares(run, list(accounts))
        assert all(abs(share * n_accounts - 1) <= 0.10 for share in shares.values()), shares


def test_a_slow_account_gets_its_rate_and_the_others_the_rest() -> None:
    rate = 50.0
    accounts = {"slow": (0.0, 60, 2.0), "a": (0.0, 1500, 1000.0), "b": (0.0, 1500, 1000.0)}
    run = new_scheme(rate, accounts)
    assert max_in_window(run.times()) <= rate
    slow = run.times("slow")
    assert (len(slow) - 1) / (max(slow) - min(slow)) <= 2.0 * 1.05  # never above its own rate
    shares = fair_window_shares(run, ["a", "b"])
    assert abs(shares["a"] - 0.5) <= 0.05


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 8),
    st.sampled_from([2.0, 14.0, 50.0, 100.0]),
    st.lists(st.tuples(st.floats(0, 20), st.integers(1, 300), st.floats(0.2, 2000)), min_size=8, max_size=8),
    st.integers(0, 10_000),
)
def test_no_arrival_pattern_exceeds_the_rate(
    n: int, rate: float, specs: list[tuple[float, int, float]], seed: int
) -> None:
    """Accounts starting at any time, with any size and any own rate: no 1-second window of
    sends ever holds more than the SES rate."""
    accounts = {f"acc{i}": specs[i] for i in range(n)}
    run = new_scheme(rate, accounts, seed=seed)
    assert max_in_window(run.times()) <= rate
    for name, (_, _, own_rate) in accounts.items():
        own = run.times(name)
        # An account never sends more than its own rate over its groups (a group may burst).
        assert max_in_window(own, width=10.0) <= own_rate * 10 + 25 + 1


@pytest.mark.parametrize("n_accounts", [3, 10])
def test_what_one_account_leaves_unused_between_messages_goes_to_the_others(n_accounts: int) -> None:
    """Each account's sending comes in messages of 10 s with a pause of about 2 s between them
    (its continuation received and read). At exactly their shares the others cannot use that
    pause; borrowing the platform's free slots (``may_borrow``) gives them most of it, while
    no second holds more than the rate and the shares stay fair."""
    rate = 14.0
    accounts = {f"acc{i}": (0.05 * i, 1400 // n_accounts, 1000.0) for i in range(n_accounts)}

    def achieved(run: Simulated) -> float:
        times = sorted(run.times())
        return (len(times) - 1) / (times[-1] - times[0]) / rate

    for seed in (1, 2, 3):
        held = new_scheme(rate, accounts, seed=seed, borrow=False, window=10.0, gap=2.0)
        lent = new_scheme(rate, accounts, seed=seed, borrow=True, window=10.0, gap=2.0)
        assert held.borrowed == 0 and lent.borrowed > 0
        assert max_in_window(lent.times()) <= rate
        assert achieved(lent) >= achieved(held) + 0.03, (achieved(held), achieved(lent))
        assert achieved(lent) >= 0.92
        shares = fair_window_shares(lent, list(accounts))
        assert all(abs(share * n_accounts - 1) <= 0.15 for share in shares.values()), shares


def test_an_account_limited_below_the_platform_rate_never_borrows() -> None:
    """The account's own bucket is what holds it to its own rate: an account whose rate is below
    the platform's is never lent platform slots, however idle the platform is."""
    assert not may_borrow(5.0, 13.44, paced_until=100.0, ready=50.0)
    assert may_borrow(1000.0, 13.44, paced_until=100.0, ready=50.0)
    assert not may_borrow(1000.0, 13.44, paced_until=50.0, ready=50.0)  # not ahead of its pace
    rate = 14.0
    run = new_scheme(rate, {"slow": (0.0, 60, 2.0), "big": (0.0, 300, 1000.0)}, window=10.0, gap=1.0)
    slow = run.times("slow")
    assert (len(slow) - 1) / (max(slow) - min(slow)) <= 2.0 * 1.05
