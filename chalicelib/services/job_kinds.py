"""The registry of job kinds: importing a kind's module registers its chunk runner
(``jobs.register``). The composition root (``app.run_jobs``, the worker's entry point) calls
``load`` before running chunks; nothing below it imports this module, so the runner
(``services/jobs.py``) knows no kind and the kinds' modules, which import the runner, are not
imported back by it. A request that starts a job has its kind's module imported already: it
is the module that starts it."""

from __future__ import annotations


def load() -> None:
    """Register every job kind (idempotent: Python imports each module once)."""
    from chalicelib.services import (  # noqa: F401
        audience_counts,
        auto_status,
        automatic,
        bulk_tags,
        continuations,
        fanout,
        imports,
        lists,
        requeue,
        segmentation,
        tags,
    )
