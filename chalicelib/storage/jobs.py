"""Background jobs: creation, the chunk lease, and conditional progress commits.

Every state change is conditional on ``seq`` (the number of committed
chunks), so a redelivered or duplicated chunk message can neither commit a
chunk twice nor overwrite newer progress.  Running a chunk needs the lease
(``lease_owner``/``lease_until``); a worker killed mid-chunk leaves a lease
that expires, and the chunk's redelivered message runs it again from the
saved cursor.

While a job is unfinished it carries the keys of the sparse ``by-stall`` index
(``stall_shard``, ``last_attempt_at``): every write that records a chunk
attempt moves ``last_attempt_at``, and the write that finishes the job (done or
failed) removes both in the same ``UpdateItem``, so the index holds exactly the
unfinished jobs and the stall sweeper reads nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.domain.jobs import DONE, FAILED, QUEUED, RUNNING, Job
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage.conversions import Position, loaded_time, position_of, start_after, stored_time
from chalicelib.storage.models import STALL_SHARDS, JobModel, JobPartModel, shard_names, shard_of
from chalicelib.storage.transactions import Transaction


def stall_shard(job_id: str) -> str:
    return shard_of(job_id, STALL_SHARDS)


def _conditional_failed(exc: PutError | UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _to_record(item: JobModel) -> Job:
    return Job(
        account_id=item.account_id,
        job_id=item.job_id,
        kind=item.kind,
        params=json.loads(item.params),
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        status=item.status,
        done=int(item.done or 0),
        total=None if item.total is None else int(item.total),
        cursor=None if item.cursor is None else json.loads(item.cursor),
        result=json.loads(item.result or "{}"),
        errors=None if item.errors is None else json.loads(item.errors),
        error=item.error,
        actor=item.actor,
        seq=int(item.seq or 0),
        enqueued_seq=int(item.enqueued_seq or 0),
        failures=int(item.failures or 0),
    )


def _key(job: Job) -> JobModel:
    return JobModel(job.account_id, job.job_id)


def _attempted(job: Job, now: datetime) -> list[Any]:
    """Keep an unfinished job in the stall index, as attempted ``now``."""
    return [
        JobModel.stall_shard.set(stall_shard(job.job_id)),
        JobModel.last_attempt_at.set(stored_time(now)),
    ]


_STALL_KEYS = ("stall_shard", "last_attempt_at", "account_id", "job_id")  # a by-stall Query's position
_UNINDEXED = [JobModel.stall_shard.remove(), JobModel.last_attempt_at.remove()]


class JobRepository:
    stall_shards = shard_names(STALL_SHARDS)

    def create(self, job: Job) -> Job:
        item = JobModel(
            account_id=job.account_id,
            job_id=job.job_id,
            kind=job.kind,
            status=QUEUED,
            done=job.done,
            total=job.total,
            cursor=None if job.cursor is None else json.dumps(job.cursor, separators=(",", ":")),
            params=json.dumps(job.params, separators=(",", ":")),
            result=json.dumps(job.result, separators=(",", ":")),
            errors=None if job.errors is None else json.dumps(job.errors, separators=(",", ":")),
            seq=0,
            enqueued_seq=0,
            failures=0,
            actor=job.actor,
            created_at=stored_time(job.created_at),
            updated_at=stored_time(job.updated_at),
            stall_shard=stall_shard(job.job_id),
            last_attempt_at=stored_time(job.updated_at),
        )
        try:
            item.save(condition=JobModel.job_id.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                raise Conflict("job id collision; retry") from exc
            raise
        return _to_record(item)

    def get(self, account_id: str, job_id: str, *, consistent: bool = False) -> Job:
        try:
            return _to_record(JobModel.get(account_id, job_id, consistent_read=consistent))
        except DoesNotExist:
            raise NotFound("job not found") from None

    def quiet_since(
        self, shard: str, before: datetime, *, after: Position | None = None, page_size: int = 100
    ) -> Iterator[tuple[Job, Position]]:
        """Each unfinished job of ``shard`` (every account) whose last chunk attempt was at or
        before ``before``, oldest first (after ``after``, the position of an earlier one), with
        its position, read from the sparse ``by-stall`` index alone (it projects the whole
        record). Eventually consistent: a job may have moved on since."""
        results = JobModel.by_stall.query(
            shard,
            JobModel.last_attempt_at <= stored_time(before),
            page_size=page_size,
            last_evaluated_key=start_after(after),
        )
        for item in results:
            yield _to_record(item), position_of(item, _STALL_KEYS)

    def _update(self, job: Job, actions: list[Any], condition: Any) -> bool:
        try:
            _key(job).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def acquire(self, job: Job, owner: str, now: datetime, until: datetime) -> bool:
        """Take the lease for chunk ``job.seq``: only if that chunk is still the next one,
        the job is not finished, and no live lease is held by another worker."""
        condition = (
            (JobModel.seq == job.seq)
            & JobModel.status.is_in(QUEUED, RUNNING)
            & (JobModel.lease_until.does_not_exist() | (JobModel.lease_until < stored_time(now)))
        )
        actions = [
            JobModel.lease_owner.set(owner),
            JobModel.lease_until.set(stored_time(until)),
            JobModel.status.set(RUNNING),
            JobModel.updated_at.set(stored_time(now)),
            *_attempted(job, now),
        ]
        return self._update(job, actions, condition)

    def commit(self, job: Job, owner: str, new: Job, now: datetime) -> bool:
        """Save a chunk's progress (cursor, counts, status) and release the lease, only
        while this worker still holds the lease of chunk ``job.seq``."""
        condition = (JobModel.seq == job.seq) & (JobModel.lease_owner == owner)
        actions = [
            JobModel.seq.set(job.seq + 1),
            JobModel.status.set(new.status),
            JobModel.done.set(new.done),
            JobModel.cursor.set(json.dumps(new.cursor, separators=(",", ":"))),
            JobModel.result.set(json.dumps(new.result, separators=(",", ":"))),
            JobModel.failures.set(0),
            JobModel.lease_owner.remove(),
            JobModel.lease_until.remove(),
            JobModel.updated_at.set(stored_time(now)),
        ]
        if new.total is not None:
            actions.append(JobModel.total.set(new.total))
        if new.errors is not None and new.errors != job.errors:
            actions.append(JobModel.errors.set(json.dumps(new.errors, separators=(",", ":"))))
        actions += _UNINDEXED if new.status in (DONE, FAILED) else _attempted(job, now)
        return self._update(job, actions, condition)

    def fail_attempt(self, job: Job, owner: str, error: str, now: datetime, *, give_up: bool) -> bool:
        """Record a failed chunk attempt and release the lease; ``give_up`` marks the job failed."""
        condition = (JobModel.seq == job.seq) & (JobModel.lease_owner == owner)
        actions = [
            JobModel.failures.add(1),
            JobModel.error.set(error),
            JobModel.lease_owner.remove(),
            JobModel.lease_until.remove(),
            JobModel.updated_at.set(stored_time(now)),
        ]
        if give_up:
            actions += [JobModel.status.set(FAILED), *_UNINDEXED]
        else:
            actions += _attempted(job, now)
        return self._update(job, actions, condition)

    def mark_enqueued(self, job: Job, seq: int) -> bool:
        """Remember that the message for chunk ``seq`` was sent (first sender wins)."""
        return self._update(job, [JobModel.enqueued_seq.set(seq)], JobModel.enqueued_seq < seq)


def _part_key(job_id: str, part: int) -> str:
    return f"{job_id}#part#{part:05d}"


def _mark_key(job_id: str, part: int) -> str:
    return f"{job_id}#mark#{part:05d}"


def _receipt_key(job_id: str, row: int) -> str:
    return f"{job_id}#row#{row:05d}"


def _json(value: Any) -> str:
    # UTF-8 as is (not \u escapes): a part's size is what ``parts_of`` counted
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class JobPartRepository:
    """The data a job carries (``JobPartModel``): its input in parts, and per-row receipts
    written in the same transaction as the row's effect."""

    def put_parts(
        self, account_id: str, job_id: str, parts: Sequence[list[dict[str, Any]]], expires: datetime
    ) -> None:
        """Write the job's input, part ``n`` holding ``parts[n]`` (batched, 25 items a call)."""
        with JobPartModel.batch_write() as batch:
            for number, rows in enumerate(parts):
                batch.save(
                    JobPartModel(account_id, _part_key(job_id, number), rows=_json(rows), expires_at=expires)
                )

    def delete_parts(self, account_id: str, job_id: str, parts: int) -> None:
        """Delete the job's parts and their marks (batched, 25 items a call): its input, which
        holds the rows' personal data, is kept no longer than the job needs it."""
        with JobPartModel.batch_write() as batch:
            for number in range(parts):
                batch.delete(JobPartModel(account_id, _part_key(job_id, number)))
                batch.delete(JobPartModel(account_id, _mark_key(job_id, number)))

    def part(self, account_id: str, job_id: str, number: int) -> list[dict[str, Any]]:
        """Part ``number``'s rows."""
        try:
            item = JobPartModel.get(account_id, _part_key(job_id, number), consistent_read=True)
        except DoesNotExist:
            raise NotFound("the job's input has expired or was never written") from None
        return list(json.loads(item.rows or "[]"))

    def reached(self, account_id: str, job_id: str, number: int) -> int:
        """How many rows of part ``number`` some chunk attempt has begun applying (0: none)."""
        try:
            item = JobPartModel.get(account_id, _mark_key(job_id, number), consistent_read=True)
        except DoesNotExist:
            return 0
        return int(item.reached or 0)

    def reach(self, account_id: str, job_id: str, number: int, rows: int, expires: datetime) -> None:
        """Record, before applying them, that the first ``rows`` rows of part ``number`` may
        run (never lowered: conditional on a smaller value)."""
        try:
            JobPartModel(account_id, _mark_key(job_id, number)).update(
                actions=[JobPartModel.reached.set(rows), JobPartModel.expires_at.set(expires)],
                condition=JobPartModel.reached.does_not_exist() | (JobPartModel.reached < rows),
            )
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def receipts(self, account_id: str, job_id: str, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The receipts of ``rows`` that have one (strongly consistent), by row number."""
        keys = [(account_id, _receipt_key(job_id, row)) for row in dict.fromkeys(rows)]
        found: dict[int, dict[str, Any]] = {}
        for item in JobPartModel.batch_get(keys, consistent_read=True):
            found[int(item.job_id.rsplit("#", 1)[1])] = json.loads(item.outcome or "{}")
        return found

    @staticmethod
    def stage_receipt(
        tx: Transaction,
        account_id: str,
        job_id: str,
        row: int,
        outcome: dict[str, Any],
        expires: datetime,
    ) -> None:
        """Add the row's first receipt to ``tx``: the transaction fails if the row has one."""
        tx.save(
            JobPartModel(account_id, _receipt_key(job_id, row), outcome=_json(outcome), expires_at=expires),
            "receipt",
            condition=JobPartModel.job_id.does_not_exist(),
        )

    @staticmethod
    def stage_receipt_change(
        tx: Transaction,
        account_id: str,
        job_id: str,
        row: int,
        expected: dict[str, Any],
        outcome: dict[str, Any],
    ) -> None:
        """Add to ``tx`` the move of the row's receipt from ``expected`` to ``outcome``: the
        transaction fails if the receipt is no longer ``expected``."""
        tx.update(
            JobPartModel(account_id, _receipt_key(job_id, row)),
            [JobPartModel.outcome.set(_json(outcome))],
            "receipt",
            condition=JobPartModel.outcome == _json(expected),
        )
