"""A deployed environment is found through its stack outputs (moto's CloudFormation, in-process)."""
import json

import pytest
from moto import mock_aws

from lungct.aws import AwsContext
from lungct.errors import ConfigurationError

OUTPUTS = {
    "ImagesBucket": "images-from-outputs",
    "ResultsTable": "results-from-outputs",
    "ModelParameter": "/lungct/dev/serving-model",
    "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/queue-from-outputs",
}


@pytest.fixture()
def aws(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def deploy_storage_stack(stack_name: str) -> None:
    import boto3

    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in OUTPUTS.items()},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=stack_name, TemplateBody=json.dumps(template))


def test_names_come_from_the_storage_stack_outputs(aws):
    deploy_storage_stack("Lungct-dev-Storage")
    names = AwsContext.for_env("dev").names
    assert names.images_bucket == "images-from-outputs"
    assert names.results_table == "results-from-outputs"
    assert names.queue == "queue-from-outputs"
    # a name the stack does not output is derived as the stack derives it
    assert names.artifacts_bucket == "lungct-dev-artifacts-123456789012-us-east-1"


def test_an_environment_that_is_not_deployed_is_a_clear_error(aws):
    with pytest.raises(ConfigurationError, match="stack Lungct-prod-Storage is not deployed"):
        AwsContext.for_env("prod").names
