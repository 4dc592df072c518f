"""A stand-in for the Chalice app as it grows: the worker functions later issues add.

The infrastructure tests package it with ``chalice.cdk`` to prove that SQS
consumers and schedules are found, granted and wired without anyone listing
them.  It imports nothing but the settings, so packaging it is quick.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib.config import get_settings

app = Chalice(app_name="permesso")
settings = get_settings()


@app.route("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.on_sqs_message(queue=settings.resource_name("send"), batch_size=10)
def handle_send(event: Any) -> dict[str, list[Any]]:
    return {"batchItemFailures": []}


@app.on_sqs_message(queue=settings.resource_name("ses-events"), batch_size=10)
def handle_ses_events(event: Any) -> dict[str, list[Any]]:
    return {"batchItemFailures": []}


@app.schedule("rate(1 hour)")
def segment_due_campaigns(event: Any) -> None:
    return None
