"""The ingest queue: S3 ObjectCreated under ``incoming/`` -> SQS, with a dead-letter queue.

It lives with the images bucket (storage stack): the notification is part of the bucket's
configuration, so a queue in another stack would make the two stacks depend on each other.
"""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import Waiver, waive, waive_path

from lungct.config import DLQ_RETENTION_DAYS, INCOMING_PREFIX, MAX_RECEIVE_COUNT, ResourceNames

QUEUE_RETENTION_DAYS = 4
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"  # fixed in aws-cdk-lib


class Ingest(Construct):
    """Queue fed by the images bucket; messages received MAX_RECEIVE_COUNT times go to the DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        images_bucket: s3.IBucket,
        visibility_timeout_s: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # The queues get their own key: S3 must be allowed to use it for this bucket only, and that
        # key policy would otherwise tie the bucket's own key to the bucket (a dependency cycle).
        self.key = kms.Key(
            self,
            "QueueKey",
            alias=f"alias/{names.prefix}-queues",
            description=f"lungct {names.env}: ingest queue and dead-letter queue",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        key = self.key
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=names.dead_letter_queue,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            retention_period=Duration.days(DLQ_RETENTION_DAYS),
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=names.queue,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s),
            retention_period=Duration.days(QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
            removal_policy=removal_policy,
        )
        images_bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queue),
            s3.NotificationKeyFilter(prefix=INCOMING_PREFIX),
        )
        self._waive_notification_handler(images_bucket)

    def _waive_notification_handler(self, images_bucket: s3.IBucket) -> None:
        """The CDK's own custom resource that writes the bucket's notification configuration."""
        notifications = images_bucket.node.find_child("Notifications")
        waive(
            notifications,
            Waiver(
                "HIPAA.Security-IAMNoInlinePolicy",
                "CDK's BucketNotifications handler policy: s3:PutBucketNotification on this bucket only, "
                "attached to the handler's own role.",
            ),
        )
        stack = Stack.of(self)
        waive_path(
            stack,
            f"{NOTIFICATIONS_HANDLER_ID}/Role/Resource",
            Waiver(
                "AwsSolutions-IAM4",
                "CDK's BucketNotifications custom-resource handler (runs at deploy time only) uses the AWS "
                "managed basic execution policy for its own logs; the CDK does not expose its role.",
                ("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
            ),
        )
