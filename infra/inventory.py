"""The Lambda functions of the Chalice app, read from the SAM template Chalice packages.

Chalice makes one function for all HTTP routes (``api_handler``) and one per
``@app.on_sqs_message`` / ``@app.schedule`` / ``@app.lambda_function``
handler, with its event sources.  Reading them from the packaged template
(rather than listing them) is what keeps the infrastructure in step with the
code: a new handler appears here by itself, and ``access.plan_access`` then
insists it has a policy entry.
"""

from __future__ import annotations

from typing import Any

from chalice.utils import to_cfn_resource_name

from infra.access import FunctionSpec, QueueEvent
from infra.config import InfraError

API_HANDLER = "api_handler"
API_HANDLER_LOGICAL_ID = "APIHandler"
# Event sources that need no permission on the function's role (EventBridge invokes it).
_INVOKE_ONLY_EVENTS = frozenset({"Schedule", "CloudWatchEvent"})


def _queue_name(queue: Any) -> str:
    """The queue's name from an event's ``Queue``: a plain ARN or ``Fn::Sub`` of one."""
    arn = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(arn, str) or ":sqs:" not in arn:
        raise InfraError(f"cannot read the queue of an SQS event source: {queue!r}")
    return arn.rsplit(":", 1)[1]


def _function_name(logical_id: str, handler: str) -> str:
    if logical_id == API_HANDLER_LOGICAL_ID:
        return API_HANDLER
    name = handler.rsplit(".", 1)[-1]
    if to_cfn_resource_name(name) != logical_id:
        raise InfraError(
            f"function {logical_id} (handler {handler}) is not named after its handler: give "
            "@app.lambda_function the handler's own name so its policy entry can find it"
        )
    return name


def functions_in(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every ``AWS::Serverless::Function`` of the template, with its queues and schedules."""
    functions = []
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        queue_events, schedules, schedule_events = [], [], []
        for event_name, event in sorted(properties.get("Events", {}).items()):
            kind, event_properties = event.get("Type"), event.get("Properties", {})
            if kind == "SQS":
                queue_events.append(QueueEvent(event_name, _queue_name(event_properties.get("Queue"))))
            elif kind == "Schedule":
                schedules.append(str(event_properties.get("Schedule")))
                schedule_events.append(event_name)
            elif kind not in _INVOKE_ONLY_EVENTS:
                raise InfraError(
                    f"function {logical_id} has a {kind} event source, which infra/ does not grant yet: "
                    "extend infra/inventory.py and infra/access.py"
                )
        functions.append(
            FunctionSpec(
                name=_function_name(logical_id, str(properties.get("Handler", ""))),
                logical_id=logical_id,
                timeout=int(properties.get("Timeout", 60)),
                queue_events=tuple(queue_events),
                schedules=tuple(schedules),
                schedule_events=tuple(schedule_events),
            )
        )
    if not functions:
        raise InfraError("the packaged Chalice app has no Lambda function")
    return functions
