"""A small, generic runner of resumable background jobs over the ``jobs`` SQS queue.

A job is created with its parameters, and a message ``{account_id, job_id,
seq}`` is sent for its first chunk.  The worker Lambda (``run_jobs`` in
app.py) handles one message by running one bounded chunk of the job's kind
from the job's saved cursor, committing the new cursor and counts with a
conditional write, and sending the message for the next chunk.

Why it is safe to kill, retry and redeliver:
- a chunk runs only under the job's lease for that ``seq``; a duplicate
  message that finds a live lease, or an already committed ``seq``, does
  nothing;
- progress is committed only by the lease holder and only for the expected
  ``seq``, so a chunk is counted once; a worker killed mid-chunk leaves its
  message in the queue, which is redelivered after the lease expired, and
  the chunk runs again from the last saved cursor (job kinds make every
  item's effect idempotent, so re-running part of a chunk changes nothing);
- if a worker dies between committing and sending the next message, the
  redelivered old message notices (``enqueued_seq`` < ``seq``) and sends it;
- a chunk that keeps failing marks the job ``failed`` after
  ``MAX_ATTEMPTS`` attempts (before SQS would dead-letter the message);
- if a chunk's message is lost all the same (dead-lettered after repeated
  worker kills, or a send that failed after the progress commit), the job goes
  quiet: the stall sweeper (``resume_stalled_jobs``, a schedule) finds every
  unfinished job with no chunk attempt for ``STALLED`` in a sparse index and
  sends its current chunk's message again.

Job kinds register themselves by name (``register``) with a function that
runs one chunk; this module imports none of them (``services/job_kinds.py``
is the registry the worker's entry point loads).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.jobs import (
    DONE,
    RUNNING,
    Budget,
    ChunkOutcome,
    Job,
    SweepStep,
    add_counters,
    kept_errors,
)
from chalicelib.errors import NotFound
from chalicelib.observability import logger, metrics

QUEUE = "jobs"
LEASE = timedelta(seconds=120)  # shorter than the queue's visibility timeout (180 s)
MAX_ATTEMPTS = 3
# No chunk attempt for this long (well past the lease and the visibility timeout): the job's
# message was lost (e.g. dead-lettered after repeated worker kills) and is sent again.
STALLED = timedelta(minutes=15)

ChunkRunner = Callable[[Deps, Job, Budget], ChunkOutcome]
_KINDS: dict[str, ChunkRunner] = {}
DoneHook = Callable[[Deps, Job], None]
_WHEN_DONE: dict[str, DoneHook] = {}


def register(kind: str, *, when_done: DoneHook | None = None) -> Callable[[ChunkRunner], ChunkRunner]:
    """Register the chunk runner of a job kind: ``run(deps, job, budget) -> ChunkOutcome``.

    The runner starts at ``job.cursor`` (None: the beginning), does at most what
    ``budget`` allows, and must make each item's effect idempotent. ``when_done(deps, job)``
    runs once the job is committed ``done`` (best effort: a cleanup that something else, such
    as a TTL, would also do; its failure is logged and changes nothing)."""

    def decorate(run: ChunkRunner) -> ChunkRunner:
        _KINDS[kind] = run
        if when_done is not None:
            _WHEN_DONE[kind] = when_done
        return run

    return decorate


def start_job(
    deps: Deps,
    account_id: str,
    kind: str,
    params: dict[str, Any],
    total: int | None = None,
    *,
    cursor: Any = None,
    done: int = 0,
    result: dict[str, int] | None = None,
    errors: list[dict[str, Any]] | None = None,
    job_id: str | None = None,
    actor: str | None = None,
) -> Job:
    """Create a job and send the message for its first chunk; ``cursor``, ``done`` and
    ``result`` let a request hand over the work it already did (``errors``: the per-row errors
    it found, for a kind that reports them; at most ``MAX_JOB_ERRORS`` are kept). A caller-chosen ``job_id``
    makes starting idempotent: a second start of the same id raises ``Conflict``. ``actor``
    is who started it (a user_id or key_id; ``None`` for a schedule)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown job kind {kind!r} (its module registers it when imported)")
    now = deps.clock()
    job = deps.jobs.create(
        Job(
            account_id=account_id,
            job_id=job_id or f"job_{ULID()}",
            kind=kind,
            params=params,
            total=total,
            cursor=cursor,
            done=done,
            result=dict(result or {}),
            errors=None if errors is None else kept_errors([], errors),
            actor=actor,
            created_at=now,
            updated_at=now,
        )
    )
    _send(deps, job, 0)
    logger.info("job started", extra={"account_id": account_id, "job_id": job.job_id, "kind": kind})
    metrics.add_metric(name="JobsStarted", unit="Count", value=1)
    return job


def get_job(deps: Deps, account_id: str, job_id: str) -> Job:
    return deps.jobs.get(account_id, job_id)


def resume_if_stalled(deps: Deps, job: Job) -> bool:
    """Send the message of an unfinished job's current chunk again if nothing happened to the
    job for ``STALLED``; a message that was not lost after all is then a harmless duplicate."""
    if job.finished or deps.clock() - job.updated_at < STALLED:
        return False
    _send(deps, job, job.seq)
    logger.warning(
        "stalled job resumed",
        extra={"account_id": job.account_id, "job_id": job.job_id, "kind": job.kind, "seq": job.seq},
    )
    return True


def stalled_step(deps: Deps, cursor: Any, budget: Budget) -> SweepStep:
    """The stall sweeper (a schedule, continued by a job when its Lambda's time runs out):
    resume every unfinished job, of any account, whose last chunk attempt is ``STALLED`` old
    or older.

    Reads only the sparse ``by-stall`` index (unfinished jobs; finished and failed ones
    are not in it), shard by shard, from ``cursor`` (``{"shard": i, "after": position}``).
    Each job gets its own current chunk's message, which names its own account, so nothing
    crosses accounts. When ``budget`` is spent it answers the position after the last job
    it looked at, where the continuation starts."""
    now = deps.clock()
    start = cursor or {"shard": 0, "after": None}
    shards = deps.jobs.stall_shards
    seen = resumed = 0
    for index in range(int(start["shard"]), len(shards)):
        after = start["after"] if index == int(start["shard"]) else None
        for job, position in deps.jobs.quiet_since(shards[index], now - STALLED, after=after):
            if budget.spent(seen):
                return SweepStep(
                    cursor={"shard": index, "after": after}, done=seen, counters={"resumed": resumed}
                )
            if resume_if_stalled(deps, job):
                resumed += 1
            seen += 1
            after = position
    if resumed:
        metrics.add_metric(name="StalledJobsResumed", unit="Count", value=resumed)
    return SweepStep(cursor=None, done=seen, counters={"resumed": resumed})


def _send(deps: Deps, job: Job, seq: int) -> None:
    deps.queue.send(QUEUE, {"account_id": job.account_id, "job_id": job.job_id, "seq": seq})


def _send_next(deps: Deps, job: Job, seq: int) -> None:
    _send(deps, job, seq)
    deps.jobs.mark_enqueued(job, seq)


def handle_message(deps: Deps, body: dict[str, Any], context: Any = None) -> str:
    """Run the chunk a message asks for; returns what happened (for logs and tests). The job's
    kind must be registered (``services.job_kinds.load``, called by the worker's entry point).

    The chunk's time is what the Lambda invocation has left (``context``; the configured
    timeout where there is none) minus the safety margin, and at most ``job_chunk_seconds``;
    what it does not reach is the next chunk's, sent as a message with the saved cursor."""
    account_id, job_id, seq = str(body["account_id"]), str(body["job_id"]), int(body["seq"])
    try:
        job = deps.jobs.get(account_id, job_id, consistent=True)
    except NotFound:
        logger.warning("job message for an unknown job", extra={"job_id": job_id})
        return "unknown"
    if job.finished:
        return "finished"
    if seq < job.seq:
        if job.enqueued_seq < job.seq:
            # The worker that committed chunk seq-1 died before sending this chunk's message.
            _send_next(deps, job, job.seq)
            return "resent"
        return "stale"
    if seq > job.seq:
        return "stale"
    now = deps.clock()
    owner = uuid.uuid4().hex
    if not deps.jobs.acquire(job, owner, now, now + LEASE):
        return "busy"  # another worker runs this chunk; its message stays until it is done
    settings = deps.settings
    budget = Budget.for_lambda(
        settings.job_chunk_items,
        context,
        settings.lambda_timeout_seconds,
        cap_seconds=settings.job_chunk_seconds,
    )
    try:
        outcome = _KINDS[job.kind](deps, job, budget)
    except Exception as exc:
        give_up = job.failures + 1 >= MAX_ATTEMPTS
        deps.jobs.fail_attempt(job, owner, type(exc).__name__, deps.clock(), give_up=give_up)
        logger.exception("job chunk failed", extra={"job_id": job_id, "kind": job.kind, "give_up": give_up})
        if give_up:
            metrics.add_metric(name="JobsFailed", unit="Count", value=1)
            return "failed"
        raise  # SQS redelivers the message after the visibility timeout
    done = job.done + outcome.done
    total = outcome.total if outcome.total is not None else (done if outcome.finished else job.total)
    new = replace(
        job,
        status=DONE if outcome.finished else RUNNING,
        cursor=outcome.cursor,
        done=done,
        total=total,
        result=add_counters(job.result, outcome.counters),
        errors=kept_errors(job.errors, outcome.errors),
    )
    if not deps.jobs.commit(job, owner, new, deps.clock()):
        logger.warning("job lease lost; the chunk will run again", extra={"job_id": job_id})
        return "lost_lease"
    if outcome.finished:
        logger.info("job done", extra={"job_id": job_id, "kind": job.kind, "done": done})
        hook = _WHEN_DONE.get(job.kind)
        if hook is not None:
            try:
                hook(deps, new)
            except Exception:  # noqa: BLE001 — the job is done; what the hook cleans up expires anyway
                logger.exception("job done hook failed", extra={"job_id": job_id, "kind": job.kind})
        return "done"
    _send_next(deps, replace(new, seq=job.seq + 1), job.seq + 1)
    return "chunk"


def handle_sqs_event(deps: Deps, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The worker Lambda's body: each record is one chunk; failed records are reported
    back (partial batch response) so only they are redelivered."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def record_handler(record: Any) -> str:
        return handle_message(deps, json.loads(record.body), context)

    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
