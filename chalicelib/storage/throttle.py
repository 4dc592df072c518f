"""Fixed-window counters in the shared ``throttle`` table (conditional ``ADD``).

One item per (subject, window): the first hit creates it, every hit adds one
while the count is below the limit, and DynamoDB's TTL deletes it after the
window. The condition makes the limit exact across any number of concurrent
Lambdas; a refused hit is not counted.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.domain.pacing import Sender, dump_senders, load_senders
from chalicelib.domain.throttle import Deferred, Reservation, cap_allows, reserve
from chalicelib.storage.models import ThrottleModel

_CAS_ATTEMPTS = 20


class ThrottleRepository:
    def hit_window(self, bucket: str, limit: int, expires_at: datetime) -> bool:
        """Count one hit in window ``bucket``; ``False`` (not counted) once ``limit`` is reached."""
        item = ThrottleModel(bucket)
        try:
            item.update(
                actions=[ThrottleModel.count.add(1), ThrottleModel.expires_at.set(expires_at)],
                condition=ThrottleModel.count.does_not_exist() | (ThrottleModel.count < limit),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_once(self, bucket: str, now: datetime, period_seconds: int) -> bool:
        """``True`` (and the mark set to ``now``) unless ``bucket`` was marked less than
        ``period_seconds`` before ``now``. The time is compared in the condition, not left to
        TTL: DynamoDB deletes expired items up to days late (the emulator never does)."""
        at = now.timestamp()
        try:
            ThrottleModel(bucket).update(
                actions=[
                    ThrottleModel.marked_at.set(at),
                    ThrottleModel.expires_at.set(_epoch(at + period_seconds)),
                ],
                condition=ThrottleModel.marked_at.does_not_exist()
                | (ThrottleModel.marked_at <= at - period_seconds),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def window_count(self, bucket: str) -> int:
        """How many hits window ``bucket`` has counted so far (0 if none)."""
        try:
            return int(ThrottleModel.get(bucket, consistent_read=True).count or 0)
        except DoesNotExist:
            return 0

    def reserve_rate(
        self, bucket: str, count: int, rate: float, now: float, max_wait: float
    ) -> Reservation | Deferred:
        """Book ``count`` send slots in GCRA bucket ``bucket`` (shared by every worker).

        Read the bucket's ``tat``, compute the reservation (``domain.throttle.reserve``),
        and write the new ``tat`` conditional on the old one (compare-and-set), so two
        workers can never book the same slot; a lost race re-reads and tries again.
        """
        for _ in range(_CAS_ATTEMPTS):
            try:
                item = ThrottleModel.get(bucket, consistent_read=True)
                old = float(item.tat) if item.tat is not None else None
            except DoesNotExist:
                old = None
            outcome = reserve(old, now, count, rate, max_wait)
            if isinstance(outcome, Deferred):
                return outcome
            condition = ThrottleModel.tat.does_not_exist() if old is None else ThrottleModel.tat == old
            try:
                ThrottleModel(bucket).update(
                    actions=[
                        ThrottleModel.tat.set(outcome.new_tat),
                        ThrottleModel.expires_at.set(_epoch(outcome.new_tat + 86400)),
                    ],
                    condition=condition,
                )
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue
                raise
            return outcome
        return Deferred(retry_at=now + 1.0)

    def booked_until(self, buckets: list[str]) -> dict[str, float]:
        """The ``tat`` of each GCRA bucket that has one (one consistent batch read): how far
        ahead its slots are booked."""
        found: dict[str, float] = {}
        for item in ThrottleModel.batch_get(
            buckets, consistent_read=True, attributes_to_get=["bucket", "tat"]
        ):
            if item.tat is not None:
                found[item.bucket] = float(item.tat)
        return found

    def take_from_cap(self, bucket: str, count: int, cap: int, expires_at: datetime) -> int:
        """Admit up to ``count`` sends in fixed window ``bucket`` of size ``cap``; how many were.

        The ``ADD`` is conditional on the window still having room for them, so the
        cap holds exactly across concurrent workers. The first attempt asks for all of
        them without reading the count; only a refused one reads it to admit the rest."""
        used: int | None = None  # first try without a read: the window usually has room
        for _ in range(_CAS_ATTEMPTS):
            if used is None:
                admitted = min(count, cap)
            else:
                admitted = cap_allows(used, count, cap)
            if admitted == 0:
                return 0
            try:
                ThrottleModel(bucket).update(
                    actions=[ThrottleModel.count.add(admitted), ThrottleModel.expires_at.set(expires_at)],
                    condition=ThrottleModel.count.does_not_exist() | (ThrottleModel.count <= cap - admitted),
                )
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    try:
                        used = int(ThrottleModel.get(bucket, consistent_read=True).count or 0)
                    except DoesNotExist:
                        used = 0
                    continue
                raise
            return admitted
        return 0

    def release_rate(self, bucket: str, booked_tat: float, new_tat: float) -> bool:
        """Hand back the end of a booking (``tat``: ``booked_tat`` → ``new_tat``) if nobody
        booked after it — conditional on ``tat`` still being ``booked_tat``."""
        try:
            ThrottleModel(bucket).update(
                actions=[ThrottleModel.tat.set(new_tat)], condition=ThrottleModel.tat == booked_tat
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def senders(self, bucket: str) -> tuple[dict[str, Sender], int | None]:
        """The registry of accounts sending now, and its revision (for ``save_senders``)."""
        try:
            item = ThrottleModel.get(bucket, consistent_read=True)
        except DoesNotExist:
            return {}, None
        return load_senders(item.senders), int(item.rev) if item.rev is not None else None

    def save_senders(self, bucket: str, senders: dict[str, Sender], rev: int | None) -> bool:
        """Write the registry if it is still at revision ``rev`` (compare-and-set); ``False``
        when someone wrote it meanwhile (re-read and decide again)."""
        condition = ThrottleModel.rev.does_not_exist() if rev is None else ThrottleModel.rev == rev
        try:
            ThrottleModel(bucket).update(
                actions=[
                    ThrottleModel.senders.set(dump_senders(senders)),
                    ThrottleModel.rev.set((rev or 0) + 1),
                ],
                condition=condition,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def give_back(self, bucket: str, count: int) -> None:
        """Return unused cap admissions (sends that did not happen after all)."""
        if count > 0:
            ThrottleModel(bucket).update(
                actions=[ThrottleModel.count.add(-count)], condition=ThrottleModel.count.exists()
            )


def _epoch(seconds: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, tz=UTC)
