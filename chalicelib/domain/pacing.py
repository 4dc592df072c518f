"""One SES rate for every tenant: the maths of sharing it (pure functions).

The platform's SES account accepts at most ``R`` e-mails a second, for all the
businesses together. Three rules keep every 1-second window of *attempted*
sends at or under ``R`` however many accounts send at once, and give each
account a fair share when they want more than there is:

1. **Platform slots are booked just in time, never ahead of use.** The
   platform bucket is a GCRA (``domain.throttle.reserve``) at
   ``R' = safety · R``: a booking of ``g`` sends gets ``g`` slots ``1/R'``
   apart, none earlier than the previous booking's. A sender books a group
   only when it is ready to send it (its next message claimed and built, its
   account slot due), and sends each e-mail at its slot or skips the slot
   (``late_tolerance``). So slots are never held while unused, no booking
   leaves a hole in the future that a later booking cannot fill, and an
   e-mail is never sent outside a platform slot: ``window_bound`` proves the
   1-second bound from the spacing and the tolerance.

2. **Each account is paced at its fair share**, its account slot booked
   *before* its platform slot. Accounts sending now register in a small
   registry (``Sender``: the rate the account may use, until when it is
   sending); ``fair_shares`` divides ``R'`` max-min fairly among them
   (water-filling: an account that wants less than an equal split gets what
   it wants, the rest is split equally among the others). An account's
   bucket runs at its share, so the shares of everyone sending add up to at
   most ``R'``: the platform bucket is the hard limit, the shares keep it
   from becoming a first-come-first-served queue in which the account with
   the most workers would win.

3. **Shares follow who is sending**, one group at a time: an account that
   starts sending registers and every other account's next group is paced at
   the new share; an account that stops drops out when its registration
   expires (a few seconds), and the others' shares grow.

Before this, a batch booked its platform slots and its account slots in two
separate blocks and sent at the later of each pair: when the account's slot
was the later one, the e-mail went out in a platform slot booked by another
account — up to 1.8 R in a simulation with two accounts, 82 SES throttling
refusals in 682 calls on the benchmark (``tests/unit/test_pacing.py``
replays both).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def fair_shares(capacity: float, demands: Mapping[str, float]) -> dict[str, float]:
    """Max-min fair division of ``capacity`` among ``demands`` (each a rate wanted, > 0).

    Nobody gets more than it wants; nobody who gets less than it wants gets less than
    anybody else; when the demands add up to more than ``capacity``, all of it is shared.
    """
    shares: dict[str, float] = {}
    left = capacity
    pending = sorted(demands.items(), key=lambda item: (item[1], item[0]))
    for index, (name, wanted) in enumerate(pending):
        equal = left / (len(pending) - index)
        shares[name] = min(wanted, equal)
        left -= shares[name]
    return shares


@dataclass(frozen=True)
class Sender:
    """An account in the registry of senders: the rate it may use, and until when
    (epoch seconds) it counts as sending."""

    rate: float
    until: float


def load_senders(text: str | None) -> dict[str, Sender]:
    if not text:
        return {}
    raw = json.loads(text)
    return {name: Sender(float(value[0]), float(value[1])) for name, value in raw.items()}


def dump_senders(senders: Mapping[str, Sender]) -> str:
    return json.dumps(
        {name: [s.rate, round(s.until, 3)] for name, s in sorted(senders.items())}, separators=(",", ":")
    )


def live(senders: Mapping[str, Sender], now: float) -> dict[str, Sender]:
    return {name: s for name, s in senders.items() if s.until > now}


def share_of(account: str, rate: float, senders: Mapping[str, Sender], capacity: float, now: float) -> float:
    """The pace of ``account`` (which wants ``rate``) among the live senders, itself included."""
    demands = {name: s.rate for name, s in live(senders, now).items()}
    demands[account] = rate
    return fair_shares(capacity, demands)[account]


def may_borrow(rate: float, capacity: float, paced_until: float, ready: float) -> bool:
    """Whether an account may ask for platform slots beyond its fair share: only while its own
    slots are booked past the moment ``ready`` its next group could go (it waits for its pace,
    not for work), and only if its own ``rate`` is not below the platform's ``capacity`` (an
    account limited below the platform's rate is always held to its own bucket, which is what
    enforces its limit).

    Shares are for a saturated platform. Between two of an account's messages (a worker
    receives the next one and reads its clients: about a second) its share goes unused, and
    at exactly their shares the others cannot take it: it is lost to everybody. So a group
    whose account is ahead of its pace first asks for the platform's slots right after its own
    last ones (``services.pacing.Pacer.book``). They are free only when nobody has booked after
    this account — every sender books just in time, when its own slot is due — and the group
    then goes at once, outside the account's bucket. Otherwise (another account is waiting in
    the platform's line) the request is refused, one read and no write, and the shares hold:
    a borrowed group can never lengthen the line by more than itself."""
    return rate >= capacity and paced_until > ready


def registered(
    senders: Mapping[str, Sender], account: str, rate: float, until: float, now: float, refresh: float
) -> dict[str, Sender] | None:
    """The registry with ``account`` sending at ``rate`` until at least ``until`` — or ``None``
    when the stored entry already says so closely enough (no write needed). Expired
    entries are dropped whenever it is written."""
    current = senders.get(account)
    if current is not None and current.rate == rate and current.until >= until - refresh:
        return None
    updated = live(senders, now)
    updated[account] = Sender(rate, max(until, current.until if current else until))
    return updated


def without(senders: Mapping[str, Sender], account: str, now: float) -> dict[str, Sender] | None:
    """The registry once ``account`` has stopped sending (its campaign finished): its entry
    gone now rather than when it would have expired, so the others' shares grow at once — or
    ``None`` when it holds no entry (no write needed). Expired entries are dropped too."""
    if account not in senders:
        return None
    updated = live(senders, now)
    updated.pop(account, None)
    return updated


def group_size(pace: float, group_seconds: float, group_max: int, remaining: int, group_min: int = 1) -> int:
    """How many sends one booking covers: about ``group_seconds`` of the account's pace, at
    least ``group_min`` (a slow account's group spans more than ``group_seconds``: when ten
    accounts share 14/s, a group of one would mean a booking — three conditional writes — per
    e-mail, and one late wake-up would cost a whole group), at most ``group_max`` and what is
    left to send (and never less than one)."""
    return max(1, min(group_max, remaining, max(group_min, round(pace * group_seconds))))


def late_tolerance(safety: float, configured: float) -> float:
    """How late a send may be for its platform slot. Slots are ``1/(safety·R)`` apart, so a
    1-second window holds the sends of slots within ``1 + T`` seconds: at most
    ``ceil(safety·R·(1 + T))``, which stays within ``R`` while ``T <= 1/safety - 1``
    (0.042 s at 0.96). Half of that is kept for the jitter between the check and SES
    receiving the call."""
    bound = 0.5 * (1.0 / safety - 1.0)
    return min(configured, bound) if bound > 0 else configured


def window_bound(rate: float, safety: float, tolerance: float) -> int:
    """The most sends any 1-second window can hold when every send is at most ``tolerance``
    after its own platform slot (slots ``1/(safety·rate)`` apart)."""
    return math.ceil(safety * rate * (1.0 + tolerance) - 1e-9)


def max_in_window(times: Iterable[float], width: float = 1.0) -> int:
    """The largest number of ``times`` in any half-open window ``[t, t + width)``."""
    ordered: Sequence[float] = sorted(times)
    best, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - width:
            first += 1
        best = max(best, last - first + 1)
    return best
