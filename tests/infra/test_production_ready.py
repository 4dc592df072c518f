"""What a first real deploy needs, checked on the synthesised template.

Runtime and package, throughput (every poller capped), the edge (throttling,
access logs, Gateway Responses, WAF), alarms with someone to hear them, the
dashboard, dead-letter targets of the schedules, gradual deployment of the send
worker, and the X-Ray switch. ``prod`` is the real app with infra/config.json;
``hardened`` the same app with every optional switch on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.edge import sam_gateway_responses
from chalicelib.resources import QUEUES
from chalicelib.storage.models import ALL_MODELS
from infra.access import Names
from infra.lambda_package import TARGET
from infra.monitoring import BUSINESS_METRICS
from infra.stack import ACCESS_LOG_FORMAT, LIVE_ALIAS, SCHEDULES_DLQ
from tests.infra.conftest import Synth, synthesise

NAMES = Names("prod")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every switch on: WAF, X-Ray, three kinds of alarm subscriber."""
    from infra.config import load_stage

    base = load_stage("prod")
    return synthesise(
        tmp_path_factory.mktemp("hardened"),
        alarm_email="ops@studio-nova.it",
        alarm_https_endpoints=("https://events.pagerduty.com/integration/abc/enqueue",),
        alarm_slack={"workspace_id": "T0123ABCDEF", "channel_id": "C0123ABCDEF"},
        edge={**base.edge.model_dump(), "waf": True, "tracing": True},
    )


def functions(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.resources("AWS::Serverless::Function")


def alarm_named(synth: Synth, name: str) -> dict[str, Any]:
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        if alarm["Properties"]["AlarmName"] == NAMES.resource(name):
            return dict(alarm["Properties"])
    raise AssertionError(f"no alarm {name}")


def rest_api(synth: Synth) -> dict[str, Any]:
    return dict(synth.json["Resources"]["RestAPI"]["Properties"])


# --- runtime and package ----------------------------------------------------------------------


def test_every_function_runs_python312_on_arm64_from_the_built_package(prod: Synth) -> None:
    assert TARGET.runtime == "python3.12" and TARGET.architecture == "arm64"
    code = set()
    for key, function in functions(prod).items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.12", key
        assert properties["Architectures"] == ["arm64"], key
        code.add(json.dumps(properties["CodeUri"], sort_keys=True))
    assert len(code) == 1  # one package, the one infra/lambda_package.py built
    assert prod.stack.package.name == "deployment.zip"


# --- throughput -------------------------------------------------------------------------------


def test_every_sqs_poller_is_capped_and_nothing_is_reserved(prod: Synth) -> None:
    config = prod.stack.config
    seen = set()
    for plan in prod.stack.plans.values():
        properties = prod.json["Resources"][plan.function.logical_id]["Properties"]
        assert "ReservedConcurrentExecutions" not in properties, plan.function.name  # new accounts refuse it
        for event in plan.function.queue_events:
            queue = NAMES.logical(event.queue)
            scaling = properties["Events"][event.event_name]["Properties"]["ScalingConfig"]
            assert scaling == {"MaximumConcurrency": config.poller_concurrency(queue)}
            seen.add(queue)
    assert seen == {spec.name for spec in QUEUES}
    # The documented formula at the stage's platform rate (.chalice/config.json: 14/s).
    assert config.platform_send_rate == 14
    assert config.poller_concurrency("send") == 3  # ceil(14 / 10) + 1
    assert config.poller_concurrency("ses-events") == 2


# --- the edge ---------------------------------------------------------------------------------


def test_stage_throttling_is_tighter_on_the_public_pages(prod: Synth) -> None:
    edge = prod.stack.config.edge
    settings = rest_api(prod)["MethodSettings"]
    assert settings[0] == {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": edge.rate_per_second,
        "ThrottlingBurstLimit": edge.burst,
    }
    public = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings[1:]}
    from app import app

    expected = {
        (path.replace("/", "~1"), method)
        for path, entries in app.routes.items()
        if path.startswith("/p/")
        for method in entries
    }
    assert set(public) == expected and ("~1p~1{proxy+}", "GET") in expected
    for setting in public.values():
        assert setting["ThrottlingRateLimit"] == edge.public_rate_per_second < edge.rate_per_second
        assert setting["ThrottlingBurstLimit"] == edge.public_burst < edge.burst


def test_access_logs_are_json_without_personal_data_and_kept_for_the_retention(prod: Synth) -> None:
    setting = rest_api(prod)["AccessLogSetting"]
    (group_key,) = [
        key
        for key, group in prod.resources("AWS::Logs::LogGroup").items()
        if setting["DestinationArn"]["Fn::Sub"].endswith(f":log-group:{group['Properties']['LogGroupName']}")
    ]
    group = prod.json["Resources"][group_key]["Properties"]
    assert group["LogGroupName"] == "/aws/apigateway/permesso-prod-api/access"
    assert group["RetentionInDays"] == prod.stack.config.log_retention_days
    assert group_key in prod.json["Resources"]["RestAPI"]["DependsOn"]
    fields = json.loads(setting["Format"])
    assert fields == ACCESS_LOG_FORMAT and fields["requestId"] == "$context.requestId"
    text = setting["Format"]
    for personal in ("sourceIp", "userAgent", "$context.path", "caller", "user"):
        assert personal not in text, personal  # links carry tokens in their path
    # API Gateway needs the account's logging role before a stage may log.
    account = prod.resources("AWS::ApiGateway::Account")
    assert len(account) == 1
    assert next(iter(account)) in prod.json["Resources"]["RestAPI"]["DependsOn"]


def test_gateway_responses_answer_unknown_routes_in_the_error_contract(prod: Synth) -> None:
    responses = rest_api(prod)["GatewayResponses"]
    assert responses == sam_gateway_responses()
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["StatusCode"] == "404"
    assert json.loads(unknown["ResponseTemplates"]["application/json"])["error"]["code"] == "not_found"
    for kind in ("THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX", "WAF_FILTERED"):
        assert kind in responses
    # The app's greedy /p/ route renders the HTML 404; API Gateway wants its parameter declared.
    greedy = rest_api(prod)["DefinitionBody"]["paths"]["/p/{proxy+}"]
    assert greedy["get"]["parameters"] == [
        {"name": "proxy", "in": "path", "required": True, "type": "string"}
    ]


def test_waf_is_off_by_default_and_guards_the_stage_when_on(prod: Synth, hardened: Synth) -> None:
    assert not prod.resources("AWS::WAFv2::WebACL")
    (acl,) = hardened.resources("AWS::WAFv2::WebACL").values()
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    public = rules["PublicPagesRate"]["Statement"]["RateBasedStatement"]
    assert public["Limit"] == hardened.stack.config.edge.waf_public_requests_per_5_minutes
    assert public["AggregateKeyType"] == "IP"
    regex = public["ScopeDownStatement"]["RegexMatchStatement"]["RegexString"]
    assert re.search(regex, "/api/p/forms/x") and re.search(regex, "/p/confirm/t")
    assert not re.search(regex, "/api/v1/clients")
    assert rules["PublicPagesRate"]["Action"] == {"Block": {}}
    (association,) = hardened.resources("AWS::WAFv2::WebACLAssociation").values()
    assert "/restapis/${RestAPI}/stages/api" in association["Properties"]["ResourceArn"]["Fn::Sub"]


# --- alarms, subscribers, dashboard -----------------------------------------------------------


def test_alarms_cover_functions_queues_tables_ses_and_the_api(prod: Synth) -> None:
    config = prod.stack.config.alarms
    for name, plan in prod.stack.plans.items():
        short = name.replace("_", "-")
        errors = alarm_named(prod, f"{short}-errors")
        assert (errors["Namespace"], errors["MetricName"], errors["Threshold"]) == (
            "AWS/Lambda",
            "Errors",
            config.lambda_errors,
        )
        assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": plan.physical_name}]
        assert alarm_named(prod, f"{short}-throttles")["MetricName"] == "Throttles"
        duration = alarm_named(prod, f"{short}-duration")
        assert duration["ExtendedStatistic"] == "p99"
        assert duration["Threshold"] == round(plan.timeout * 1000 * config.lambda_duration_share)
    for spec in QUEUES:
        age = alarm_named(prod, f"{spec.name}-oldest-message")
        assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert age["Threshold"] == 60 * config.queue_age_minutes.get(
            spec.name, config.queue_age_default_minutes
        )
    for model in ALL_MODELS:
        logical = NAMES.logical(model.Meta.table_name)
        throttled = alarm_named(prod, f"{logical}-throttled")
        metrics = {m["Id"]: m["MetricStat"]["Metric"] for m in throttled["Metrics"] if "MetricStat" in m}
        assert {m["MetricName"] for m in metrics.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        assert all(
            m["Dimensions"] == [{"Name": "TableName", "Value": model.Meta.table_name}]
            for m in metrics.values()
        )
    bounce = alarm_named(prod, "ses-bounce-rate")
    assert (bounce["Namespace"], bounce["MetricName"], bounce["Threshold"]) == (
        "AWS/SES",
        "Reputation.BounceRate",
        0.04,
    )
    assert alarm_named(prod, "ses-complaint-rate")["Threshold"] == 0.0008
    assert alarm_named(prod, "api-latency-p99")["ExtendedStatistic"] == "p99"
    assert alarm_named(prod, "double-opt-in-failed")["MetricName"] == "DoubleOptInFailed"
    assert alarm_named(prod, "jobs-failed")["MetricName"] == "JobsFailed"
    assert alarm_named(prod, f"{SCHEDULES_DLQ}-not-empty")["Threshold"] == 0


def test_every_alarm_reaches_the_topic_and_the_topic_reaches_people(prod: Synth, hardened: Synth) -> None:
    for synth in (prod, hardened):
        topic = next(
            key
            for key, t in synth.resources("AWS::SNS::Topic").items()
            if t["Properties"]["TopicName"].endswith("-alarms")
        )
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
    assert not [
        s for s in prod.resources("AWS::SNS::Subscription").values() if s["Properties"]["Protocol"] == "email"
    ]  # nobody in the default config: make deploy-check refuses it
    protocols = {
        s["Properties"]["Protocol"]: s["Properties"]["Endpoint"]
        for s in hardened.resources("AWS::SNS::Subscription").values()
    }
    assert protocols["email"] == "ops@studio-nova.it"
    assert protocols["https"].startswith("https://events.pagerduty.com/")
    (slack,) = hardened.resources("AWS::Chatbot::SlackChannelConfiguration").values()
    assert slack["Properties"]["SlackChannelId"] == "C0123ABCDEF"


def _emitted_metric_names() -> set[str]:
    """Every metric name chalicelib emits: literal names, and f-string names over their enums."""
    from chalicelib.domain.consent import EventType
    from chalicelib.domain.reactivation import Action

    names: set[str] = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'add_metric\(name="([A-Za-z]+)"', text))
        if 'f"Reactivation{' in text:
            names |= {f"Reactivation{a.value.capitalize()}" for a in Action}
        if 'f"Consent{' in text:
            names |= {f"Consent{t.value.capitalize()}" for t in EventType}
    return names


def test_the_dashboard_shows_only_metrics_the_app_emits(prod: Synth) -> None:
    (board,) = prod.resources("AWS::CloudWatch::Dashboard").values()
    assert board["Properties"]["DashboardName"] == NAMES.resource("overview")
    body = json.dumps(board["Properties"]["DashboardBody"])
    emitted = _emitted_metric_names()
    shown = [name for _, names in BUSINESS_METRICS for name in names]
    assert {
        "EmailsSent",
        "SendThrottled",
        "Bounces",
        "Complaints",
        "ReactivationConfirm",
        "ReactivationDecline",
    } <= set(shown)
    for name in shown:
        assert name in emitted, f"{name} is on the dashboard but chalicelib never emits it"
        assert name in body


# --- schedules, gradual deployment, tracing ---------------------------------------------------


def test_every_schedule_has_a_dead_letter_target(prod: Synth) -> None:
    dlq_key = next(
        key
        for key, q in prod.resources("AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"] == NAMES.resource(SCHEDULES_DLQ)
    )
    scheduled = [p for p in prod.stack.plans.values() if p.function.schedules]
    assert scheduled
    for plan in scheduled:
        properties = prod.json["Resources"][plan.function.logical_id]["Properties"]
        for event in plan.function.schedule_events:
            event_properties = properties["Events"][event]["Properties"]
            assert event_properties["DeadLetterConfig"] == {
                "Arn": {"Fn::Sub": NAMES.queue_arn(SCHEDULES_DLQ)}
            }
            assert event_properties["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        on_failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": [dlq_key, "Arn"]}}
        role = prod.json["Resources"][properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        (statement,) = [
            s
            for s in role["Policies"][0]["PolicyDocument"]["Statement"]
            if s.get("Sid") == "FailedInvocationsSend"
        ]
        assert statement["Resource"] == {"Fn::GetAtt": [dlq_key, "Arn"]}
    (policy,) = [
        p
        for p in prod.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_key} in p["Properties"]["Queues"]
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"][-1:]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}


def test_the_send_worker_is_deployed_gradually_and_rolled_back_on_its_alarms(prod: Synth) -> None:
    plan = prod.stack.plans["handle_send"]
    properties = prod.json["Resources"][plan.function.logical_id]["Properties"]
    assert properties["AutoPublishAlias"] == LIVE_ALIAS
    preference = properties["DeploymentPreference"]
    assert preference["Type"] == prod.stack.config.deployment.preference
    watched = {ref["Ref"] for ref in preference["Alarms"]}
    alarms = prod.resources("AWS::CloudWatch::Alarm")
    names = {alarms[key]["Properties"]["AlarmName"] for key in watched}
    assert names == {
        NAMES.resource(n)
        for n in ("handle-send-errors", "handle-send-throttles", "handle-send-duration", "send-errors")
    }
    other = prod.json["Resources"][prod.stack.plans["api_handler"].function.logical_id]["Properties"]
    assert "DeploymentPreference" not in other


def test_tracing_is_off_by_default_and_a_switch(prod: Synth, hardened: Synth) -> None:
    for properties in (f["Properties"] for f in functions(prod).values()):
        assert properties.get("Tracing") != "Active"
    assert "TracingEnabled" not in rest_api(prod)
    assert "xray:" not in json.dumps(prod.json)
    for properties in (f["Properties"] for f in functions(hardened).values()):
        assert properties["Tracing"] == "Active"
    assert rest_api(hardened)["TracingEnabled"] is True
