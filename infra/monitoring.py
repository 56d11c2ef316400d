"""Alarms, a failed-training rule and a dashboard, all reporting to one encrypted SNS topic.

Service metrics come from the serving code (:mod:`lungct.metrics`) as CloudWatch
embedded-metric-format lines in namespace ``lungct`` with dimension ``env``; their names are
defined once in :mod:`lungct.config`.
"""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_batch as batch
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lungct.config import (
    METRIC_CLASSIFIED,
    METRIC_DIMENSION,
    METRIC_IMAGE_LATENCY,
    METRIC_MEAN_CONFIDENCE,
    METRIC_NAMESPACE,
    METRIC_REJECTED,
    METRIC_REVIEW_FLAGGED,
    ResourceNames,
    predicted_metric,
)
from lungct.labels import LABELS
PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """SNS topic (KMS) with optional e-mail, alarms, training-failure rule and dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        key: kms.IKey,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
        job_queue: batch.IJobQueue,
        alarm_email: str | None,
        oldest_message_alarm_s: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=names.alarm_topic,
            display_name=f"lungct {names.env} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = cw_actions.SnsAction(self.topic)

        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 0) -> None:
            created = metric.create_alarm(
                self,
                alarm_id,
                alarm_name=f"{names.prefix}-{alarm_id}",
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)

        alarm(
            "dlq-messages",
            dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            "Images failed processing 3 times and sit in the dead-letter queue: inspect, fix, redrive.",
        )
        alarm(
            "queue-oldest-message",
            queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            f"The oldest image waiting for inference is older than {oldest_message_alarm_s}s: inference is behind or failing.",
            threshold=oldest_message_alarm_s,
        )
        for label, function in functions.items():
            alarm(
                f"{label}-errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {label} function raised errors (not rejected images: those are results).",
            )
            alarm(
                f"{label}-throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                f"The {label} function was throttled: reserved concurrency is exhausted.",
            )

        self.training_failed_rule = events.Rule(
            self,
            "TrainingFailed",
            rule_name=f"{names.prefix}-training-failed",
            description="A lungct training job on AWS Batch failed (after its retries)",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"], "jobQueue": [job_queue.job_queue_arn]},
            ),
            targets=[targets.SnsTopic(self.topic)],
        )

        self.dashboard = self._dashboard(names=names, queue=queue, dead_letter_queue=dead_letter_queue, functions=functions)

    def _dashboard(
        self,
        *,
        names: ResourceNames,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
    ) -> cloudwatch.Dashboard:
        def service_metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=name,
                dimensions_map={METRIC_DIMENSION: names.env},
                statistic=statistic,
                period=PERIOD,
                label=label,
            )

        per_class = [service_metric(predicted_metric(label), "Sum", label) for label in LABELS]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=names.dashboard)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Images",
                left=[
                    service_metric(METRIC_CLASSIFIED, "Sum", "classified"),
                    service_metric(METRIC_REJECTED, "Sum", "rejected"),
                    service_metric(METRIC_REVIEW_FLAGGED, "Sum", "flagged for review"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Inference latency per image (ms)",
                left=[
                    service_metric(METRIC_IMAGE_LATENCY, "p50", "p50"),
                    service_metric(METRIC_IMAGE_LATENCY, "p90", "p90"),
                    service_metric(METRIC_IMAGE_LATENCY, "Maximum", "max"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Mean confidence",
                left=[service_metric(METRIC_MEAN_CONFIDENCE, "Average", "mean confidence")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Predictions per class", left=per_class, stacked=True, width=8),
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum", label="queue"),
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="dead-letter queue"
                    ),
                ],
                right=[queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum", label="oldest (s)")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Functions",
                left=[f.metric_invocations(period=PERIOD, label=f"{n} invocations") for n, f in functions.items()],
                right=[f.metric_errors(period=PERIOD, label=f"{n} errors") for n, f in functions.items()]
                + [f.metric_throttles(period=PERIOD, label=f"{n} throttles") for n, f in functions.items()],
                width=8,
            ),
        )
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))
        return dashboard
