"""Least privilege, declared: what each Lambda function of the app may touch.

``FUNCTIONS`` has one entry per function of the Chalice app (the API handler,
and one per ``@app.on_sqs_message`` / ``@app.schedule`` handler, by its Python
name).  ``plan_access`` turns the entries into IAM statements scoped to
exact ARNs — one role per function — and refuses to synthesise when:

- the app has a function without an entry (nobody forgets a new handler);
- an entry names a table, queue, topic or secret that does not exist;
- an entry asks for ``write`` on an append-only table (``consent-events``):
  application roles may only append to the consent ledger; a function marked
  ``erasure=True`` may also ``UpdateItem`` it (GDPR pseudonymisation) and
  nothing may ``DeleteItem`` from it;
- a consumed queue's visibility timeout is not longer than the function's timeout.

What is derived, not declared: the queues a function consumes (its SQS event
sources in the app) and its own log group.  Everything here is plain data and
pure functions, so the rules are unit-tested without synthesising.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.config import SECRET_FIELDS
from infra.config import InfraError

TableLevel = Literal["read", "write", "append"]
EVERY_TABLE = "*"  # key of ``Access.tables``: every table in ALL_MODELS

DYNAMODB_READ = ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query")
DYNAMODB_WRITE = ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
DYNAMODB_APPEND = ("dynamodb:PutItem",)
# Tables whose items application code never changes once written (logical names).  The
# rule applies by name, to any table of ALL_MODELS so named, today or later.
APPEND_ONLY_TABLES = frozenset({"consent-events"})
# What an erasure function may do to an append-only table: pseudonymise items in place.
ERASURE_ACTIONS = ("dynamodb:UpdateItem",)

SQS_CONSUME = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
SQS_SEND = ("sqs:GetQueueUrl", "sqs:SendMessage")
SNS_PUBLISH = ("sns:Publish",)
SES_SEND = ("ses:SendEmail", "ses:SendRawEmail")
# The businesses' sender domains (services/sender_domains.py): SESv2 email identities.
SES_IDENTITIES = (
    "ses:CreateEmailIdentity",
    "ses:DeleteEmailIdentity",
    "ses:GetEmailIdentity",
    "ses:PutEmailIdentityMailFromAttributes",
)
SSM_READ = ("ssm:GetParameters",)
LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")

ALL_SECRETS = tuple(SECRET_FIELDS)


@dataclass(frozen=True)
class Access:
    """What one function may do.  Tables and queues by logical name (``permesso-<stage>-<name>``)."""

    tables: Mapping[str, TableLevel] = field(default_factory=dict)
    send_to: tuple[str, ...] = ()  # queues it sends messages to
    publish_to: tuple[str, ...] = ()  # topics it publishes to
    sends_email: bool = False  # SES SendEmail with the platform's configuration set
    manages_sender_identities: bool = False  # SESv2 identities of the businesses' sender domains
    secrets: tuple[str, ...] = ()  # SSM parameters it reads at cold start (SECRET_FIELDS)
    erasure: bool = False  # may pseudonymise append-only tables (GDPR erasure)
    timeout_seconds: int | None = None  # instead of the Chalice stage's lambda_timeout


def read(*tables: str) -> dict[str, TableLevel]:
    return dict.fromkeys(tables, "read")


def write(*tables: str) -> dict[str, TableLevel]:
    return dict.fromkeys(tables, "write")


def append(*tables: str) -> dict[str, TableLevel]:
    return dict.fromkeys(tables, "append")


# One entry per Lambda function of the app.  A new @app.on_sqs_message / @app.schedule handler
# needs its entry here, or `make infra` stops and says so.
FUNCTIONS: Mapping[str, Access] = {
    # Every HTTP route runs in this one function, GDPR erasure (DELETE /v1/clients/{id}) included:
    # it reaches every table (append-only ones: append, plus the erasure's UpdateItem).
    "api_handler": Access(
        tables=write(EVERY_TABLE),
        send_to=("jobs", "send"),
        sends_email=True,
        # POST/GET/DELETE /v1/sender-domains and POST /v1/accounts (the sender's domain).
        manages_sender_identities=True,
        secrets=ALL_SECRETS,
        erasure=True,
    ),
    # Background jobs: bulk tagging, recipient-list snapshots (docs/data-model.md, jobs).
    # Reactivation segmentation (campaign_segment) reads a campaign's deliveries, writes its list
    # and the campaign's status, tags non-responders or erases them (the erasure's ledger append
    # and suppression, keyed by the e-mail hash).
    "run_jobs": Access(
        tables=write(
            "jobs",
            "clients",
            "client-emails",
            "tag-members",
            "tags",
            "lists",
            "list-members",
            "campaigns",
            "deliveries",
            "suppressions",
        )
        | append("consent-events")
        | read("accounts"),
        # Campaign fan-out (services/fanout.py) writes deliveries and enqueues send batches.
        send_to=("jobs", "send"),
        secrets=("email_hash_key",),
        erasure=True,
    ),
    # Hourly: reactivation campaigns whose wait is over (sparse index on campaigns) get their
    # segmentation job started.
    "segment_due_campaigns": Access(
        tables=write("campaigns", "lists", "jobs") | read("accounts"),
        send_to=("jobs",),
    ),
    # Every minute: scheduled campaigns whose time has come (sparse index on campaigns) pass the
    # consent gate again (reading their audience: clients, tags, lists) and start their fan-out
    # job, or go back to draft.
    "send_scheduled_campaigns": Access(
        tables=write("campaigns", "jobs")
        | read("accounts", "clients", "client-emails", "tag-members", "lists", "list-members"),
        send_to=("jobs",),
    ),
    # Every 15 minutes: a round (a job) for each active automatic campaign (sparse index).
    "run_automatic_campaigns": Access(
        tables=write("campaigns", "jobs") | read("accounts"), send_to=("jobs",)
    ),
    # Every 15 minutes: unfinished jobs of any kind with no chunk attempt for 15 minutes (sparse
    # index on jobs) get their current chunk's message sent again. Every schedule writes jobs:
    # what its Lambda's time does not reach is continued by a job (services/continuations.py).
    "resume_stalled_jobs": Access(tables=write("jobs"), send_to=("jobs",)),
    # Every 15 minutes: campaigns still sending (sparse index on campaigns) whose counters say
    # they are done are finished; one quiet for 15 minutes is checked against its deliveries
    # (its counters repaired). Its markers and counter items are in campaigns and throttle.
    "finish_stalled_campaigns": Access(tables=write("campaigns") | read("deliveries")),
    # Hourly: clients whose automatic status changes by time (sparse index on clients).
    "recompute_auto_status": Access(tables=write("clients", "jobs") | read("accounts"), send_to=("jobs",)),
    # The sending worker (services/sending.py): claims and sends deliveries, paced by the shared
    # throttle buckets; counts into campaigns and account-stats; may pause a campaign or suspend
    # its account (services/suspension.py); re-enqueues late batches. Its reserved concurrency is
    # in infra/config.json.
    "handle_send": Access(
        tables=write("deliveries", "campaigns", "throttle", "account-stats", "accounts")
        | read("clients", "suppressions", "sender-domains"),
        send_to=("send",),
        sends_email=True,
        secrets=("token_keys", "email_hash_key"),
    ),
    # SES notifications (services/ses_events.py): delivery marks and counters; hard bounces and
    # complaints suppress the address with a ledger event (record_consent: client, suppression,
    # ledger append in one transaction); reputation checks may suspend the account.
    # Transactional mail's events are counted once by a marker item in throttle.
    "handle_ses_events": Access(
        tables=write(
            "deliveries", "campaigns", "account-stats", "accounts", "clients", "suppressions", "throttle"
        )
        | append("consent-events")
        | read("client-emails"),
        secrets=("email_hash_key",),
    ),
}


@dataclass(frozen=True)
class QueueEvent:
    """An SQS event source of a function, as named in the packaged template."""

    event_name: str
    queue: str  # physical queue name


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the Chalice app (read from the template Chalice packages)."""

    name: str  # api_handler, or the handler's Python name
    logical_id: str  # its resource in the template: APIHandler, HandleSend…
    timeout: int
    queue_events: tuple[QueueEvent, ...] = ()
    schedules: tuple[str, ...] = ()
    schedule_events: tuple[str, ...] = ()  # the names of its Schedule events in the template


@dataclass(frozen=True)
class Names:
    """Physical names and ARNs of a stage (ARNs as ``Fn::Sub`` strings)."""

    stage: str

    def resource(self, logical: str) -> str:
        return f"permesso-{self.stage}-{logical}"

    def logical(self, physical: str) -> str | None:
        prefix = self.resource("")
        return physical[len(prefix) :] if physical.startswith(prefix) else None

    def function(self, name: str) -> str:
        return self.resource(name.replace("_", "-"))

    @staticmethod
    def arn(service: str, resource: str) -> str:
        return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"

    def table_arn(self, logical: str) -> str:
        return self.arn("dynamodb", f"table/{self.resource(logical)}")

    def queue_arn(self, logical: str) -> str:
        return self.arn("sqs", self.resource(logical))

    def topic_arn(self, logical: str) -> str:
        return self.arn("sns", self.resource(logical))

    def parameter_arn(self, path: str, secret: str) -> str:
        return self.arn("ssm", f"parameter/{path.strip('/')}/{secret}")

    def log_group_arn(self, function: str) -> str:
        return self.arn("logs", f"log-group:/aws/lambda/{self.function(function)}:*")


@dataclass(frozen=True)
class Inventory:
    """What exists to be granted: the stage's tables, queues (with visibility timeouts) and topics."""

    tables: Collection[str]
    indexed_tables: Collection[str]  # tables with a secondary index (Query on table/<name>/index/*)
    queue_visibility: Mapping[str, int]  # logical queue name -> visibility timeout (s)
    topics: Collection[str]
    ses_identity_arns: Sequence[str]  # identities the stage sends from
    configuration_set_arn: str
    secrets_path: str


@dataclass(frozen=True)
class FunctionPlan:
    function: FunctionSpec
    access: Access
    physical_name: str
    timeout: int
    statements: tuple[dict[str, Any], ...]
    consumed_queues: tuple[str, ...]  # logical names

    @property
    def secrets_env(self) -> str:
        """``PERMESSO_SECRETS`` of the function: the only parameters its role can read."""
        return ",".join(self.access.secrets)


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": sorted(set(resources))}


def table_levels(access: Access, tables: Collection[str]) -> dict[str, TableLevel]:
    """Each table the entry grants and at which level; ``EVERY_TABLE`` expanded, append-only
    tables reached through it held to ``append``."""
    levels: dict[str, TableLevel] = {}
    every = access.tables.get(EVERY_TABLE)
    if every is not None:
        for table in tables:
            levels[table] = "append" if table in APPEND_ONLY_TABLES and every == "write" else every
    for table, level in access.tables.items():
        if table != EVERY_TABLE:
            levels[table] = level
    return levels


def _entry_problems(name: str, access: Access, inventory: Inventory) -> list[str]:
    problems = []
    for table, level in access.tables.items():
        if level not in ("read", "write", "append"):
            problems.append(f"{name}: table {table!r} has level {level!r}; use read, write or append")
        if table != EVERY_TABLE and table not in inventory.tables:
            problems.append(
                f"{name}: table {table!r} is not in ALL_MODELS (known: {sorted(inventory.tables)})"
            )
        if table in APPEND_ONLY_TABLES and level == "write":
            problems.append(
                f"{name}: {table!r} is append-only; grant 'append' (PutItem), and erasure=True only to the "
                "function that pseudonymises it (UpdateItem); no function may delete from it"
            )
    for queue in access.send_to:
        if queue not in inventory.queue_visibility:
            problems.append(
                f"{name}: queue {queue!r} is not in QUEUES (known: {sorted(inventory.queue_visibility)})"
            )
    for topic in access.publish_to:
        if topic not in inventory.topics:
            problems.append(f"{name}: topic {topic!r} is not in TOPICS (known: {sorted(inventory.topics)})")
    for secret in access.secrets:
        if secret not in SECRET_FIELDS:
            problems.append(f"{name}: secret {secret!r} is not one of {list(SECRET_FIELDS)}")
    if access.erasure and not APPEND_ONLY_TABLES & set(table_levels(access, inventory.tables)):
        problems.append(f"{name}: erasure=True but it reaches no append-only table")
    return problems


def _statements(
    function: FunctionSpec, access: Access, names: Names, inventory: Inventory, consumed: Sequence[str]
) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    levels = table_levels(access, inventory.tables)
    by_level: dict[str, list[str]] = {}
    for table, table_level in sorted(levels.items()):
        by_level.setdefault(table_level, []).append(table)
    actions = {
        "read": DYNAMODB_READ,
        "append": DYNAMODB_READ + DYNAMODB_APPEND,
        "write": DYNAMODB_READ + DYNAMODB_WRITE,
    }
    for level_name, tables in sorted(by_level.items()):
        arns = [names.table_arn(table) for table in tables]
        statements.append(_statement(f"Tables{level_name.title()}", actions[level_name], arns))
    indexed = sorted(set(levels) & set(inventory.indexed_tables))
    if indexed:  # secondary indexes answer Query only
        index_arns = [names.table_arn(table) + "/index/*" for table in indexed]
        statements.append(_statement("TableIndexesQuery", ("dynamodb:Query",), index_arns))
    erasable = sorted(APPEND_ONLY_TABLES & set(levels)) if access.erasure else []
    if erasable:
        statements.append(
            _statement("ErasurePseudonymise", ERASURE_ACTIONS, [names.table_arn(t) for t in erasable])
        )
    if consumed:
        statements.append(_statement("QueuesConsume", SQS_CONSUME, [names.queue_arn(q) for q in consumed]))
    if access.send_to:
        statements.append(_statement("QueuesSend", SQS_SEND, [names.queue_arn(q) for q in access.send_to]))
    if access.publish_to:
        statements.append(
            _statement("TopicsPublish", SNS_PUBLISH, [names.topic_arn(t) for t in access.publish_to])
        )
    if access.sends_email:
        resources = [*inventory.ses_identity_arns, inventory.configuration_set_arn]
        statements.append(_statement("SesSend", SES_SEND, resources))
    if access.manages_sender_identities:
        # Domains are registered at run time: any identity of this account and region (the
        # configuration set too: CreateEmailIdentity names it as the identity's default).
        resources = [Names.arn("ses", "identity/*"), inventory.configuration_set_arn]
        statements.append(_statement("SesSenderIdentities", SES_IDENTITIES, resources))
    if access.secrets:
        arns = [names.parameter_arn(inventory.secrets_path, secret) for secret in access.secrets]
        statements.append(_statement("SecretsRead", SSM_READ, arns))
    statements.append(_statement("OwnLogs", LOGS_WRITE, [names.log_group_arn(function.name)]))
    return statements


def plan_access(
    functions: Sequence[FunctionSpec], table: Mapping[str, Access], names: Names, inventory: Inventory
) -> dict[str, FunctionPlan]:
    """The IAM plan of every function of the app; ``InfraError`` listing every problem found."""
    problems: list[str] = []
    plans: dict[str, FunctionPlan] = {}
    for function in functions:
        access = table.get(function.name)
        if access is None:
            problems.append(
                f"function {function.name!r} of the app has no entry in infra/access.py FUNCTIONS: add one "
                f'line, e.g. "{function.name}": Access(tables={{"clients": "read"}}, send_to=("jobs",))'
            )
            continue
        entry_problems = _entry_problems(function.name, access, inventory)
        timeout = access.timeout_seconds or function.timeout
        consumed = []
        for event in function.queue_events:
            queue = names.logical(event.queue)
            if queue is None or queue not in inventory.queue_visibility:
                entry_problems.append(
                    f"{function.name}: consumes queue {event.queue!r}, which is not in chalicelib/resources.py QUEUES"
                )
                continue
            visibility = inventory.queue_visibility[queue]
            if visibility <= timeout:
                entry_problems.append(
                    f"{function.name}: queue {queue!r} visibility timeout {visibility}s must be longer than the "
                    f"function's timeout {timeout}s (raise QueueSpec.visibility_timeout_seconds or lower the timeout)"
                )
            consumed.append(queue)
        physical = names.function(function.name)
        if len(physical) > 64:
            entry_problems.append(f"{function.name}: Lambda name {physical!r} is longer than 64 characters")
        problems.extend(entry_problems)
        if not entry_problems:
            statements = _statements(function, access, names, inventory, consumed)
            plans[function.name] = FunctionPlan(
                function, access, physical, timeout, tuple(statements), tuple(consumed)
            )
    if problems:
        raise InfraError("least-privilege check failed:\n  - " + "\n  - ".join(problems))
    return plans
