"""The Permesso stack: the whole product of one stage, derived from the code.

- Tables: one ``AWS::DynamoDB::Table`` per model of ``ALL_MODELS``, keys,
  attribute definitions and indexes from the model's own schema (the call the
  local stack creates its tables with), TTL from its ``TTLAttribute``;
  on-demand, point-in-time recovery, deletion protection and Retain in prod.
- Queues: one per ``QUEUES`` entry with its dead-letter queue and redrive,
  SSE and TLS-only; topics from ``TOPICS`` with their SQS subscriptions.
- SES: the configuration set ``SES_CONFIGURATION_SET`` with its SNS event
  destination; optionally the sender domains (DKIM, custom MAIL FROM).
- Functions, schedules and SQS event sources: the Chalice app itself; Chalice
  writes the template (``chalice.cdk.Chalice``) and every function runs the
  package ``infra/lambda_package.py`` builds (python3.12, arm64, hash-locked,
  reproducible). Each function then gets its own role from ``infra/access.py``
  (Chalice's shared, auto-generated role is turned off), its name, timeout,
  secrets list, partial-batch responses and its queue's ``MaximumConcurrency``
  (``throughput`` of the stage config); schedules get a dead-letter queue.
- The edge: stage throttling (tighter on ``/p/``), JSON access logs, Gateway
  Responses in the error contract (``chalicelib/api/edge.py``), optional WAF.
- Alarms (docs/ARCHITECTURE.md, *Alarms*) to the alarm topic and its
  subscribers (sending blocked by SES among them), a dashboard of the business metrics, and gradual deployment of
  the functions of ``deployment.gradual`` through a ``live`` alias, rolled back
  by CodeDeploy when their alarms fire.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_wafv2 as wafv2
from chalice import api as chalice_api
from chalice.cdk import Chalice
from chalice.utils import to_cfn_resource_name
from constructs import Construct
from pynamodb.models import Model

from chalicelib.api.edge import sam_gateway_responses
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
from infra import monitoring
from infra.access import FUNCTIONS, Access, FunctionPlan, Inventory, Names, plan_access
from infra.config import InfraError, StageConfig
from infra.inventory import functions_in
from infra.lambda_package import TARGET, PackageError, build

ROOT = Path(__file__).resolve().parent.parent
# Chalice must be told some role; every function's Role is then replaced by its own (checked
# by tests/infra: no function keeps this value).
ROLE_PLACEHOLDER = "arn:aws:iam::000000000000:role/replaced-by-infra-access"
# The dead-letter queue of every schedule (not a work queue: nothing consumes it).
SCHEDULES_DLQ = "schedules" + DLQ_SUFFIX
# Custom metrics the app emits (namespace Permesso, Powertools' ``service`` dimension).
SEND_ERRORS_METRIC = "SendErrors"
ACCOUNTS_SUSPENDED_METRIC = "AccountsSuspended"
# A campaign paused, or a transactional e-mail refused, because SES (or the sender check)
# refuses the account's sending as a whole: services/sending.py, services/outbound.py.
SENDING_BLOCKED_METRIC = "SendingBlocked"
DOUBLE_OPT_IN_FAILED_METRIC = "DoubleOptInFailed"
JOBS_FAILED_METRIC = "JobsFailed"


# The alias every gradually deployed function's traffic goes through.
LIVE_ALIAS = "live"
# Access log fields: ids, route template, status and timings. No source IP or user agent
# (personal data) and the route's template, never the path (links carry signed tokens).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
}


def _camel(name: str) -> str:
    return to_cfn_resource_name(name)


class PackagedChalice(Chalice):
    """``chalice.cdk.Chalice`` writing only the template: the code is ``package``, built for the
    Lambda's platform by ``infra/lambda_package.py`` rather than for the interpreter running this.

    Chalice packages a copy of the app without ``requirements.txt`` (so it downloads nothing);
    every function's ``CodeUri`` is then the one asset of ``package``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, package: Path, **kwargs: Any) -> None:
        self._package = package
        super().__init__(scope, construct_id, **kwargs)

    def _package_app(self) -> None:
        with tempfile.TemporaryDirectory(prefix="permesso-chalice-") as scratch:
            staged = Path(scratch) / "app"
            staged.mkdir()
            source = Path(self.source_dir)
            shutil.copy2(source / "app.py", staged / "app.py")
            shutil.copytree(
                source / ".chalice", staged / ".chalice", ignore=shutil.ignore_patterns("deploy*")
            )
            if (source / "chalicelib").is_dir():
                shutil.copytree(
                    source / "chalicelib", staged / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
                )
            chalice_api.package_app(
                project_dir=str(staged),
                output_dir=self._sam_package_dir,
                stage=self.stage_name,
                chalice_config=self.stage_config,
            )

    def _generate_sam_template_with_assets(self, chalice_out_dir: str, package_id: str) -> str:
        code = assets.Asset(self, "ChaliceAppCode", path=str(self._package))
        template = json.loads((Path(self._sam_package_dir) / "sam.json").read_text())
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Serverless::Function":
                resource["Properties"]["CodeUri"] = {"Bucket": code.s3_bucket_name, "Key": code.s3_object_key}
        path = Path(chalice_out_dir) / f"{package_id}.sam_with_assets.json"
        path.write_text(json.dumps(template, indent=2))
        return str(path)


def hash_first(key_schema: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """A key schema with the HASH key first, as CloudFormation and DynamoDB require.

    PynamoDB lists key attributes in name order (moto does not mind), so a table whose
    sort key sorts before its partition key (``list-members``: client_id, list_id) would
    otherwise be refused at deploy time.
    """
    return sorted(key_schema, key=lambda key: key["KeyType"] != "HASH")


def _lock_of(source_dir: Path) -> Path | None:
    """The app's lock file; an app without one (the tests' fixture app) is packaged alone."""
    lock = source_dir / "requirements.lock"
    return lock if lock.is_file() else None


def _package_path(source_dir: Path) -> Path:
    from infra.lambda_package import BUILD_DIR

    if source_dir == ROOT:
        return BUILD_DIR / "deployment.zip"
    import hashlib

    return BUILD_DIR / f"deployment-{hashlib.sha256(str(source_dir).encode()).hexdigest()[:12]}.zip"


class PermessoStack(cdk.Stack):
    """Everything of one stage.  Construct id = stage name, which Chalice uses as its stage."""

    def __init__(
        self,
        scope: Construct,
        config: StageConfig,
        *,
        source_dir: Path = ROOT,
        package: Path | None = None,
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
        monitoring.subscribe(self, self.alarm_topic, config)
        self.configuration_set = self._ses()
        self.schedules_dead_letter = self._schedules_dead_letter_queue()

        try:
            package = package or build(
                _package_path(source_dir), source_dir=source_dir, lock_path=_lock_of(source_dir)
            )
        except PackageError as exc:
            raise InfraError(f"the Lambda package: {exc}") from exc
        self.package = package
        self.chalice = PackagedChalice(
            self,
            "App",
            package=package,
            source_dir=str(source_dir),
            stage_config=self._chalice_stage_config(),
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
        for setting, names in (
            ("reserved_concurrency", config.reserved_concurrency),
            ("deployment.gradual", config.deployment.gradual),
        ):
            unknown = sorted(set(names) - set(access))
            if unknown:
                raise InfraError(f"{setting} names {unknown}: no such function in infra/access.py")
        # Entries whose function is not in the app yet (e.g. a worker still being built).
        self.waiting_entries = sorted(set(access) - present)
        self.roles = {name: self._wire(plan) for name, plan in self.plans.items()}
        self._name_api()
        self._edge()
        self._alarms()
        monitoring.dashboard(self)
        self._gradual_deployments()
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

    def _schedules_dead_letter_queue(self) -> sqs.Queue:
        """Where scheduled invocations that failed go: EventBridge's own delivery failures and the
        functions' failures after Lambda's retries. Alarmed like every dead-letter queue."""
        queue = sqs.Queue(
            self,
            "QueueSchedulesDeadLetter",
            queue_name=self.names.resource(SCHEDULES_DLQ),
            retention_period=cdk.Duration.seconds(DLQ_RETENTION_SECONDS),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ScheduleRulesDeadLetter",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    # SAM names the schedules' rules after the stack: permesso-<stage>-<function>…
                    "ArnLike": {
                        "aws:SourceArn": cdk.Fn.sub(Names.arn("events", f"rule/{self.stack_name}-*"))
                    },
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )
        self.dead_letter_queues[SCHEDULES_DLQ] = queue
        return queue

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
        statements = [
            iam.PolicyStatement(
                sid=statement["Sid"],
                actions=statement["Action"],
                resources=[cdk.Fn.sub(arn) for arn in statement["Resource"]],
            )
            for statement in plan.statements
        ]
        if function.schedules:  # Lambda sends a failed scheduled invocation to the schedules' DLQ
            statements.append(
                iam.PolicyStatement(
                    sid="FailedInvocationsSend",
                    actions=["sqs:SendMessage"],
                    resources=[self.schedules_dead_letter.queue_arn],
                )
            )
        if self.config.edge.tracing:  # X-Ray has no resource-level permissions
            statements.append(
                iam.PolicyStatement(
                    sid="TracingWrite",
                    actions=["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                    resources=["*"],
                )
            )
        role = iam.Role(
            self,
            f"Role{function.logical_id}",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Permesso {self.config.name} {function.name}: least privilege (infra/access.py)",
            inline_policies={"least-privilege": iam.PolicyDocument(statements=statements)},
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
        # The package's platform (infra/lambda_package.py), not the Python running this (Chalice's).
        resource.add_property_override("Runtime", TARGET.runtime)
        resource.add_property_override("Architectures", [TARGET.architecture])
        if self.config.edge.tracing:
            resource.add_property_override("Tracing", "Active")
        resource.add_property_override("FunctionName", plan.physical_name)
        resource.add_property_override("Timeout", plan.timeout)
        resource.add_property_override("Environment.Variables.PERMESSO_SECRETS", plan.secrets_env)
        reserved = self.config.reserved_concurrency.get(function.name)
        if reserved is not None:
            resource.add_property_override("ReservedConcurrentExecutions", reserved)
        for event in function.queue_events:
            properties = f"Events.{event.event_name}.Properties"
            # Powertools' BatchProcessor reports failed records; without this Lambda ignores the
            # report and deletes the whole batch.
            resource.add_property_override(f"{properties}.FunctionResponseTypes", ["ReportBatchItemFailures"])
            logical_queue = self.names.logical(event.queue)
            assert logical_queue is not None  # plan_access checked it
            # Every poller is capped, so workers can never take the concurrency the API needs.
            concurrency = self.config.poller_concurrency(logical_queue)
            if reserved is not None and reserved < concurrency:
                raise InfraError(
                    f"{function.name}: reserved concurrency {reserved} is below its queue's MaximumConcurrency "
                    f"{concurrency} (throughput): the poller would be throttled and re-receive batches"
                )
            resource.add_property_override(f"{properties}.ScalingConfig.MaximumConcurrency", concurrency)
            resource.add_resource_dependency(self.queues[logical_queue].node.default_child)
        for event_name in function.schedule_events:
            properties = f"Events.{event_name}.Properties"
            # EventBridge's own failures to invoke, then the function's failures after Lambda's
            # two retries: both land in the schedules' dead-letter queue (alarmed like the others).
            resource.add_property_override(
                f"{properties}.DeadLetterConfig", {"Arn": cdk.Fn.sub(self.names.queue_arn(SCHEDULES_DLQ))}
            )
            resource.add_property_override(
                f"{properties}.RetryPolicy", {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
            )
        if function.schedules:  # its on-failure destination's GetAtt orders the queue first
            resource.add_property_override(
                "EventInvokeConfig",
                {
                    "MaximumRetryAttempts": 2,
                    "DestinationConfig": {
                        "OnFailure": {"Type": "SQS", "Destination": self.schedules_dead_letter.queue_arn}
                    },
                },
            )
        return role

    def _name_api(self) -> None:
        """A stage-specific API name, so the 5xx alarm's ApiName dimension is unambiguous."""
        api = self.chalice.get_resource("RestAPI")
        api.add_property_override("Name", self.api_name)
        api.add_property_override("DefinitionBody.info.title", self.api_name)

    def _edge(self) -> None:
        """Stage throttling (tighter on /p/), JSON access logs, Gateway Responses, optional WAF."""
        edge = self.config.edge
        api = self.chalice.get_resource("RestAPI")
        paths = self.sam_template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
        settings: list[dict[str, Any]] = [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": edge.rate_per_second,
                "ThrottlingBurstLimit": edge.burst,
            }
        ]
        self.public_methods = sorted(
            (path, method.upper())
            for path, item in paths.items()
            if path.startswith("/p/")
            for method in item
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE")
        )
        for path, method in self.public_methods:
            settings.append(
                {
                    "ResourcePath": path.replace("/", "~1"),
                    "HttpMethod": method,
                    "ThrottlingRateLimit": edge.public_rate_per_second,
                    "ThrottlingBurstLimit": edge.public_burst,
                }
            )
            if path.endswith("+}"):  # API Gateway wants a greedy parameter declared
                name = path.rsplit("{", 1)[1][:-2]
                api.add_property_override(
                    f"DefinitionBody.paths.{path}.{method.lower()}.parameters",
                    [{"name": name, "in": "path", "required": True, "type": "string"}],
                )
        api.add_property_override("MethodSettings", settings)
        self.access_logs = logs.CfnLogGroup(
            self,
            "ApiAccessLogs",
            log_group_name=f"/aws/apigateway/{self.api_name}/access",
            retention_in_days=self.config.log_retention_days,
        )
        # The log group's ARN as API Gateway documents it (GetAtt's ends in ":*").
        api.add_resource_dependency(self.access_logs)
        api.add_property_override(
            "AccessLogSetting",
            {
                "DestinationArn": cdk.Fn.sub(
                    Names.arn("logs", f"log-group:{self.access_logs.log_group_name}")
                ),
                "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
            },
        )
        api.add_property_override("GatewayResponses", sam_gateway_responses())
        if edge.tracing:
            api.add_property_override("TracingEnabled", True)
        if edge.create_api_gateway_logging_role:
            # API Gateway writes access logs through one role per account and region.
            logging_role = iam.Role(
                self,
                "ApiGatewayLoggingRole",
                assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                description="API Gateway's CloudWatch Logs role of this account and region (access logs)",
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name(
                        "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            )
            account = apigateway.CfnAccount(
                self, "ApiGatewayAccount", cloud_watch_role_arn=logging_role.role_arn
            )
            api.add_resource_dependency(account)
        if edge.waf:
            self._waf()

    def _waf(self) -> None:
        """AWS WAF on the stage: AWS managed rules, a rate rule per IP on /p/ and one on everything."""
        edge = self.config.edge

        def managed(name: str, priority: int, count: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in count
                        ]
                        or None,
                    )
                ),
                visibility_config=self._waf_visibility(name),
            )

        def rate(
            name: str, priority: int, limit: int, path_regex: str | None
        ) -> wafv2.CfnWebACL.RuleProperty:
            scope = (
                wafv2.CfnWebACL.StatementProperty(
                    regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                        regex_string=path_regex,
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                        text_transformations=[
                            wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                        ],
                    )
                )
                if path_regex
                else None
            )
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=limit, scope_down_statement=scope
                    )
                ),
                visibility_config=self._waf_visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=self.names.resource("edge"),
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=self._waf_visibility("edge"),
            rules=[
                # The public pages: per source IP, before anything else is evaluated.
                rate(
                    "PublicPagesRate", 0, edge.waf_public_requests_per_5_minutes, f"^(/{self.api_stage})?/p/"
                ),
                rate("EveryRouteRate", 1, edge.waf_requests_per_5_minutes, None),
                managed("AWSManagedRulesAmazonIpReputationList", 2),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 3),
                # The common rule set refuses bodies over 8 KB: imports and campaigns are larger.
                managed("AWSManagedRulesCommonRuleSet", 4, count=("SizeRestrictions_BODY",)),
            ],
        )
        association = wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            web_acl_arn=acl.attr_arn,
            resource_arn=cdk.Fn.sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/"
                + self.api_stage
            ),
        )
        association.add_override("DependsOn", [f"RestAPI{self.api_stage}Stage"])  # SAM's stage resource

    def _waf_visibility(self, name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=f"permesso-{self.config.name}-{name}",
            sampled_requests_enabled=True,
        )

    @property
    def api_name(self) -> str:
        return self.names.resource("api")

    @property
    def api_stage(self) -> str:
        stage: str = self.sam_template["Resources"]["RestAPI"]["Properties"]["StageName"]
        return stage

    # --- alarms -----------------------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        name: str,
        description: str,
        *,
        evaluation_periods: int = 1,
        **kwargs: Any,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=self.names.resource(name),
            alarm_description=description,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            **kwargs,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        self.alarms[name] = alarm
        return alarm

    def _alarms(self) -> None:
        """Every alarm, threshold and reason: docs/ARCHITECTURE.md (*Alarms*)."""
        settings = self.config.alarms
        period = cdk.Duration.minutes(settings.period_minutes)
        minutes = settings.period_minutes
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.function_alarms: dict[str, list[cloudwatch.Alarm]] = {}

        # Queues: failed messages, and work waiting longer than it should.
        for name, dead_letter in self.dead_letter_queues.items():
            spec = self.queue_specs.get(name)
            self._alarm(
                f"Alarm{_camel(name)}DeadLetterNotEmpty",
                f"{name}{DLQ_SUFFIX}-not-empty" if spec else f"{name}-not-empty",
                (
                    f"Messages of queue {name} were received {spec.max_receive_count} times without success "
                    "and wait in its dead-letter queue."
                    if spec
                    else "A scheduled invocation failed (EventBridge could not invoke it, or it failed after "
                    "Lambda's retries) and waits in this queue."
                ),
                metric=dead_letter.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=above,
            )
        for name, queue in self.queues.items():
            age = settings.queue_age_minutes.get(name, settings.queue_age_default_minutes)
            self._alarm(
                f"Alarm{_camel(name)}OldestMessage",
                f"{name}-oldest-message",
                f"The oldest message of queue {name} has waited more than {age} min: its consumer is failing, "
                "throttled or too few (throughput in infra/config.json).",
                metric=queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum"),
                threshold=age * 60,
                comparison_operator=above,
                evaluation_periods=2,
            )

        # Functions: crashes and timeouts, throttling, running close to the timeout.
        for function_name, plan in self.plans.items():
            short = function_name.replace("_", "-")
            logical = plan.function.logical_id

            def fn_metric(
                metric: str, statistic: str, physical: str = plan.physical_name
            ) -> cloudwatch.Metric:
                return cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric,
                    dimensions_map={"FunctionName": physical},
                    statistic=statistic,
                    period=period,
                )

            own = [
                self._alarm(
                    f"Alarm{logical}Errors",
                    f"{short}-errors",
                    f"{plan.physical_name} failed {settings.lambda_errors}+ times in {minutes} min (a crash or a "
                    "timeout: the app answers what it expects itself).",
                    metric=fn_metric("Errors", "Sum"),
                    threshold=settings.lambda_errors,
                    comparison_operator=at_least,
                ),
                self._alarm(
                    f"Alarm{logical}Throttles",
                    f"{short}-throttles",
                    f"{plan.physical_name} was throttled in {minutes} min: the account's concurrency (or the "
                    "function's reservation) ran out (docs/DEPLOY.md, concurrency quota).",
                    metric=fn_metric("Throttles", "Sum"),
                    threshold=settings.lambda_throttles,
                    comparison_operator=at_least,
                ),
                self._alarm(
                    f"Alarm{logical}Duration",
                    f"{short}-duration",
                    f"p99 duration of {plan.physical_name} above {settings.lambda_duration_share:.0%} of its "
                    f"{plan.timeout} s timeout, two periods in a row: it is about to time out.",
                    metric=fn_metric("Duration", "p99"),
                    threshold=round(plan.timeout * 1000 * settings.lambda_duration_share),
                    comparison_operator=above,
                    evaluation_periods=2,
                ),
            ]
            self.function_alarms[function_name] = own

        # DynamoDB: sustained throttling of a table (the SDK's retries absorb a few).
        for logical_table in sorted(self.tables):
            table_name = self.names.resource(logical_table)

            def table_metric(metric: str, table: str = table_name) -> cloudwatch.Metric:
                return cloudwatch.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name=metric,
                    dimensions_map={"TableName": table},
                    statistic="Sum",
                    period=period,
                )

            self._alarm(
                f"AlarmTable{_camel(logical_table)}Throttled",
                f"{logical_table}-throttled",
                f"Table {table_name} throttled {settings.dynamodb_throttle_events}+ reads or writes in {minutes} min "
                "(a hot partition, or the account's table limits).",
                metric=cloudwatch.MathExpression(
                    expression="reads + writes",
                    using_metrics={
                        "reads": table_metric("ReadThrottleEvents"),
                        "writes": table_metric("WriteThrottleEvents"),
                    },
                    label=f"{logical_table} throttle events",
                    period=period,
                ),
                threshold=settings.dynamodb_throttle_events,
                comparison_operator=at_least,
            )

        # SES: the account's reputation, before AWS reviews or pauses it.
        for metric_name, key, threshold, aws_review in (
            ("Reputation.BounceRate", "ses-bounce-rate", settings.ses_bounce_rate, "5 %"),
            ("Reputation.ComplaintRate", "ses-complaint-rate", settings.ses_complaint_rate, "0.1 %"),
        ):
            self._alarm(
                f"Alarm{_camel(key)}",
                key,
                f"The SES account's {metric_name} is above {threshold:.2%}; AWS reviews the account at "
                f"{aws_review} and may pause its sending. Find the sending account (GET /v1/account reports).",
                metric=cloudwatch.Metric(
                    namespace="AWS/SES",
                    metric_name=metric_name,
                    statistic="Maximum",
                    period=cdk.Duration.minutes(15),
                ),
                threshold=threshold,
                comparison_operator=at_least,
            )

        # The app's own metrics (namespace Permesso, Powertools' service dimension).
        for key, metric_name, threshold, description in (
            (
                "send-errors",
                SEND_ERRORS_METRIC,
                settings.send_errors,
                f"At least {settings.send_errors} e-mails failed to send (not throttled) in {minutes} min.",
            ),
            (
                "accounts-suspended",
                ACCOUNTS_SUSPENDED_METRIC,
                1,
                "An account was suspended by the anti-spam protection: only the operator can reinstate it.",
            ),
            (
                "sending-blocked",
                SENDING_BLOCKED_METRIC,
                1,
                "SES refuses an account's sending as a whole (sender not verified, sending paused, MAIL FROM "
                "not verified, configuration set missing): its campaign is paused until someone fixes it.",
            ),
            (
                "double-opt-in-failed",
                DOUBLE_OPT_IN_FAILED_METRIC,
                settings.double_opt_in_failures,
                "A double opt-in e-mail could not be sent: that sign-up can never be confirmed.",
            ),
            (
                "jobs-failed",
                JOBS_FAILED_METRIC,
                settings.jobs_failed,
                "A background job gave up (bulk tags, list snapshot, segmentation, fan-out): its user sees it failed.",
            ),
        ):
            self._alarm(
                f"Alarm{_camel(key)}",
                key,
                description,
                metric=monitoring.app_metric(metric_name, period),
                threshold=threshold,
                comparison_operator=at_least,
            )
        self.function_alarms.setdefault("handle_send", []).append(self.alarms["send-errors"])

        # The API: failing requests, and slow ones.
        def api(metric: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return monitoring.api_metric(self, metric, statistic, period)

        rate = cloudwatch.MathExpression(
            expression=f"IF(requests >= {settings.api_min_requests}, errors / requests, 0)",
            using_metrics={"errors": api("5XXError"), "requests": api("Count")},
            label="API 5xx rate",
            period=period,
        )
        self._alarm(
            "AlarmApi5xxRate",
            "api-5xx-rate",
            f"More than {settings.api_5xx_rate:.0%} of API requests answered 5xx in {minutes} min.",
            metric=rate,
            threshold=settings.api_5xx_rate,
            comparison_operator=above,
        )
        self._alarm(
            "AlarmApiLatency",
            "api-latency-p99",
            f"p99 latency of the API above {settings.api_latency_p99_ms} ms, two periods in a row.",
            metric=api("Latency", "p99"),
            threshold=settings.api_latency_p99_ms,
            comparison_operator=above,
            evaluation_periods=2,
        )

    def _gradual_deployments(self) -> None:
        """Functions of ``deployment.gradual``: a version per deploy, the ``live`` alias shifted by
        CodeDeploy (canary or linear) and rolled back when one of the function's alarms fires.
        Their event sources invoke the alias, so the new version only gets its share."""
        preference = self.config.deployment.preference
        for function_name in self.config.deployment.gradual:
            plan = self.plans.get(function_name)
            if plan is None:
                continue  # its entry waits for the handler (waiting_entries)
            resource = self.chalice.get_resource(plan.function.logical_id)
            resource.add_property_override("AutoPublishAlias", LIVE_ALIAS)
            resource.add_property_override(
                "DeploymentPreference",
                {
                    "Type": preference,
                    "Alarms": [alarm.alarm_name for alarm in self.function_alarms[function_name]],
                },
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
            for event in plan.function.queue_events:
                logical_queue = self.names.logical(event.queue) or event.queue
                extra.append(f"at most {self.config.poller_concurrency(logical_queue)} at once")
            if name in self.config.reserved_concurrency:
                extra.append(f"reserved concurrency {self.config.reserved_concurrency[name]}")
            if name in self.config.deployment.gradual:
                extra.append(f"deployed gradually ({self.config.deployment.preference}, alias {LIVE_ALIAS})")
            lines.append(f"  function {plan.physical_name}: {'; '.join(extra)}")
        if self.waiting_entries:
            lines.append(
                f"  access entries without a function in the app yet: {', '.join(self.waiting_entries)}"
            )
        lines.append(f"  runtime: {TARGET.runtime} on {TARGET.architecture}; package {self.package.name}")
        lines.append(
            f"  {len(self.alarms)} alarms to: {', '.join(self.config.alarm_subscribers) or 'NOBODY'}"
        )
        lines.append(
            f"  edge: {self.config.edge.rate_per_second:g} req/s (burst {self.config.edge.burst}), /p/ "
            f"{self.config.edge.public_rate_per_second:g} req/s (burst {self.config.edge.public_burst}); "
            f"WAF {'on' if self.config.edge.waf else 'off'}; X-Ray {'on' if self.config.edge.tracing else 'off'}"
        )
        return "\n".join(lines)
