"""The Permesso stack: the whole product of one stage, derived from the code.

- Tables: one ``AWS::DynamoDB::Table`` per model of ``ALL_MODELS``, keys,
  attribute definitions and indexes from the model's own schema (the call the
  local stack creates its tables with), TTL from its ``TTLAttribute``;
  on-demand, point-in-time recovery, deletion protection and Retain in prod.
- Queues: one per ``QUEUES`` entry with its dead-letter queue and redrive,
  SSE and TLS-only; topics from ``TOPICS`` with their SQS subscriptions.
- SES: the configuration set ``SES_CONFIGURATION_SET`` with its SNS event
  destination; optionally the sender domains (DKIM, custom MAIL FROM).
- Functions, schedules and SQS event sources: the Chalice app itself, packaged
  by ``chalice.cdk.Chalice``; each function then gets its own role from
  ``infra/access.py`` (Chalice's shared, auto-generated role is turned off),
  its name, timeout, secrets list, partial-batch responses, and for the
  sending worker the reserved concurrency of the stage config.
- Alarms to the alarm topic: each dead-letter queue not empty, send errors,
  account suspensions, sending blocked by SES, API 5xx rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from chalice.utils import to_cfn_resource_name
from constructs import Construct
from pynamodb.models import Model

from chalicelib.resources import (
    DLQ_RETENTION_SECONDS,
    DLQ_SUFFIX,
    QUEUES,
    SES_CONFIGURATION_SET,
    SES_EVENT_TYPES,
    SES_EVENTS_TOPIC,
    TOPICS,
    QueueSpec,
    TopicSpec,
)
from infra.access import FUNCTIONS, Access, FunctionPlan, Inventory, Names, plan_access
from infra.config import InfraError, StageConfig
from infra.inventory import functions_in

ROOT = Path(__file__).resolve().parent.parent
# Chalice must be told some role; every function's Role is then replaced by its own (checked
# by tests/infra: no function keeps this value).
ROLE_PLACEHOLDER = "arn:aws:iam::000000000000:role/replaced-by-infra-access"
# Custom metrics the app emits (namespace Permesso, Powertools' ``service`` dimension).
SEND_ERRORS_METRIC = "SendErrors"
ACCOUNTS_SUSPENDED_METRIC = "AccountsSuspended"
# A campaign paused, or a transactional e-mail refused, because SES (or the sender check)
# refuses the account's sending as a whole: services/sending.py, services/outbound.py.
SENDING_BLOCKED_METRIC = "SendingBlocked"


def _camel(name: str) -> str:
    return to_cfn_resource_name(name)


def hash_first(key_schema: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """A key schema with the HASH key first, as CloudFormation and DynamoDB require.

    PynamoDB lists key attributes in name order (moto does not mind), so a table whose
    sort key sorts before its partition key (``list-members``: client_id, list_id) would
    otherwise be refused at deploy time.
    """
    return sorted(key_schema, key=lambda key: key["KeyType"] != "HASH")


class PermessoStack(cdk.Stack):
    """Everything of one stage.  Construct id = stage name, which Chalice uses as its stage."""

    def __init__(
        self,
        scope: Construct,
        config: StageConfig,
        *,
        source_dir: Path = ROOT,
        access: Mapping[str, Access] = FUNCTIONS,
        models: Sequence[type[Model]] | None = None,
        queues: Sequence[QueueSpec] = QUEUES,
        topics: Sequence[TopicSpec] = TOPICS,
    ) -> None:
        super().__init__(
            scope,
            config.name,
            stack_name=f"permesso-{config.name}",
            env=cdk.Environment(account=config.account, region=config.region),
            description=f"Permesso, stage {config.name}: API, workers, tables, queues, SES, alarms",
        )
        self.config = config
        self.names = Names(config.name)
        self._check_bound_stage()
        if models is None:
            from chalicelib.storage.models import ALL_MODELS

            models = ALL_MODELS
        cdk.Tags.of(self).add("product", "permesso")
        cdk.Tags.of(self).add("stage", config.name)

        self.tables = {self._logical_table(model): self._table(model) for model in models}
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.queue_specs: dict[str, QueueSpec] = {}
        for spec in queues:
            self._queue(spec)
        self.topics = {spec.name: self._topic(spec) for spec in topics}
        self.alarm_topic = sns.Topic(self, "AlarmTopic", topic_name=self.names.resource("alarms"))
        if config.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.configuration_set = self._ses()

        self.chalice = Chalice(
            self, "App", source_dir=str(source_dir), stage_config=self._chalice_stage_config()
        )
        self.sam_template = self._packaged_template()
        inventory = Inventory(
            tables=tuple(self.tables),
            indexed_tables=tuple(
                self._logical_table(model)
                for model in models
                if model._get_schema().get("global_secondary_indexes")
                or model._get_schema().get("local_secondary_indexes")
            ),
            queue_visibility={spec.name: spec.visibility_timeout_seconds for spec in queues},
            topics=tuple(self.topics),
            ses_identity_arns=self._ses_identity_arns(),
            configuration_set_arn=Names.arn("ses", f"configuration-set/{self.configuration_set_name}"),
            secrets_path=config.secrets_path,
        )
        self.functions = functions_in(self.sam_template)
        self.plans = plan_access(self.functions, access, self.names, inventory)
        present = {function.name for function in self.functions}
        unknown = sorted(set(config.reserved_concurrency) - set(access))
        if unknown:
            raise InfraError(f"reserved_concurrency names {unknown}: no such function in infra/access.py")
        # Entries whose function is not in the app yet (e.g. a worker still being built).
        self.waiting_entries = sorted(set(access) - present)
        self.roles = {name: self._wire(plan) for name, plan in self.plans.items()}
        self._name_api()
        self._alarms()
        self._outputs()

    # --- checks -----------------------------------------------------------------------------

    def _check_bound_stage(self) -> None:
        """PynamoDB models and the app's queue names are bound to a stage at import: it must be ours."""
        from chalicelib.config import get_settings

        bound = get_settings().stage
        if bound != self.config.name:
            raise InfraError(
                f"chalicelib is bound to stage {bound!r}, not {self.config.name!r}: set "
                f"PERMESSO_STAGE={self.config.name} before anything imports chalicelib (infra/main.py does)"
            )

    # --- DynamoDB ---------------------------------------------------------------------------

    def _logical_table(self, model: type[Model]) -> str:
        logical = self.names.logical(model.Meta.table_name)
        if not logical:
            raise InfraError(
                f"{model.__name__} is bound to table {model.Meta.table_name!r}, outside this stage"
            )
        return logical

    @staticmethod
    def _keys(schema: Sequence[Mapping[str, str]]) -> list[dynamodb.CfnTable.KeySchemaProperty]:
        return [
            dynamodb.CfnTable.KeySchemaProperty(attribute_name=key["AttributeName"], key_type=key["KeyType"])
            for key in hash_first(schema)
        ]

    @staticmethod
    def _projection(projection: Mapping[str, Any]) -> dynamodb.CfnTable.ProjectionProperty:
        return dynamodb.CfnTable.ProjectionProperty(
            projection_type=projection["ProjectionType"],
            non_key_attributes=projection.get("NonKeyAttributes"),
        )

    def _table(self, model: type[Model]) -> dynamodb.CfnTable:
        logical = self._logical_table(model)
        schema = model._get_schema()
        ttl = model._ttl_attribute()
        stream = getattr(model.Meta, "stream_view_type", None)
        gsis = [
            dynamodb.CfnTable.GlobalSecondaryIndexProperty(
                index_name=index["index_name"],
                key_schema=self._keys(index["key_schema"]),
                projection=self._projection(index["projection"]),
            )
            for index in schema.get("global_secondary_indexes", [])
        ]
        lsis = [
            dynamodb.CfnTable.LocalSecondaryIndexProperty(
                index_name=index["index_name"],
                key_schema=self._keys(index["key_schema"]),
                projection=self._projection(index["projection"]),
            )
            for index in schema.get("local_secondary_indexes", [])
        ]
        table = dynamodb.CfnTable(
            self,
            f"Table{_camel(logical)}",
            table_name=self.names.resource(logical),
            billing_mode="PAY_PER_REQUEST",
            attribute_definitions=[
                dynamodb.CfnTable.AttributeDefinitionProperty(
                    attribute_name=item["AttributeName"], attribute_type=item["AttributeType"]
                )
                for item in schema["attribute_definitions"]
            ],
            key_schema=self._keys(schema["key_schema"]),
            global_secondary_indexes=gsis or None,
            local_secondary_indexes=lsis or None,
            point_in_time_recovery_specification=dynamodb.CfnTable.PointInTimeRecoverySpecificationProperty(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_specification=(
                dynamodb.CfnTable.TimeToLiveSpecificationProperty(attribute_name=ttl.attr_name, enabled=True)
                if ttl is not None
                else None
            ),
            stream_specification=(
                dynamodb.CfnTable.StreamSpecificationProperty(stream_view_type=stream) if stream else None
            ),
            deletion_protection_enabled=self.config.deletion_protection,
        )
        table.apply_removal_policy(
            cdk.RemovalPolicy.RETAIN if self.config.deletion_protection else cdk.RemovalPolicy.DESTROY
        )
        return table

    # --- SQS / SNS --------------------------------------------------------------------------

    def _queue(self, spec: QueueSpec) -> None:
        dead_letter = sqs.Queue(
            self,
            f"Queue{_camel(spec.name)}DeadLetter",
            queue_name=self.names.resource(spec.name + DLQ_SUFFIX),
            retention_period=cdk.Duration.seconds(DLQ_RETENTION_SECONDS),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            f"Queue{_camel(spec.name)}",
            queue_name=self.names.resource(spec.name),
            visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter, max_receive_count=spec.max_receive_count
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queues[spec.name] = queue
        self.dead_letter_queues[spec.name] = dead_letter
        self.queue_specs[spec.name] = spec

    def _topic(self, spec: TopicSpec) -> sns.Topic:
        topic = sns.Topic(self, f"Topic{_camel(spec.name)}", topic_name=self.names.resource(spec.name))
        if spec.subscribed_queue:
            queue = self.queues.get(spec.subscribed_queue)
            if queue is None:
                raise InfraError(f"topic {spec.name!r} feeds queue {spec.subscribed_queue!r}, not in QUEUES")
            # The SNS envelope is kept (raw delivery off), as in the local stack.
            topic.add_subscription(subscriptions.SqsSubscription(queue, raw_message_delivery=False))
        return topic

    # --- SES --------------------------------------------------------------------------------

    @property
    def configuration_set_name(self) -> str:
        return self.names.resource(SES_CONFIGURATION_SET)

    def _ses(self) -> ses.CfnConfigurationSet:
        topic = self.topics.get(SES_EVENTS_TOPIC)
        if topic is None:
            raise InfraError(f"TOPICS has no {SES_EVENTS_TOPIC!r} topic for the SES event destination")
        configuration_set = ses.CfnConfigurationSet(
            self,
            "SesConfigurationSet",
            name=self.configuration_set_name,
            reputation_options=ses.CfnConfigurationSet.ReputationOptionsProperty(
                reputation_metrics_enabled=True
            ),
            sending_options=ses.CfnConfigurationSet.SendingOptionsProperty(sending_enabled=True),
        )
        # SES publishes the events of this configuration set only (confused-deputy guard).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SesEventsPublish",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"AWS:SourceAccount": self.account},
                    "ArnLike": {
                        "AWS:SourceArn": cdk.Fn.sub(
                            Names.arn("ses", f"configuration-set/{self.configuration_set_name}")
                        )
                    },
                },
            )
        )
        destination = ses.CfnConfigurationSetEventDestination(
            self,
            "SesEventDestination",
            configuration_set_name=self.configuration_set_name,
            event_destination=ses.CfnConfigurationSetEventDestination.EventDestinationProperty(
                name=self.names.resource("ses-events-sns"),
                enabled=True,
                matching_event_types=list(SES_EVENT_TYPES),
                sns_destination=ses.CfnConfigurationSetEventDestination.SnsDestinationProperty(
                    topic_arn=topic.topic_arn
                ),
            ),
        )
        destination.add_resource_dependency(configuration_set)
        self.identities = []
        for domain in self.config.sender_domains:
            identity = ses.CfnEmailIdentity(
                self,
                f"SenderDomain{_camel(domain.replace('.', '-'))}",
                email_identity=domain,
                configuration_set_attributes=ses.CfnEmailIdentity.ConfigurationSetAttributesProperty(
                    configuration_set_name=self.configuration_set_name
                ),
                dkim_attributes=ses.CfnEmailIdentity.DkimAttributesProperty(signing_enabled=True),
                mail_from_attributes=(
                    ses.CfnEmailIdentity.MailFromAttributesProperty(
                        mail_from_domain=f"{self.config.mail_from_subdomain}.{domain}",
                        behavior_on_mx_failure="USE_DEFAULT_VALUE",
                    )
                    if self.config.mail_from_subdomain
                    else None
                ),
            )
            identity.add_resource_dependency(configuration_set)
            self.identities.append((domain, identity))
        return configuration_set

    def _ses_identity_arns(self) -> list[str]:
        # The businesses' sender domains are created at run time (POST /v1/sender-domains), so
        # IAM cannot list them: sending is allowed from any identity of this account and region,
        # with the platform's configuration set. Which business may send as which domain is the
        # application's rule (a claim per domain, checked again by the send worker before
        # every message): docs/ARCHITECTURE.md, "Sender domains".
        return [Names.arn("ses", "identity/*")]

    # --- Lambda (Chalice) -------------------------------------------------------------------

    def _chalice_stage_config(self) -> dict[str, Any]:
        return {
            # One role per function, built below from infra/access.py: no shared auto-policy.
            "manage_iam_role": False,
            "autogen_policy": False,
            "iam_role_arn": ROLE_PLACEHOLDER,
            "api_gateway_endpoint_type": "REGIONAL",
            "environment_variables": {
                "PERMESSO_STAGE": self.config.name,
                "PERMESSO_PUBLIC_BASE_URL": self.config.public_base_url,
                "PERMESSO_SECRETS_PARAMETER_PATH": self.config.secrets_path,
                "PERMESSO_SECRETS_VERSION": str(self.config.secrets_version),
            },
        }

    def _packaged_template(self) -> dict[str, Any]:
        """The SAM template Chalice packaged (the construct keeps it in its package directory)."""
        package_dir = getattr(self.chalice, "_sam_package_dir", None)
        if package_dir is None:
            raise InfraError("chalice.cdk no longer exposes its package directory: check the pinned chalice")
        template: dict[str, Any] = json.loads((Path(package_dir) / "sam.json").read_text())
        return template

    def _wire(self, plan: FunctionPlan) -> iam.Role:
        """Give the packaged function its own role, name, timeout and event-source settings."""
        function = plan.function
        role = iam.Role(
            self,
            f"Role{function.logical_id}",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Permesso {self.config.name} {function.name}: least privilege (infra/access.py)",
            inline_policies={
                "least-privilege": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid=statement["Sid"],
                            actions=statement["Action"],
                            resources=[cdk.Fn.sub(arn) for arn in statement["Resource"]],
                        )
                        for statement in plan.statements
                    ]
                )
            },
        )
        # The function's log group exists before it runs (its role may not create log groups). Made
        # here, not by Chalice's log_retention_in_days, whose SAM output misnames the API handler.
        log_group = logs.CfnLogGroup(
            self,
            f"Logs{function.logical_id}",
            log_group_name=f"/aws/lambda/{plan.physical_name}",
            retention_in_days=self.config.log_retention_days,
        )
        resource = self.chalice.get_resource(function.logical_id)
        resource.add_resource_dependency(log_group)
        resource.add_property_override("Role", role.role_arn)
        resource.add_property_override("FunctionName", plan.physical_name)
        resource.add_property_override("Timeout", plan.timeout)
        resource.add_property_override("Environment.Variables.PERMESSO_SECRETS", plan.secrets_env)
        concurrency = self.config.reserved_concurrency.get(function.name)
        if concurrency is not None:
            resource.add_property_override("ReservedConcurrentExecutions", concurrency)
        for event in function.queue_events:
            properties = f"Events.{event.event_name}.Properties"
            # Powertools' BatchProcessor reports failed records; without this Lambda ignores the
            # report and deletes the whole batch.
            resource.add_property_override(f"{properties}.FunctionResponseTypes", ["ReportBatchItemFailures"])
            if concurrency is not None:
                if concurrency < 2:
                    raise InfraError(
                        f"{function.name}: an SQS consumer needs reserved concurrency of at least 2"
                    )
                # The poller never runs more copies than are reserved: no throttled, re-received batches.
                resource.add_property_override(f"{properties}.ScalingConfig.MaximumConcurrency", concurrency)
            logical_queue = self.names.logical(event.queue)
            assert logical_queue is not None  # plan_access checked it
            resource.add_resource_dependency(self.queues[logical_queue].node.default_child)
        return role

    def _name_api(self) -> None:
        """A stage-specific API name, so the 5xx alarm's ApiName dimension is unambiguous."""
        api = self.chalice.get_resource("RestAPI")
        api.add_property_override("Name", self.api_name)
        api.add_property_override("DefinitionBody.info.title", self.api_name)

    @property
    def api_name(self) -> str:
        return self.names.resource("api")

    @property
    def api_stage(self) -> str:
        stage: str = self.sam_template["Resources"]["RestAPI"]["Properties"]["StageName"]
        return stage

    # --- alarms -----------------------------------------------------------------------------

    def _alarm(self, construct_id: str, name: str, description: str, **kwargs: Any) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=self.names.resource(name),
            alarm_description=description,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            **kwargs,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        return alarm

    def _alarms(self) -> None:
        from chalicelib.observability import NAMESPACE, SERVICE

        settings = self.config.alarms
        period = cdk.Duration.minutes(settings.period_minutes)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, dead_letter in self.dead_letter_queues.items():
            self.alarms[f"{name}{DLQ_SUFFIX}"] = self._alarm(
                f"Alarm{_camel(name)}DeadLetterNotEmpty",
                f"{name}{DLQ_SUFFIX}-not-empty",
                f"Messages of queue {name} were received {self.queue_specs[name].max_receive_count} times "
                "without success and wait in its dead-letter queue.",
                metric=dead_letter.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

        def custom(metric: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=metric,
                dimensions_map={"service": SERVICE},
                statistic="Sum",
                period=period,
            )

        self.alarms["send-errors"] = self._alarm(
            "AlarmSendErrors",
            "send-errors",
            f"At least {settings.send_errors} e-mails failed to send (not throttled) in {settings.period_minutes} min.",
            metric=custom(SEND_ERRORS_METRIC),
            threshold=settings.send_errors,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.alarms["accounts-suspended"] = self._alarm(
            "AlarmAccountsSuspended",
            "accounts-suspended",
            "An account was suspended by the anti-spam protection: only the operator can reinstate it.",
            metric=custom(ACCOUNTS_SUSPENDED_METRIC),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )

        self.alarms["sending-blocked"] = self._alarm(
            "AlarmSendingBlocked",
            "sending-blocked",
            "SES refuses an account's sending as a whole (sender not verified, sending paused, MAIL FROM "
            "not verified, configuration set missing): its campaign is paused until someone fixes it.",
            metric=custom(SENDING_BLOCKED_METRIC),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )

        def api(metric: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric,
                dimensions_map={"ApiName": self.api_name, "Stage": self.api_stage},
                statistic="Sum",
                period=period,
            )

        rate = cloudwatch.MathExpression(
            expression=f"IF(requests >= {settings.api_min_requests}, errors / requests, 0)",
            using_metrics={"errors": api("5XXError"), "requests": api("Count")},
            label="API 5xx rate",
            period=period,
        )
        self.alarms["api-5xx-rate"] = self._alarm(
            "AlarmApi5xxRate",
            "api-5xx-rate",
            f"More than {settings.api_5xx_rate:.0%} of API requests answered 5xx in {settings.period_minutes} min.",
            metric=rate,
            threshold=settings.api_5xx_rate,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    # --- outputs ----------------------------------------------------------------------------

    def _outputs(self) -> None:
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        cdk.CfnOutput(self, "SecretsParameterPath", value=self.config.secrets_path)
        cdk.CfnOutput(self, "SesConfigurationSetName", value=self.configuration_set_name)
        for domain, identity in self.identities:
            prefix = f"Dkim{_camel(domain.replace('.', '-'))}"
            for n in (1, 2, 3):
                cdk.CfnOutput(
                    self,
                    f"{prefix}Record{n}",
                    description=f"DKIM CNAME {n} of {domain}",
                    value=cdk.Fn.join(
                        " CNAME ",
                        [
                            identity.get_att(f"DkimDNSTokenName{n}").to_string(),
                            identity.get_att(f"DkimDNSTokenValue{n}").to_string(),
                        ],
                    ),
                )

    def describe(self) -> str:
        """What was synthesised, for the make infra log."""
        lines = [f"stack {self.stack_name} ({self.config.region}):"]
        lines.append(f"  tables: {', '.join(sorted(self.tables))}")
        lines.append(f"  queues (each with its {DLQ_SUFFIX}): {', '.join(sorted(self.queues))}")
        lines.append(f"  topics: {', '.join(sorted(self.topics))}, alarms")
        for name, plan in sorted(self.plans.items()):
            extra = [f"timeout {plan.timeout}s"]
            if plan.function.queue_events:
                extra.append("consumes " + ", ".join(q.queue for q in plan.function.queue_events))
            if plan.function.schedules:
                extra.append("runs " + ", ".join(plan.function.schedules))
            if name in self.config.reserved_concurrency:
                extra.append(f"reserved concurrency {self.config.reserved_concurrency[name]}")
            lines.append(f"  function {plan.physical_name}: {'; '.join(extra)}")
        if self.waiting_entries:
            lines.append(
                f"  access entries without a function in the app yet: {', '.join(self.waiting_entries)}"
            )
        lines.append(f"  alarms: {', '.join(sorted(self.alarms))}")
        return "\n".join(lines)
