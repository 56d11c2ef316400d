"""The fault-injection mechanism itself: spec parsing, seeded determinism, botocore sees a real error."""
from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from lungct.errors import ConfigurationError
from lungct.local.faults import FaultInjector, parse_spec


def test_spec_parses_and_refuses_typos():
    (a, b) = parse_spec("s3:GetObject:0.05, dynamodb:PutItem:1:3@incoming/x")
    assert (a.name, a.rate, a.limit, a.match) == ("s3:GetObject", 0.05, None, None)
    assert (b.name, b.rate, b.limit, b.match) == ("dynamodb:PutItem", 1.0, 3, "incoming/x")
    for bad in ("s3:GetObject", "s4:GetObject:0.1", "s3:GetObject:2", "s3:GetObject:x", "s3::0.1"):
        with pytest.raises(ConfigurationError):
            parse_spec(bad)
    assert FaultInjector.from_environ({}) is None


def test_injected_faults_are_real_botocore_errors_and_retries_are_counted(embedded_aws):
    ctx = embedded_aws.context()
    client = boto3.client("s3", endpoint_url=embedded_aws.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    client.put_object(Bucket=ctx.names.images_bucket, Key="faults/probe", Body=b"x")
    with FaultInjector.from_spec("s3:GetObject:1:2", seed=1).attach(client) as injector:
        with pytest.raises(client.exceptions.ClientError) as info:
            client.get_object(Bucket=ctx.names.images_bucket, Key="faults/probe")  # 2 attempts, both injected
        assert info.value.response["Error"]["Code"] == "SlowDown"
        assert client.get_object(Bucket=ctx.names.images_bucket, Key="faults/probe")["Body"].read() == b"x"
    assert injector.stats.injected == {"s3:GetObject": 2} and injector.stats.retries == 1
    # detached: no more faults
    assert client.get_object(Bucket=ctx.names.images_bucket, Key="faults/probe")["Body"].read() == b"x"


def test_same_seed_same_faults():
    def pattern(seed):
        inj = FaultInjector.from_spec("s3:GetObject:0.3", seed=seed)
        rule = inj.rules[0]

        class Req:
            url, body = "http://x/b/k", b""

        return [inj._should_fail(rule, Req) for _ in range(50)]

    assert pattern(5) == pattern(5) and pattern(5) != pattern(6)
