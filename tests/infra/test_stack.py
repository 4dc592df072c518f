"""The synthesised template, checked against the code it is derived from.

Tables are checked for every model of ``ALL_MODELS`` and queues for every
entry of ``QUEUES``: what later work adds is checked without touching these
tests.  ``prod`` is the real app with infra/config.json; ``workers`` the
fixture app (SQS and schedule handlers) with deletion protection off.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.resources import DLQ_RETENTION_SECONDS, DLQ_SUFFIX, QUEUES, SES_CONFIGURATION_SET, TOPICS
from chalicelib.storage.models import ALL_MODELS
from infra.access import APPEND_ONLY_TABLES, DYNAMODB_READ, DYNAMODB_WRITE, FUNCTIONS, SQS_SEND, Names
from infra.config import InfraError
from infra.stack import (
    ACCOUNTS_SUSPENDED_METRIC,
    ROLE_PLACEHOLDER,
    SEND_ERRORS_METRIC,
    SENDING_BLOCKED_METRIC,
    hash_first,
)
from tests.infra.conftest import WORKER_CONCURRENCY, Synth, synthesise, worker_access

NAMES = Names("prod")
BOTH = ["prod", "workers"]


@pytest.fixture(params=BOTH)
def synth(request: pytest.FixtureRequest) -> Synth:
    result: Synth = request.getfixturevalue(request.param)
    return result


def logical_name(model: Any) -> str:
    logical = NAMES.logical(model.Meta.table_name)
    assert logical, model
    return logical


def table_resource(synth: Synth, model: Any) -> dict[str, Any]:
    tables = synth.resources("AWS::DynamoDB::Table")
    found = [t for t in tables.values() if t["Properties"]["TableName"] == model.Meta.table_name]
    assert len(found) == 1, f"{model.Meta.table_name}: {len(found)} tables"
    return found[0]


def sub(value: Any) -> str:
    """The text of an ``Fn::Sub`` ARN (or a plain string)."""
    if isinstance(value, str):
        return value
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else json.dumps(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allow_statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    """Every Allow statement of the template: role policies, managed policies, resource policies."""
    found = []
    for key, resource in synth.json["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    found.append((key, statement))
    return found


def function_roles(synth: Synth) -> dict[str, str]:
    """Chalice function name -> logical id of its role."""
    roles = {}
    for plan in synth.stack.plans.values():
        function = synth.json["Resources"][plan.function.logical_id]
        role = function["Properties"]["Role"]
        assert isinstance(role, dict) and role["Fn::GetAtt"][1] == "Arn", role
        roles[plan.function.name] = role["Fn::GetAtt"][0]
    return roles


# --- tables -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_model_is_a_table_of_the_same_shape(prod: Synth, model: Any) -> None:
    properties = table_resource(prod, model)["Properties"]
    schema = model._get_schema()
    assert properties["KeySchema"] == hash_first(schema["key_schema"])
    assert sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        schema["attribute_definitions"], key=lambda a: a["AttributeName"]
    )
    expected_gsis = {
        index["index_name"]: (hash_first(index["key_schema"]), index["projection"])
        for index in schema.get("global_secondary_indexes", [])
    }
    actual_gsis = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in properties.get("GlobalSecondaryIndexes", [])
    }
    assert actual_gsis == expected_gsis
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in properties


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_table_has_point_in_time_recovery_and_its_ttl(synth: Synth, model: Any) -> None:
    properties = table_resource(synth, model)["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    ttl = model._ttl_attribute()
    if ttl is None:
        assert "TimeToLiveSpecification" not in properties
    else:
        assert properties["TimeToLiveSpecification"] == {"AttributeName": ttl.attr_name, "Enabled": True}


def test_partition_key_comes_first_in_every_key_schema(synth: Synth) -> None:
    for table in synth.resources("AWS::DynamoDB::Table").values():
        schemas = [table["Properties"]["KeySchema"]]
        schemas += [index["KeySchema"] for index in table["Properties"].get("GlobalSecondaryIndexes", [])]
        for schema in schemas:
            assert schema[0]["KeyType"] == "HASH", table["Properties"]["TableName"]


def test_a_sort_key_named_before_its_partition_key_is_reordered() -> None:
    """PynamoDB orders key attributes by name; CloudFormation wants HASH first."""
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    class Membership(Model):
        class Meta:
            table_name = "permesso-prod-memberships"

        list_id = UnicodeAttribute(hash_key=True)
        client_id = UnicodeAttribute(range_key=True)

    schema = Membership._get_schema()["key_schema"]
    assert [key["KeyType"] for key in schema] == ["RANGE", "HASH"]  # what moto tolerates
    assert [key["AttributeName"] for key in hash_first(schema)] == ["list_id", "client_id"]


def test_the_throttle_table_expires_its_windows(prod: Synth) -> None:
    """At least one model uses TTL today, so the TTL branch above is exercised."""
    prod.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "permesso-prod-throttle",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_prod_tables_are_protected_and_retained(prod: Synth, workers: Synth, model: Any) -> None:
    protected = table_resource(prod, model)
    assert protected["Properties"]["DeletionProtectionEnabled"] is True
    assert protected["DeletionPolicy"] == "Retain"
    assert protected["UpdateReplacePolicy"] == "Retain"
    unprotected = table_resource(workers, model)
    assert unprotected["Properties"]["DeletionProtectionEnabled"] is False
    assert unprotected["DeletionPolicy"] == "Delete"


def test_no_table_outside_the_models(prod: Synth) -> None:
    names = {t["Properties"]["TableName"] for t in prod.resources("AWS::DynamoDB::Table").values()}
    assert names == {model.Meta.table_name for model in ALL_MODELS}


# --- queues and topics ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", QUEUES, ids=lambda q: q.name)
def test_every_queue_has_a_dead_letter_queue_and_an_alarm_on_it(prod: Synth, spec: Any) -> None:
    queues = prod.resources("AWS::SQS::Queue")
    by_name = {q["Properties"]["QueueName"]: (key, q["Properties"]) for key, q in queues.items()}
    dlq_key, dlq = by_name[NAMES.resource(spec.name + DLQ_SUFFIX)]
    _, queue = by_name[NAMES.resource(spec.name)]
    assert queue["VisibilityTimeout"] == spec.visibility_timeout_seconds
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_key, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert dlq["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    prod.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": NAMES.resource(f"{spec.name}{DLQ_SUFFIX}-not-empty"),
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_key, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [{"Ref": Match.string_like_regexp("^AlarmTopic")}],
        },
    )


def test_queue_count_matches_the_shared_list(prod: Synth) -> None:
    # Each queue and its dead-letter queue, and the schedules' dead-letter queue.
    prod.template.resource_count_is("AWS::SQS::Queue", 2 * len(QUEUES) + 1)


@pytest.mark.parametrize("spec", TOPICS, ids=lambda t: t.name)
def test_topics_and_their_queue_subscriptions(prod: Synth, spec: Any) -> None:
    prod.template.has_resource_properties("AWS::SNS::Topic", {"TopicName": NAMES.resource(spec.name)})
    if spec.subscribed_queue:
        prod.template.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "sqs", "RawMessageDelivery": False}
        )
        policies = [
            s
            for _, s in allow_statements(prod)
            if s.get("Principal") == {"Service": "sns.amazonaws.com"} and s["Action"] == "sqs:SendMessage"
        ]
        assert len(policies) == 1 and "ArnEquals" in policies[0]["Condition"]


def test_ses_configuration_set_sends_its_events_to_the_topic(prod: Synth) -> None:
    name = NAMES.resource(SES_CONFIGURATION_SET)
    prod.template.has_resource_properties("AWS::SES::ConfigurationSet", {"Name": name})
    destination = next(iter(prod.resources("AWS::SES::ConfigurationSetEventDestination").values()))
    properties = destination["Properties"]
    assert properties["ConfigurationSetName"] == name
    events = properties["EventDestination"]["MatchingEventTypes"]
    assert {"send", "bounce", "complaint", "reject"} <= set(events)
    assert "delivery" not in events  # a second per-e-mail event that nothing needs
    topic_ref = properties["EventDestination"]["SnsDestination"]["TopicARN"]["Ref"]
    assert prod.json["Resources"][topic_ref]["Properties"]["TopicName"] == NAMES.resource("ses-events")
    ses_publish = [
        s for _, s in allow_statements(prod) if s.get("Principal") == {"Service": "ses.amazonaws.com"}
    ]
    assert len(ses_publish) == 1
    assert f"configuration-set/{name}" in sub(ses_publish[0]["Condition"]["ArnLike"]["AWS:SourceArn"])


def test_sender_domains_are_verified_with_dkim_and_mail_from(workers: Synth) -> None:
    workers.template.has_resource_properties(
        "AWS::SES::EmailIdentity",
        {
            "EmailIdentity": "mail.studio-nova.example",
            "DkimAttributes": {"SigningEnabled": True},
            "MailFromAttributes": {"MailFromDomain": "bounce.mail.studio-nova.example"},
            "ConfigurationSetAttributes": {"ConfigurationSetName": NAMES.resource(SES_CONFIGURATION_SET)},
        },
    )
    outputs = workers.json["Outputs"]
    assert sum(1 for key in outputs if key.startswith("DkimMailStudioNovaExampleRecord")) == 3


# --- functions --------------------------------------------------------------------------------


def test_functions_come_from_the_app(prod: Synth, workers: Synth) -> None:
    from app import app

    assert {f.name for f in prod.stack.functions} == {"api_handler"} | {e.name for e in app.event_sources}
    assert {f.name for f in workers.stack.functions} == {
        "api_handler",
        "handle_send",
        "handle_ses_events",
        "segment_due_campaigns",
    }


def test_every_function_has_its_own_role_name_and_log_group(synth: Synth) -> None:
    roles = function_roles(synth)
    assert len(set(roles.values())) == len(roles)  # one role per function
    for name, plan in synth.stack.plans.items():
        properties = synth.json["Resources"][plan.function.logical_id]["Properties"]
        assert properties["Role"] != ROLE_PLACEHOLDER
        assert properties["FunctionName"] == NAMES.function(name)
        log_group = f"/aws/lambda/{NAMES.function(name)}"
        synth.template.has_resource_properties(
            "AWS::Logs::LogGroup",
            {"LogGroupName": log_group, "RetentionInDays": synth.stack.config.log_retention_days},
        )
    assert ROLE_PLACEHOLDER not in json.dumps(synth.json)
    assert not synth.resources("AWS::IAM::Policy"), "roles carry inline policies only"


def test_sqs_consumers_report_partial_batch_failures_and_wait_for_their_queue(workers: Synth) -> None:
    consumers = [p for p in workers.stack.plans.values() if p.function.queue_events]
    assert {p.function.name for p in consumers} == {"handle_send", "handle_ses_events"}
    for plan in consumers:
        function = workers.json["Resources"][plan.function.logical_id]
        spec = next(q for q in QUEUES if NAMES.resource(q.name) == plan.function.queue_events[0].queue)
        assert function["Properties"]["Timeout"] < spec.visibility_timeout_seconds
        queue_key = next(
            key
            for key, q in workers.resources("AWS::SQS::Queue").items()
            if q["Properties"]["QueueName"] == NAMES.resource(spec.name)
        )
        assert queue_key in function["DependsOn"]
        for event in plan.function.queue_events:
            properties = function["Properties"]["Events"][event.event_name]["Properties"]
            assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_reservation_is_applied_and_its_poller_stays_capped_by_throughput(workers: Synth) -> None:
    plan = workers.stack.plans["handle_send"]
    properties = workers.json["Resources"][plan.function.logical_id]["Properties"]
    assert properties["ReservedConcurrentExecutions"] == WORKER_CONCURRENCY
    (event,) = plan.function.queue_events
    scaling = properties["Events"][event.event_name]["Properties"]["ScalingConfig"]
    assert scaling == {"MaximumConcurrency": workers.stack.config.poller_concurrency("send")}
    assert workers.stack.config.poller_concurrency("send") <= WORKER_CONCURRENCY
    other = workers.stack.plans["handle_ses_events"]
    assert (
        "ReservedConcurrentExecutions"
        not in workers.json["Resources"][other.function.logical_id]["Properties"]
    )


def test_prod_config_reserves_nothing_a_new_account_would_refuse(prod: Synth) -> None:
    """Lambda refuses any reservation that leaves fewer than 100 unreserved: new accounts (quota
    10) refuse every one. Pollers are capped by MaximumConcurrency instead (throughput)."""
    assert prod.stack.config.reserved_concurrency == {}
    assert "handle_send" in FUNCTIONS


def test_a_reservation_below_the_pollers_cap_stops_the_synthesis(tmp_path: Any) -> None:
    with pytest.raises(InfraError, match="reserved concurrency 2 is below its queue's MaximumConcurrency 3"):
        synthesise(tmp_path, reserved_concurrency={"handle_send": 2})


def test_schedules_come_from_the_app(workers: Synth) -> None:
    plan = workers.stack.plans["segment_due_campaigns"]
    assert plan.function.schedules == ("rate(1 hour)",)
    events = workers.json["Resources"][plan.function.logical_id]["Properties"]["Events"]
    assert [e["Properties"]["Schedule"] for e in events.values() if e["Type"] == "Schedule"] == [
        "rate(1 hour)"
    ]


def test_the_stall_sweeper_uses_jobs_and_the_jobs_queue_only(prod: Synth) -> None:
    plan = prod.stack.plans["resume_stalled_jobs"]
    assert plan.function.schedules == ("rate(15 minutes)",)
    granted = {
        (action, resource) for s in plan.statements for action in s["Action"] for resource in s["Resource"]
    }
    jobs = NAMES.table_arn("jobs")
    # It reads the by-stall index and writes a job only to continue what its Lambda's time
    # did not reach.
    assert {(a, r) for a, r in granted if a.startswith("dynamodb:")} == {
        (a, r) for a in DYNAMODB_READ + DYNAMODB_WRITE for r in [jobs]
    } | {("dynamodb:Query", jobs + "/index/*")}
    assert {(a, r) for a, r in granted if a.startswith("sqs:")} == {
        (a, NAMES.queue_arn("jobs")) for a in SQS_SEND
    }
    assert not any(a.startswith(("ses:", "sns:", "ssm:")) for a, _ in granted)


def test_secrets_path_and_per_function_secret_list(synth: Synth) -> None:
    for plan in synth.stack.plans.values():
        variables = synth.json["Resources"][plan.function.logical_id]["Properties"]["Environment"][
            "Variables"
        ]
        assert variables["PERMESSO_SECRETS_PARAMETER_PATH"] == "/permesso/prod"
        assert variables["PERMESSO_STAGE"] == "prod"
        assert variables["PERMESSO_SECRETS"] == ",".join(plan.access.secrets)
        granted = {
            sub(resource).rsplit("/", 1)[1]
            for statement in plan.statements
            if statement["Sid"] == "SecretsRead"
            for resource in statement["Resource"]
        }
        assert granted == set(plan.access.secrets)
    for key, value in synth.json["Resources"].items():  # no secret value is ever in the template
        if value["Type"] == "AWS::Serverless::Function":
            variables = value["Properties"]["Environment"]["Variables"]
            assert not {"PERMESSO_OPERATOR_KEY", "PERMESSO_TOKEN_KEYS", "PERMESSO_EMAIL_HASH_KEY"} & set(
                variables
            ), key


# --- IAM --------------------------------------------------------------------------------------


def test_no_allow_statement_has_a_wildcard_action_or_resource(synth: Synth) -> None:
    statements = allow_statements(synth)
    assert statements
    for key, statement in statements:
        for action in as_list(statement["Action"]):
            assert "*" not in action, (key, statement)
        for resource in as_list(statement.get("Resource", [])):
            assert resource != "*", (key, statement)


def test_roles_are_assumed_by_lambda_only(synth: Synth) -> None:
    """Besides one role per function, only API Gateway's account-wide logging role (access logs,
    AWS's managed policy) exists; SAM adds CodeDeploy's for the gradual deployments."""
    roles = synth.resources("AWS::IAM::Role")
    others = set(roles) - set(function_roles(synth).values())
    assert {
        roles[key]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for key in others
    } == {"apigateway.amazonaws.com"}
    for key, role in roles.items():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if key in others:
            assert "Policies" not in role["Properties"]
            continue
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_append_only_tables_are_written_only_by_erasure_functions(synth: Synth) -> None:
    """For any table whose logical name is append-only (``consent-events``): no role may delete
    from it, and only a function marked ``erasure=True`` may update it."""
    roles = {role: name for name, role in function_roles(synth).items()}
    ledger_tables = {m.Meta.table_name for m in ALL_MODELS if logical_name(m) in APPEND_ONLY_TABLES}
    assert ledger_tables, "the consent ledger exists on this branch"
    checked = 0
    for key, statement in allow_statements(synth):
        resources = [sub(r) for r in as_list(statement.get("Resource", []))]
        hits = [r for r in resources if any(r.endswith(f"table/{t}") for t in ledger_tables)]
        if not hits:
            continue
        actions = set(as_list(statement["Action"]))
        assert "dynamodb:DeleteItem" not in actions and "dynamodb:BatchWriteItem" not in actions, (
            key,
            statement,
        )
        if "dynamodb:UpdateItem" in actions:
            assert synth.stack.plans[roles[key]].access.erasure, (key, statement)
        checked += 1
    assert checked


def test_only_the_api_and_the_segment_job_erase(prod: Synth, workers: Synth) -> None:
    erasers = {name for name, access in FUNCTIONS.items() if access.erasure}
    # GDPR erasure is DELETE /v1/clients/{id}, and a reactivation campaign's non_responder_action
    # "erase" (the campaign_segment job).
    assert erasers == {"api_handler", "run_jobs"}
    ses_events = workers.stack.plans["handle_ses_events"]
    ledger = NAMES.table_arn("consent-events")
    actions = {a for s in ses_events.statements if ledger in s["Resource"] for a in s["Action"]}
    assert "dynamodb:PutItem" in actions and "dynamodb:UpdateItem" not in actions


def test_sending_is_scoped_to_identities_and_the_configuration_set(prod: Synth, workers: Synth) -> None:
    """The businesses' sender domains are created at run time, so IAM allows any identity of
    the account and region, with the platform's configuration set (the application decides
    which business sends as which domain)."""
    config_set = f"configuration-set/{NAMES.resource(SES_CONFIGURATION_SET)}"
    for synth, function in ((prod, "api_handler"), (workers, "handle_send")):
        ses = next(s for s in synth.stack.plans[function].statements if s["Sid"] == "SesSend")
        assert [r.rsplit(":", 1)[-1] for r in ses["Resource"]] == [config_set, "identity/*"]
        assert ses["Action"] == ["ses:SendEmail", "ses:SendRawEmail"]
    assert not any(s["Sid"] == "SesSend" for s in workers.stack.plans["handle_ses_events"].statements)


def test_only_the_api_manages_sender_identities(prod: Synth) -> None:
    managers = {
        name
        for name, plan in prod.stack.plans.items()
        if any(s["Sid"] == "SesSenderIdentities" for s in plan.statements)
    }
    assert managers == {"api_handler"}
    (statement,) = [
        s for s in prod.stack.plans["api_handler"].statements if s["Sid"] == "SesSenderIdentities"
    ]
    assert statement["Action"] == [
        "ses:CreateEmailIdentity",
        "ses:DeleteEmailIdentity",
        "ses:GetEmailIdentity",
        "ses:PutEmailIdentityMailFromAttributes",
    ]
    config_set = f"configuration-set/{NAMES.resource(SES_CONFIGURATION_SET)}"
    assert [r.rsplit(":", 1)[-1] for r in statement["Resource"]] == [config_set, "identity/*"]


# --- alarms and outputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [(SEND_ERRORS_METRIC, 10), (ACCOUNTS_SUSPENDED_METRIC, 1), (SENDING_BLOCKED_METRIC, 1)],
)
def test_custom_metric_alarms(prod: Synth, metric: str, threshold: int) -> None:
    prod.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": SERVICE}],
            "Statistic": "Sum",
            "Threshold": threshold,
            "AlarmActions": [{"Ref": Match.string_like_regexp("^AlarmTopic")}],
        },
    )


def test_api_5xx_rate_alarm_watches_this_stages_api(prod: Synth) -> None:
    api = prod.json["Resources"]["RestAPI"]["Properties"]
    alarm = next(
        a["Properties"]
        for a in prod.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == NAMES.resource("api-5xx-rate")
    )
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert "errors / requests" in expression["Expression"]
    metrics = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert metrics["errors"]["MetricName"] == "5XXError" and metrics["requests"]["MetricName"] == "Count"
    assert metrics["errors"]["Dimensions"] == [
        {"Name": "ApiName", "Value": api["Name"]},
        {"Name": "Stage", "Value": api["StageName"]},
    ]
    assert api["DefinitionBody"]["info"]["title"] == api["Name"] == NAMES.resource("api")
    assert alarm["Threshold"] == prod.stack.config.alarms.api_5xx_rate


def test_every_alarm_notifies_the_alarm_topic(synth: Synth) -> None:
    alarms = synth.resources("AWS::CloudWatch::Alarm")
    # DLQs (and the schedules'), queue ages, 3 per function, one per table, SES 2, API 2, app 5.
    expected = len(QUEUES) + 1 + len(QUEUES) + 3 * len(synth.stack.plans) + len(ALL_MODELS) + 2 + 2 + 5
    assert len(alarms) == expected == len(synth.stack.alarms)
    topic = next(
        k
        for k, t in synth.resources("AWS::SNS::Topic").items()
        if t["Properties"]["TopicName"].endswith("-alarms")
    )
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic}]


def test_outputs_tell_the_operator_where_things_are(prod: Synth) -> None:
    outputs = prod.json["Outputs"]
    assert {"EndpointURL", "AlarmTopicArn", "SecretsParameterPath", "SesConfigurationSetName"} <= set(outputs)
    assert outputs["SecretsParameterPath"]["Value"] == "/permesso/prod"


def test_the_api_does_not_serve_the_local_outbox(prod: Synth) -> None:
    paths = prod.json["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert "/v1/clients" in paths
    assert not [path for path in paths if path.startswith("/dev")]


# --- refusals ---------------------------------------------------------------------------------


def test_a_handler_without_a_policy_entry_stops_the_synthesis(tmp_path: Any) -> None:
    import shutil

    from tests.infra.conftest import FIXTURE_APP

    source = tmp_path / "app"
    shutil.copytree(FIXTURE_APP, source)
    access = worker_access()
    del access["handle_ses_events"]
    with pytest.raises(InfraError, match="'handle_ses_events' of the app has no entry"):
        synthesise(tmp_path, source_dir=source, access=access)


def test_reserved_concurrency_must_name_a_known_function(tmp_path: Any) -> None:
    with pytest.raises(InfraError, match="reserved_concurrency names \\['handle_sned'\\]"):
        synthesise(tmp_path, reserved_concurrency={"handle_sned": 3})
