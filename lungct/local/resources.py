"""Create an environment's runtime resources through the AWS APIs (moto here, the same calls as CDK's)."""
from __future__ import annotations

import json
from typing import Any

from lungct.config import INCOMING_PREFIX, MAX_RECEIVE_COUNT, ResourceNames

NO_MODEL = "none"  # pointer value until a model is published
LOCAL_VISIBILITY_TIMEOUT_S = 10


def create_resources(
    clients: dict[str, Any], names: ResourceNames, *, visibility_timeout_s: int = LOCAL_VISIBILITY_TIMEOUT_S
) -> dict[str, str]:
    """Bucket with notification -> queue (+ DLQ) ; results table ; model pointer. Idempotent."""
    s3, sqs, ddb, ssm = clients["s3"], clients["sqs"], clients["dynamodb"], clients["ssm"]
    for bucket in (names.images_bucket, names.artifacts_bucket):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(
        QueueName=names.dead_letter_queue, Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=names.images_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}},
                }
            ]
        },
    )
    existing = ddb.list_tables()["TableNames"]
    if names.results_table not in existing:
        ddb.create_table(
            TableName=names.results_table,
            KeySchema=[{"AttributeName": "study_id", "KeyType": "HASH"}, {"AttributeName": "image", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "study_id", "AttributeType": "S"},
                {"AttributeName": "image", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    try:
        ssm.get_parameter(Name=names.model_parameter)
    except ssm.exceptions.ParameterNotFound:
        ssm.put_parameter(Name=names.model_parameter, Value=NO_MODEL, Type="String")
    return {"queue_url": queue_url, "dlq_url": dlq_url}
