"""The least-privilege mechanism (infra/access.py) on its own: synthetic functions, no synthesis."""

from __future__ import annotations

from typing import Any

import pytest

from infra.access import (
    APPEND_ONLY_TABLES,
    EVERY_TABLE,
    FUNCTIONS,
    Access,
    FunctionSpec,
    Inventory,
    Names,
    QueueEvent,
    append,
    plan_access,
    read,
    table_levels,
    write,
)
from infra.config import InfraError

NAMES = Names("prod")
TABLES = ("accounts", "clients", "consent-events", "suppressions", "throttle")
INVENTORY = Inventory(
    tables=TABLES,
    indexed_tables=("accounts", "clients"),
    queue_visibility={"jobs": 180, "send": 180, "ses-events": 180},
    topics=("ses-events",),
    ses_identity_arns=(Names.arn("ses", "identity/*"),),
    configuration_set_arn=Names.arn("ses", "configuration-set/permesso-prod-events"),
    secrets_path="/permesso/prod",
)
API = FunctionSpec("api_handler", "APIHandler", timeout=30)


def worker(name: str, *queues: str, timeout: int = 60) -> FunctionSpec:
    logical = "".join(part.title() for part in name.split("_"))
    events = tuple(QueueEvent(f"{logical}Sqs{i}", NAMES.resource(q)) for i, q in enumerate(queues))
    return FunctionSpec(name, logical, timeout=timeout, queue_events=events)


def actions_on(statements: Any, table: str) -> set[str]:
    arn = NAMES.table_arn(table)
    return {action for s in statements if arn in s["Resource"] for action in s["Action"]}


def test_a_function_without_an_entry_stops_synthesis() -> None:
    with pytest.raises(InfraError) as info:
        plan_access([API, worker("handle_bounces", "ses-events")], FUNCTIONS, NAMES, INVENTORY)
    assert "'handle_bounces' of the app has no entry in infra/access.py FUNCTIONS" in str(info.value)


def test_write_on_the_consent_ledger_is_refused_for_any_function() -> None:
    """The mechanism itself refuses the grant: no entry can ask for UpdateItem/DeleteItem on it."""
    for table in APPEND_ONLY_TABLES:
        for erasure in (False, True):
            access = {"api_handler": Access(tables=write(table), erasure=erasure)}
            with pytest.raises(InfraError, match=f"'{table}' is append-only"):
                plan_access([API], access, NAMES, INVENTORY)


def test_every_table_grants_only_append_on_the_ledger_without_erasure() -> None:
    plans = plan_access([API], {"api_handler": Access(tables=write(EVERY_TABLE))}, NAMES, INVENTORY)
    ledger = actions_on(plans["api_handler"].statements, "consent-events")
    assert "dynamodb:PutItem" in ledger
    assert not ledger & {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert "dynamodb:DeleteItem" in actions_on(plans["api_handler"].statements, "clients")


def test_erasure_adds_update_but_never_delete_on_the_ledger() -> None:
    plans = plan_access(
        [API], {"api_handler": Access(tables=write(EVERY_TABLE), erasure=True)}, NAMES, INVENTORY
    )
    ledger = actions_on(plans["api_handler"].statements, "consent-events")
    assert "dynamodb:UpdateItem" in ledger
    assert not ledger & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def test_erasure_flag_needs_an_append_only_table() -> None:
    with pytest.raises(InfraError, match="erasure=True but it reaches no append-only table"):
        plan_access([API], {"api_handler": Access(tables=write("clients"), erasure=True)}, NAMES, INVENTORY)


def test_append_and_read_levels() -> None:
    access = Access(tables=append("consent-events") | read("accounts") | write("clients"))
    plans = plan_access([API], {"api_handler": access}, NAMES, INVENTORY)
    statements = plans["api_handler"].statements
    assert actions_on(statements, "consent-events") == {
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
    }
    assert "dynamodb:PutItem" not in actions_on(statements, "accounts")
    assert actions_on(statements, "suppressions") == set()  # not granted: not reachable
    index = next(s for s in statements if s["Sid"] == "TableIndexesQuery")
    assert index["Action"] == ["dynamodb:Query"]
    assert index["Resource"] == [
        NAMES.table_arn("accounts") + "/index/*",
        NAMES.table_arn("clients") + "/index/*",
    ]


def test_table_levels_expand_every_table() -> None:
    levels = table_levels(Access(tables=read(EVERY_TABLE) | write("throttle")), TABLES)
    assert levels == {**dict.fromkeys(TABLES, "read"), "throttle": "write"}


@pytest.mark.parametrize(
    ("access", "message"),
    [
        (Access(tables=read("campaigns")), "table 'campaigns' is not in ALL_MODELS"),
        (Access(send_to=("outbox",)), "queue 'outbox' is not in QUEUES"),
        (Access(publish_to=("alerts",)), "topic 'alerts' is not in TOPICS"),
        (Access(secrets=("database_password",)), "secret 'database_password' is not one of"),
        (Access(tables={"clients": "admin"}), "has level 'admin'"),  # type: ignore[dict-item]
    ],
)
def test_unknown_names_are_refused(access: Access, message: str) -> None:
    with pytest.raises(InfraError, match=message):
        plan_access([API], {"api_handler": access}, NAMES, INVENTORY)


def test_consumed_queue_gets_consume_actions_and_nothing_more() -> None:
    plans = plan_access([worker("handle_send", "send")], {"handle_send": Access()}, NAMES, INVENTORY)
    statements = {s["Sid"]: s for s in plans["handle_send"].statements}
    assert set(statements) == {"QueuesConsume", "OwnLogs"}
    assert statements["QueuesConsume"]["Resource"] == [NAMES.queue_arn("send")]
    assert "sqs:SendMessage" not in statements["QueuesConsume"]["Action"]
    assert statements["OwnLogs"]["Resource"] == [
        Names.arn("logs", "log-group:/aws/lambda/permesso-prod-handle-send:*")
    ]


def test_visibility_timeout_must_exceed_the_function_timeout() -> None:
    with pytest.raises(
        InfraError, match="visibility timeout 180s must be longer than the function's timeout 180s"
    ):
        plan_access([worker("handle_send", "send", timeout=180)], {"handle_send": Access()}, NAMES, INVENTORY)
    with pytest.raises(InfraError, match="timeout 200s"):
        plan_access(
            [worker("handle_send", "send")], {"handle_send": Access(timeout_seconds=200)}, NAMES, INVENTORY
        )
    plans = plan_access(
        [worker("handle_send", "send", timeout=179)], {"handle_send": Access()}, NAMES, INVENTORY
    )
    assert plans["handle_send"].timeout == 179


def test_a_queue_outside_the_shared_list_is_refused() -> None:
    with pytest.raises(InfraError, match="consumes queue 'permesso-prod-outbox'"):
        plan_access([worker("drain", "outbox")], {"drain": Access()}, NAMES, INVENTORY)


def test_secrets_are_granted_per_parameter() -> None:
    access = Access(secrets=("email_hash_key",))
    plans = plan_access([API], {"api_handler": access}, NAMES, INVENTORY)
    plan = plans["api_handler"]
    statement = next(s for s in plan.statements if s["Sid"] == "SecretsRead")
    assert statement["Action"] == ["ssm:GetParameters"]
    assert statement["Resource"] == [Names.arn("ssm", "parameter/permesso/prod/email_hash_key")]
    assert plan.secrets_env == "email_hash_key"


def test_no_statement_of_any_entry_has_a_wildcard_action() -> None:
    functions = [API, worker("run_jobs", "jobs"), worker("handle_send", "send")]
    inventory = Inventory(
        tables=(*TABLES, "jobs", "lists", "list-members", "client-emails", "tag-members", "deliveries",
                "campaigns", "account-stats", "sender-domains", "tags"),
        indexed_tables=INVENTORY.indexed_tables,
        queue_visibility=INVENTORY.queue_visibility,
        topics=INVENTORY.topics,
        ses_identity_arns=INVENTORY.ses_identity_arns,
        configuration_set_arn=INVENTORY.configuration_set_arn,
        secrets_path=INVENTORY.secrets_path,
    )  # fmt: skip
    plans = plan_access(functions, FUNCTIONS, NAMES, inventory)
    assert set(plans) == {"api_handler", "run_jobs", "handle_send"}
    for plan in plans.values():
        for statement in plan.statements:
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in statement["Action"]), statement
            assert all(resource != "*" for resource in statement["Resource"]), statement
