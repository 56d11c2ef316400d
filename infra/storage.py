"""Stateful resources of an environment: key, buckets, results table, serving-model pointer.

Everything that holds data sits in one stack, so compute stacks can be replaced freely and the
removal policy of the environment applies in one place.
"""
from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.nag import Waiver, waive
from lungct.config import HEATMAP_PREFIX, INCOMING_PREFIX, ResourceNames

SERVING_POINTER_NONE = "none"
MLFLOW_PREFIX = "mlflow/"
DATA_PREFIX = "data/"
DVC_PREFIX = "dvc/"


def _expire_noncurrent(days: int) -> s3.LifecycleRule:
    """Old versions and unfinished uploads go; the current objects stay (versioned buckets)."""
    return s3.LifecycleRule(
        id="expire-noncurrent",
        noncurrent_version_expiration=Duration.days(days),
        abort_incomplete_multipart_upload_after=Duration.days(7),
        expired_object_delete_marker=True,
    )


class Storage(Construct):
    """KMS key, images/artifacts/access-log buckets, results table and model pointer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        removal_policy: RemovalPolicy,
        incoming_expiration_days: int,
        noncurrent_expiration_days: int,
        access_log_expiration_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        destroy = removal_policy is RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{names.prefix}",
            description=f"lungct {names.env}: images, artifacts, results, queues, logs, alarms",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7 if destroy else 30),
        )
        self._allow_service_principals()

        # Server access log delivery supports only SSE-S3 on the target bucket.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            bucket_name=names.access_log_bucket,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(access_log_expiration_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )

        common = dict(
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )
        self.images_bucket = s3.Bucket(
            self,
            "ImagesBucket",
            bucket_name=names.images_bucket,
            server_access_logs_prefix="images/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-incoming",
                    prefix=INCOMING_PREFIX,
                    expiration=Duration.days(incoming_expiration_days),
                ),
                s3.LifecycleRule(
                    id="expire-heatmaps",
                    prefix=HEATMAP_PREFIX,
                    expiration=Duration.days(incoming_expiration_days),
                ),
                _expire_noncurrent(noncurrent_expiration_days),
            ],
            **common,
        )
        self.artifacts_bucket = s3.Bucket(
            self,
            "ArtifactsBucket",
            bucket_name=names.artifacts_bucket,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                _expire_noncurrent(noncurrent_expiration_days),
            ],
            **common,
        )

        self.results_table = dynamodb.Table(
            self,
            "ResultsTable",
            table_name=names.results_table,
            partition_key=dynamodb.Attribute(name="study_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="image", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            deletion_protection=not destroy,
            removal_policy=removal_policy,
        )

        self.model_parameter = ssm.StringParameter(
            self,
            "ServingModelPointer",
            parameter_name=names.model_parameter,
            string_value=SERVING_POINTER_NONE,
            description="S3 URI of the serving model (champion); written by the training job's publish step",
            tier=ssm.ParameterTier.STANDARD,
        )
        self.model_parameter.apply_removal_policy(removal_policy)
        self._waive_findings()

    def _waive_findings(self) -> None:
        single_region = Waiver(
            "HIPAA.Security-S3BucketReplicationEnabled",
            "Single-region deployment by design: the bucket is versioned with noncurrent-version retention, "
            "KMS-encrypted and access-logged; cross-region replication is a per-organisation DR decision "
            "(see docs/deploying.md) and would double storage of images.",
        )
        waive(self.images_bucket, single_region, children=False)
        waive(self.artifacts_bucket, single_region, children=False)
        waive(
            self.access_log_bucket,
            single_region,
            Waiver(
                "HIPAA.Security-S3DefaultEncryptionKMS",
                "S3 server access log delivery supports only SSE-S3 on the target bucket; it holds request "
                "logs, no images or results.",
            ),
            children=False,
        )
        waive(
            self.results_table,
            Waiver(
                "HIPAA.Security-DynamoDBInBackupPlan",
                "Point-in-time recovery (35 days of continuous backups) is enabled and deletion protection is on "
                "where the environment retains data; results are derivable again from the versioned images. "
                "Add the table to the organisation's AWS Backup plan if one exists.",
            ),
            children=False,
        )

    def _allow_service_principals(self) -> None:
        """Services that encrypt into this key on our behalf: logs, alarms, event rules, S3 events."""
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                         "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowServicesToPublishToEncryptedTopicsAndQueues",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("s3.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
