"""One stack per concern; each only instantiates its construct and exports its outputs."""
from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import QueryApi
from infra.inference import Inference
from infra.ingest import Ingest
from infra.monitoring import Monitoring
from infra.settings import EnvironmentSettings
from infra.storage import Storage
from infra.training import Training
from lungct.config import ResourceNames


def _output(stack: Stack, output_id: str, value: str, description: str) -> None:
    CfnOutput(stack, output_id, value=value, description=description)


class StorageStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, settings: EnvironmentSettings) -> None:
        super().__init__(scope, construct_id, stack_name=names.stack("Storage"),
                         description=f"lungct {names.env}: key, buckets, ingest queue, results table, model pointer",
                         termination_protection=settings.is_retained)
        self.storage = Storage(
            self,
            "Storage",
            names=names,
            removal_policy=settings.removal,
            incoming_expiration_days=settings.incoming_expiration_days,
            noncurrent_expiration_days=settings.noncurrent_expiration_days,
            access_log_expiration_days=settings.access_log_expiration_days,
        )
        self.ingest = Ingest(
            self,
            "Ingest",
            names=names,
            images_bucket=self.storage.images_bucket,
            visibility_timeout_s=settings.queue_visibility_timeout_s,
            removal_policy=settings.removal,
        )
        _output(self, "ImagesBucket", self.storage.images_bucket.bucket_name, "Upload images under incoming/<study_id>/")
        _output(self, "ArtifactsBucket", self.storage.artifacts_bucket.bucket_name, "Models, MLflow artifacts, DVC remote, data/")
        _output(self, "ResultsTable", self.storage.results_table.table_name, "DynamoDB results (study_id, image)")
        _output(self, "ModelParameter", self.storage.model_parameter.parameter_name, "SSM pointer to the serving model")
        _output(self, "QueueUrl", self.ingest.queue.queue_url, "Ingest queue")
        _output(self, "DeadLetterQueueUrl", self.ingest.dead_letter_queue.queue_url, "Images that failed 3 times")


class InferenceStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, settings: EnvironmentSettings,
                 storage: StorageStack) -> None:
        super().__init__(scope, construct_id, stack_name=names.stack("Inference"),
                         description=f"lungct {names.env}: container Lambda classifying images from the ingest queue")
        s = storage.storage
        self.inference = Inference(
            self,
            "Inference",
            names=names,
            key=s.key,
            queue=storage.ingest.queue,
            images_bucket=s.images_bucket,
            artifacts_bucket=s.artifacts_bucket,
            results_table=s.results_table,
            model_parameter=s.model_parameter,
            memory_mb=settings.infer_memory_mb,
            timeout_s=settings.infer_timeout_s,
            ephemeral_storage_mb=settings.infer_ephemeral_storage_mb,
            reserved_concurrency=settings.infer_reserved_concurrency,
            batch_size=settings.batch_size,
            max_batching_window_s=settings.max_batching_window_s,
            max_concurrency=settings.max_concurrency,
            pointer_ttl_s=settings.pointer_ttl_s,
            review_confidence=settings.review_confidence,
            heatmaps=settings.heatmaps,
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal,
        )
        _output(self, "InferFunction", self.inference.function.function_name, "Inference function")


class ApiStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, settings: EnvironmentSettings,
                 storage: StorageStack) -> None:
        super().__init__(scope, construct_id, stack_name=names.stack("Api"),
                         description=f"lungct {names.env}: IAM-authorised study query API")
        self.api = QueryApi(
            self,
            "QueryApi",
            names=names,
            key=storage.storage.key,
            results_table=storage.storage.results_table,
            memory_mb=settings.api_memory_mb,
            reserved_concurrency=settings.api_reserved_concurrency,
            throttle_rate=settings.api_throttle_rate,
            throttle_burst=settings.api_throttle_burst,
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal,
        )
        _output(self, "ApiUrl", self.api.url, "GET <ApiUrl>studies/<study_id> (SigV4-signed, service execute-api)")


class TrainingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, settings: EnvironmentSettings,
                 storage: StorageStack) -> None:
        super().__init__(scope, construct_id, stack_name=names.stack("Training"),
                         description=f"lungct {names.env}: scheduled GPU training on AWS Batch, MLflow")
        self.training = Training(
            self,
            "Training",
            names=names,
            key=storage.storage.key,
            artifacts_bucket=storage.storage.artifacts_bucket,
            model_parameter=storage.storage.model_parameter,
            schedule_cron=settings.schedule_cron,
            schedule_timezone=settings.schedule_timezone,
            schedule_enabled=settings.schedule_enabled,
            gpu_instance_types=settings.gpu_instance_types,
            spot=settings.spot,
            max_vcpus=settings.max_vcpus,
            job_vcpus=settings.job_vcpus,
            job_memory_mib=settings.job_memory_mib,
            job_timeout_h=settings.job_timeout_h,
            network=settings.network,
            max_azs=settings.max_azs,
            mlflow_tracking_uri=settings.mlflow_tracking_uri,
            mlflow_server_size=settings.mlflow_server_size,
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal,
        )
        t = self.training
        _output(self, "TrainingJobQueue", t.job_queue.job_queue_name, "AWS Batch job queue")
        _output(self, "TrainingJobDefinition", t.job_definition.job_definition_name, "AWS Batch job definition")
        _output(self, "MlflowTrackingUri", t.tracking_uri, "MLFLOW_TRACKING_URI (tracking server ARN for sagemaker-mlflow)")


class MonitoringStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, settings: EnvironmentSettings,
                 storage: StorageStack, inference: InferenceStack, api: ApiStack, training: TrainingStack) -> None:
        super().__init__(scope, construct_id, stack_name=names.stack("Monitoring"),
                         description=f"lungct {names.env}: alarms, training-failure rule, dashboard")
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            names=names,
            key=storage.storage.key,
            queue=storage.ingest.queue,
            dead_letter_queue=storage.ingest.dead_letter_queue,
            functions={"infer": inference.inference.function, "api": api.api.function},
            job_queue=training.training.job_queue,
            alarm_email=settings.alarm_email,
            oldest_message_alarm_s=settings.oldest_message_alarm_s,
        )
        _output(self, "AlarmTopic", self.monitoring.topic.topic_arn, "SNS topic for alarms")
