"""The inference function: a container Lambda fed by the ingest queue in batches."""
from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.nag import LAMBDA_NO_VPC, Waiver, arn_of, role_waivers, waive
from infra.settings import RETENTION_DAYS
from lungct.config import HEATMAP_PREFIX, INCOMING_PREFIX, MODELS_PREFIX, ResourceNames

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DOCKERFILE = "Dockerfile.lambda"


def log_group(
    scope: Construct, construct_id: str, *, name: str | None, key: kms.IKey, retention_days: int, removal_policy: RemovalPolicy
) -> logs.LogGroup:
    """A KMS-encrypted log group with the environment's retention."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=RETENTION_DAYS[retention_days],
        removal_policy=removal_policy,
    )


def function_role(scope: Construct, construct_id: str, *, logs_to: logs.ILogGroup, description: str) -> iam.Role:
    """A function role that can write to its own log group only (no AWS managed policy)."""
    role = iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
    logs_to.grant_write(role)
    return role


SQS_TRIGGERED_DLQ = (
    "Invoked only by the SQS event source mapping: failed records return to the queue and land in its "
    "dead-letter queue after 3 receives; a function DLQ applies to asynchronous invokes, which never happen."
)


class Inference(Construct):
    """DockerImageFunction from Dockerfile.lambda, an SQS event source and least-privilege grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        key: kms.IKey,
        queue: sqs.IQueue,
        images_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        results_table: dynamodb.ITable,
        model_parameter: ssm.IStringParameter,
        memory_mb: int,
        timeout_s: int,
        ephemeral_storage_mb: int,
        reserved_concurrency: int,
        batch_size: int,
        max_batching_window_s: int,
        max_concurrency: int,
        pointer_ttl_s: int,
        review_confidence: float,
        heatmaps: bool,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group(
            self,
            "LogGroup",
            name=f"/aws/lambda/{names.infer_function}",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.role = function_role(
            self, "Role", logs_to=self.log_group, description=f"lungct {names.env} inference function"
        )
        # Staging copies the build context into cdk.out; the image is built only by `cdk deploy`.
        # Names, not references: they are deterministic (lungct.config) and need no stack export.
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            role=self.role,
            function_name=names.infer_function,
            description="lungct: classify chest CT images from the ingest queue",
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT), file=LAMBDA_DOCKERFILE, platform=ecr_assets.Platform.LINUX_AMD64
            ),
            architecture=lambda_.Architecture.X86_64,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb),
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment_encryption=key,
            environment={
                "LUNGCT_ENV": names.env,
                "LUNGCT_RESULTS_TABLE": names.results_table,
                "LUNGCT_MODEL_PARAMETER": names.model_parameter,
                "LUNGCT_POINTER_TTL_S": str(pointer_ttl_s),
                "LUNGCT_REVIEW_CONFIDENCE": str(review_confidence),
                "LUNGCT_HEATMAPS": "1" if heatmaps else "0",
                "LUNGCT_IMAGES_BUCKET": names.images_bucket,
                "POWERTOOLS_SERVICE_NAME": "lungct-infer",
            },
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=batch_size,
                max_batching_window=Duration.seconds(max_batching_window_s),
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
        )
        images_bucket.grant_read(self.function, f"{INCOMING_PREFIX}*")
        images_bucket.grant_put(self.function, f"{HEATMAP_PREFIX}*")
        artifacts_bucket.grant_read(self.function, f"{MODELS_PREFIX}*")
        results_table.grant_read_write_data(self.function)
        model_parameter.grant_read(self.function)

        waive(
            self.role,
            *role_waivers(
                actions=("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:GenerateDataKey*", "kms:ReEncrypt*"),
                resources=(
                    f"{arn_of(images_bucket)}/{INCOMING_PREFIX}*",
                    f"{arn_of(images_bucket)}/{HEATMAP_PREFIX}*",
                    f"{arn_of(artifacts_bucket)}/{MODELS_PREFIX}*",
                ),
                xray=True,
            ),
        )
        waive(
            self.function,
            Waiver("HIPAA.Security-LambdaDLQ", SQS_TRIGGERED_DLQ),
            Waiver("HIPAA.Security-LambdaInsideVPC", LAMBDA_NO_VPC),
            children=False,
        )
