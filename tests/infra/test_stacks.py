"""GIVEN the cdk.json environments WHEN synthesized THEN each stack holds the design's contracts."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from infra.settings import EnvironmentSettings
from lungct.config import DLQ_RETENTION_DAYS, INCOMING_PREFIX, MAX_RECEIVE_COUNT, resource_names

from infra_support import cdk_context, only, resources_of

pytestmark = pytest.mark.infra

ENVS = list(cdk_context()["environments"])


def settings_of(env: str) -> EnvironmentSettings:
    return EnvironmentSettings.from_context(env, cdk_context()["environments"][env])


def test_every_environment_has_a_stage_with_five_stacks(synthesized):
    assert set(synthesized.stages) == set(ENVS) >= {"dev", "prod"}
    for env, stage in synthesized.stages.items():
        names = resource_names(env, account="a", region="r")
        assert stage.node.id == names.stage
        assert [s.stack_name for s in stage.stacks] == [
            names.stack(c) for c in ("Storage", "Inference", "Api", "Training", "Monitoring")
        ]


@pytest.mark.parametrize("env", ENVS)
def test_images_bucket_notifies_the_queue_for_incoming_only(synthesized, env):
    storage = synthesized.template(env, "storage")
    notification = only(resources_of(storage, "Custom::S3BucketNotifications"))
    configs = notification["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert len(configs) == 1
    assert configs[0]["Events"] == ["s3:ObjectCreated:*"]
    assert configs[0]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": INCOMING_PREFIX}]


@pytest.mark.parametrize("env", ENVS)
def test_queue_redrives_to_the_dead_letter_queue_after_three_receives(synthesized, env):
    storage = synthesized.template(env, "storage")
    queues = resources_of(storage, "AWS::SQS::Queue")
    names = resource_names(env, account="a", region="r")
    by_name = {q["Properties"]["QueueName"]: q["Properties"] for q in queues.values()}
    assert set(by_name) == {names.queue, names.dead_letter_queue}
    assert by_name[names.queue]["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT == 3
    assert by_name[names.dead_letter_queue]["MessageRetentionPeriod"] == DLQ_RETENTION_DAYS * 86400


@pytest.mark.parametrize("env", ENVS)
def test_visibility_timeout_is_at_least_six_function_timeouts(synthesized, env):
    queue = next(
        q["Properties"]
        for q in resources_of(synthesized.template(env, "storage"), "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    )
    function = only(resources_of(synthesized.template(env, "inference"), "AWS::Lambda::Function"))
    assert queue["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]


@pytest.mark.parametrize("env", ENVS)
def test_inference_is_a_container_function_with_partial_batch_responses(synthesized, env):
    settings = settings_of(env)
    inference = synthesized.template(env, "inference")
    function = only(resources_of(inference, "AWS::Lambda::Function"))["Properties"]
    assert function["PackageType"] == "Image"
    assert function["ReservedConcurrentExecutions"] == settings.infer_reserved_concurrency
    assert function["MemorySize"] == settings.infer_memory_mb
    assert function["TracingConfig"] == {"Mode": "Active"}
    variables = function["Environment"]["Variables"]
    assert variables["LUNGCT_ENV"] == env
    assert variables["LUNGCT_MODEL_PARAMETER"] == f"/lungct/{env}/serving-model"
    assert {"LUNGCT_RESULTS_TABLE", "LUNGCT_IMAGES_BUCKET", "LUNGCT_POINTER_TTL_S",
            "LUNGCT_REVIEW_CONFIDENCE", "LUNGCT_HEATMAPS"} <= set(variables)
    inference.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": settings.batch_size,
            "MaximumBatchingWindowInSeconds": settings.max_batching_window_s,
            "ScalingConfig": {"MaximumConcurrency": settings.max_concurrency},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_results_table_keys_pitr_and_customer_key(synthesized, env):
    table = only(resources_of(synthesized.template(env, "storage"), "AWS::DynamoDB::Table"))["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "study_id", "KeyType": "HASH"},
        {"AttributeName": "image", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS"
    assert "KMSMasterKeyId" in table["SSESpecification"]


@pytest.mark.parametrize("env", ENVS)
def test_serving_model_pointer_starts_at_none(synthesized, env):
    synthesized.template(env, "storage").has_resource_properties(
        "AWS::SSM::Parameter", {"Name": f"/lungct/{env}/serving-model", "Type": "String", "Value": "none"}
    )


@pytest.mark.parametrize("env", ENVS)
def test_everything_at_rest_is_encrypted_with_a_customer_key(synthesized, env):
    storage = synthesized.template(env, "storage")
    keys = resources_of(storage, "AWS::KMS::Key")
    assert keys and all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())
    buckets = resources_of(storage, "AWS::S3::Bucket")
    assert len(buckets) == 3
    kms_buckets = [
        b for b in buckets.values()
        if b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    ]
    assert len(kms_buckets) == 2  # images, artifacts; the access-log bucket must use SSE-S3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
        }
        assert props["LifecycleConfiguration"]["Rules"]
    for queue in resources_of(storage, "AWS::SQS::Queue").values():
        assert "KmsMasterKeyId" in queue["Properties"]
    for topic in resources_of(synthesized.template(env, "monitoring"), "AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]
    for concern in ("inference", "api", "training"):
        for group in resources_of(synthesized.template(env, concern), "AWS::Logs::LogGroup").values():
            assert "KmsKeyId" in group["Properties"]
            assert group["Properties"]["RetentionInDays"] == settings_of(env).log_retention_days


@pytest.mark.parametrize("env", ENVS)
def test_buckets_and_queues_deny_insecure_transport(synthesized, env):
    storage = synthesized.template(env, "storage")
    for policy_type in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
        policies = resources_of(storage, policy_type)
        assert policies
        for policy in policies.values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in statements
            )


def test_removal_policies_differ_per_environment(synthesized):
    def policies(env: str) -> set[str]:
        storage = synthesized.template(env, "storage").to_json()["Resources"]
        return {
            r.get("DeletionPolicy", "Delete")
            for r in storage.values()
            if r["Type"] in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SQS::Queue")
        }

    assert policies("prod") == {"Retain"}
    assert policies("dev") == {"Delete"}
    table = only(resources_of(synthesized.template("prod", "storage"), "AWS::DynamoDB::Table"))
    assert table["Properties"]["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("env", ENVS)
def test_api_route_requires_iam_and_logs_access(synthesized, env):
    api = synthesized.template(env, "api")
    api.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "GET /studies/{study_id}", "AuthorizationType": "AWS_IAM"}
    )
    routes = resources_of(api, "AWS::ApiGatewayV2::Route")
    assert all(r["Properties"]["AuthorizationType"] == "AWS_IAM" for r in routes.values())
    stage = only(resources_of(api, "AWS::ApiGatewayV2::Stage"))["Properties"]
    assert "DestinationArn" in stage["AccessLogSettings"]
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]
    function = only(resources_of(api, "AWS::Lambda::Function"))["Properties"]
    assert function["Handler"] == "lambda_infer.api.handler"
    assert function["Runtime"].startswith("python3.")


@pytest.mark.parametrize("env", ENVS)
def test_training_job_has_one_gpu_two_attempts_and_its_environment(synthesized, env):
    training = synthesized.template(env, "training")
    job = only(resources_of(training, "AWS::Batch::JobDefinition"))["Properties"]
    container = job["ContainerProperties"]
    assert {"Type": "GPU", "Value": "1"} in container["ResourceRequirements"]
    assert job["RetryStrategy"]["Attempts"] == 2
    names = {v["Name"] for v in container["Environment"]}
    assert {"LUNGCT_ENV", "MLFLOW_TRACKING_URI", "LUNGCT_DATA_URI", "LUNGCT_ARTIFACTS_BUCKET"} <= names
    settings = settings_of(env)
    env_resource = only(resources_of(training, "AWS::Batch::ComputeEnvironment"))["Properties"]["ComputeResources"]
    assert env_resource["MinvCpus"] == 0
    assert env_resource["InstanceTypes"] == list(settings.gpu_instance_types)
    assert env_resource["Type"] == ("SPOT" if settings.spot else "EC2")


@pytest.mark.parametrize("env", ENVS)
def test_schedule_submits_the_job_with_the_configured_cron(synthesized, env):
    settings = settings_of(env)
    training = synthesized.template(env, "training")
    schedule = only(resources_of(training, "AWS::Scheduler::Schedule"))["Properties"]
    assert schedule["ScheduleExpression"] == settings.schedule_cron
    assert schedule["State"] == ("ENABLED" if settings.schedule_enabled else "DISABLED")
    assert schedule["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(training, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1
    (statement,) = policies[0]
    assert statement["Action"] == "batch:SubmitJob"
    assert len(statement["Resource"]) == 2  # the job queue and the job definition, nothing else


@pytest.mark.parametrize("env", ENVS)
def test_training_network_follows_settings(synthesized, env):
    settings = settings_of(env)
    training = synthesized.template(env, "training")
    training.resource_count_is("AWS::EC2::FlowLog", 1)
    nat = resources_of(training, "AWS::EC2::NatGateway")
    endpoints = resources_of(training, "AWS::EC2::VPCEndpoint")
    if settings.network == "nat":
        assert len(nat) == 1
    else:
        assert not nat
        assert len(endpoints) >= 9  # S3 gateway + ECR, ECS, logs, SSM, STS interfaces


@pytest.mark.parametrize("env", ENVS)
def test_monitoring_alarms_rule_and_dashboard(synthesized, env):
    monitoring = synthesized.template(env, "monitoring")
    alarms = resources_of(monitoring, "AWS::CloudWatch::Alarm")
    metric_names = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "Errors", "Throttles"} <= metric_names
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    monitoring.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"],
                          "detail": {"status": ["FAILED"], "jobQueue": Match.any_value()}}},
    )
    body = json.dumps(only(resources_of(monitoring, "AWS::CloudWatch::Dashboard"))["Properties"]["DashboardBody"])
    # the dashboard graphs what lungct.metrics emits, by the names both import from lungct.config
    from lungct import config
    from lungct.labels import LABELS

    shown = [config.METRIC_CLASSIFIED, config.METRIC_REJECTED, config.METRIC_IMAGE_LATENCY,
             config.METRIC_MEAN_CONFIDENCE, *map(config.predicted_metric, LABELS)]
    for metric in shown:
        assert f'\\"{metric}\\"' in body, metric


@pytest.mark.parametrize("env", ENVS)
def test_outputs_name_what_the_cli_and_docs_need(synthesized, env):
    outputs = {}
    for concern in ("storage", "api", "training"):
        outputs.update(synthesized.template(env, concern).to_json().get("Outputs", {}))
    assert {"ImagesBucket", "ArtifactsBucket", "ResultsTable", "ModelParameter", "QueueUrl",
            "DeadLetterQueueUrl", "ApiUrl"} <= set(outputs)
    # the CLI finds a deployed environment through these outputs of the Storage stack
    from lungct.aws import _OUTPUT_NAMES

    storage = synthesized.template(env, "storage").to_json().get("Outputs", {})
    assert set(_OUTPUT_NAMES) <= set(storage)
