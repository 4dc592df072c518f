"""Scheduled work that never outlives its Lambda: a sweep runs as long as the invocation has time,
and a job continues it from where it stopped.

Every schedule of the app (status recomputation, segmentation of due campaigns, scheduled sends,
automatic rounds, the stall sweeper) is a *sweep*: a function ``step(deps, cursor, budget) ->
SweepStep`` that walks its sparse index from ``cursor`` (``None``: the beginning) for as long as
``budget`` allows and answers where the next stretch starts (``None``: nothing is left). The
scheduled function runs the first stretch with the time the Lambda context has left, minus
``domain.jobs.SAFETY_MARGIN_SECONDS``; when work is left it starts a ``schedule_continuation``
job (under the platform's own account id, which no business has) whose chunks run the same step
from the saved cursor, each within its own invocation's time. Small runs create no job.

A cursor is an index position (the key attributes of the last item handled), so a continuation
resumes exactly after it: nothing is handled twice by one run or skipped. Runs may overlap
(the next hour's run starts while a continuation of the previous one still works): every
sweep's effect is a conditional write or an idempotent start, so an item two runs both see is
changed once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job, SweepStep
from chalicelib.observability import logger
from chalicelib.services import jobs

KIND = "schedule_continuation"
PLATFORM_ACCOUNT = "_platform"  # the jobs of the platform's own schedules (no business has it)
# The most items one scheduled invocation handles before it hands over; time usually binds first.
SCHEDULE_ITEMS = 100_000

Step = Callable[[Deps, Any, Budget], SweepStep]

# The sweeps by name (the schedule's name), found when used: this module imports none of them.
SWEEPS: dict[str, str] = {
    "recompute_auto_status": "chalicelib.services.auto_status:recompute_step",
    "segment_due_campaigns": "chalicelib.services.segmentation:due_step",
    "send_scheduled_campaigns": "chalicelib.services.campaigns:scheduled_step",
    "run_automatic_campaigns": "chalicelib.services.automatic:rounds_step",
    "resume_stalled_jobs": "chalicelib.services.jobs:stalled_step",
}


def _step(name: str) -> Step:
    module, function = SWEEPS[name].split(":")
    step: Step = getattr(importlib.import_module(module), function)
    return step


def run_scheduled(deps: Deps, name: str, context: Any = None) -> dict[str, Any]:
    """The body of a scheduled function: the sweep's first stretch within the Lambda's time
    (the configured timeout without a context), and a continuation job for what is left."""
    budget = Budget.for_lambda(SCHEDULE_ITEMS, context, deps.settings.lambda_timeout_seconds)
    step = _step(name)(deps, None, budget)
    answer: dict[str, Any] = {**step.counters, "complete": step.complete}
    if not step.complete:
        job = jobs.start_job(
            deps,
            PLATFORM_ACCOUNT,
            KIND,
            {"sweep": name},
            cursor=step.cursor,
            done=step.done,
            result=step.counters,
        )
        answer["continued_by"] = job.job_id
        logger.info("scheduled sweep continues in a job", extra={"sweep": name, "job_id": job.job_id})
    return answer


@jobs.register(KIND)
def continue_sweep(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Job kind: the next stretch of a scheduled sweep, from the saved position."""
    step = _step(str(job.params["sweep"]))(deps, job.cursor, budget)
    return ChunkOutcome(cursor=step.cursor, done=step.done, finished=step.complete, counters=step.counters)
