"""Who hears the alarms, and the dashboard of what the product does.

- ``subscribe``: the alarm topic's subscribers from the stage config — an
  e-mail address, HTTPS endpoints (PagerDuty, Opsgenie… CloudWatch
  integrations), a Slack channel through AWS Chatbot. A deploy needs at least
  one (``infra/deploy_check.py``).
- ``dashboard``: ``permesso-<stage>``, the business metrics the app emits
  (``BUSINESS_METRICS``: namespace ``Permesso``, Powertools' ``service``
  dimension; ``tests/infra`` checks each name is emitted by ``chalicelib``),
  then the API, queues and functions, and every alarm's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StageConfig

if TYPE_CHECKING:
    from infra.stack import PermessoStack

# Rows of the dashboard: a title and the metrics (names the app passes to metrics.add_metric).
BUSINESS_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "E-mails",
        ("EmailsSent", "SendThrottled", "SendDeferred", "SendErrors", "CampaignsSent", "CampaignsFinished"),
    ),
    ("Deliverability", ("Bounces", "SoftBounces", "Complaints", "Unsubscribes", "AccountsSuspended")),
    ("Re-permission", ("ReactivationConfirm", "ReactivationDecline", "CampaignsSegmented")),
    ("Consent", ("ConsentGranted", "ConsentDenied", "ConsentUnsubscribed", "ClientsErased")),
    (
        "Sign-ups (intake form, double opt-in)",
        ("IntakeSubmissions", "DoubleOptInSent", "DoubleOptInFailed", "IntakeRateLimited", "IntakeHoneypot"),
    ),
    ("Background jobs", ("JobsStarted", "JobsFailed", "StalledJobsResumed", "AutomaticRounds")),
)


def subscribe(scope: Construct, topic: sns.Topic, config: StageConfig) -> None:
    if config.alarm_email:
        topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
    for endpoint in config.alarm_https_endpoints:
        topic.add_subscription(
            subscriptions.UrlSubscription(endpoint, protocol=sns.SubscriptionProtocol.HTTPS)
        )
    if config.alarm_slack:
        # Chatbot only relays the topic's notifications: its role may do nothing else.
        role = iam.Role(
            scope,
            "ChatbotRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description=f"Permesso {config.name}: AWS Chatbot relays the alarms to Slack (no permissions)",
        )
        chatbot.CfnSlackChannelConfiguration(
            scope,
            "AlarmSlackChannel",
            configuration_name=f"permesso-{config.name}-alarms",
            iam_role_arn=role.role_arn,
            slack_workspace_id=config.alarm_slack.workspace_id,
            slack_channel_id=config.alarm_slack.channel_id,
            sns_topic_arns=[topic.topic_arn],
            logging_level="ERROR",
        )


def app_metric(name: str, period: cdk.Duration, label: str | None = None) -> cloudwatch.Metric:
    """A metric the app emits: namespace Permesso, Powertools' ``service`` dimension, summed."""
    from chalicelib.observability import NAMESPACE, SERVICE

    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE},
        statistic="Sum",
        period=period,
        label=label,
    )


def api_metric(
    stack: PermessoStack, metric: str, statistic: str, period: cdk.Duration, label: str | None = None
) -> cloudwatch.Metric:
    """A metric of the stage's REST API (its name is stage-specific: the dimension is unambiguous)."""
    return cloudwatch.Metric(
        namespace="AWS/ApiGateway",
        metric_name=metric,
        dimensions_map={"ApiName": stack.api_name, "Stage": stack.api_stage},
        statistic=statistic,
        period=period,
        label=label,
    )


def dashboard(stack: PermessoStack) -> cloudwatch.Dashboard:
    from chalicelib.observability import NAMESPACE

    period = cdk.Duration.minutes(5)

    board = cloudwatch.Dashboard(
        stack,
        "Dashboard",
        dashboard_name=stack.names.resource("overview"),
        default_interval=cdk.Duration.days(1),
    )
    board.add_widgets(
        cloudwatch.TextWidget(
            markdown=(
                f"# Permesso {stack.config.name}\nBusiness metrics (namespace `{NAMESPACE}`, 5-minute sums), "
                "then the API, queues and functions. Alarms and what to do: docs/DEPLOY.md, step 9."
            ),
            width=24,
            height=2,
        )
    )
    for title, names in BUSINESS_METRICS:
        board.add_widgets(
            cloudwatch.GraphWidget(
                title=title,
                left=[app_metric(name, period, name) for name in names],
                width=24,
                height=6,
                stacked=False,
            )
        )

    def api(metric: str, statistic: str) -> cloudwatch.Metric:
        return api_metric(stack, metric, statistic, period, label=f"{metric} ({statistic})")

    board.add_widgets(
        cloudwatch.GraphWidget(
            title="API requests and errors",
            left=[api("Count", "Sum"), api("4XXError", "Sum"), api("5XXError", "Sum")],
            width=12,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="API latency", left=[api("Latency", "p50"), api("Latency", "p99")], width=12, height=6
        ),
    )
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Queues: oldest message (s)",
            left=[
                queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum", label=name)
                for name, queue in stack.queues.items()
            ],
            width=12,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Queues: visible messages (dead-letter queues included)",
            left=[
                queue.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum", label=name
                )
                for name, queue in {
                    **stack.queues,
                    **{f"{k}-dlq": v for k, v in stack.dead_letter_queues.items()},
                }.items()
            ],
            width=12,
            height=6,
        ),
    )

    def functions(metric: str, statistic: str) -> list[cloudwatch.IMetric]:
        return [
            cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name=metric,
                dimensions_map={"FunctionName": plan.physical_name},
                statistic=statistic,
                period=period,
                label=name,
            )
            for name, plan in sorted(stack.plans.items())
        ]

    board.add_widgets(
        cloudwatch.GraphWidget(title="Functions: errors", left=functions("Errors", "Sum"), width=8, height=6),
        cloudwatch.GraphWidget(
            title="Functions: throttles", left=functions("Throttles", "Sum"), width=8, height=6
        ),
        cloudwatch.GraphWidget(
            title="Functions: concurrent executions",
            left=functions("ConcurrentExecutions", "Maximum"),
            width=8,
            height=6,
        ),
    )
    board.add_widgets(
        cloudwatch.AlarmStatusWidget(
            title="Alarms",
            alarms=list(stack.alarms.values()),
            width=24,
            height=max(3, len(stack.alarms) // 4 + 2),
        )
    )
    return board
