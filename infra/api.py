"""The study query API: IAM-authorised HTTP API ``GET /studies/{study_id}`` -> zip Lambda.

The function's code is a bundle of ``lungct/`` and ``lambda_infer/`` only; its import chain
(``lambda_infer.api`` -> ``lungct.query`` -> ``lungct.results``) needs nothing beyond the standard
library and the boto3 that the Lambda runtime provides, so no dependency layer is needed.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import jsii

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.inference import REPO_ROOT, function_role, log_group
from infra.nag import LAMBDA_NO_VPC, Waiver, role_waivers, waive
from lungct.config import ResourceNames

API_PACKAGES = ("lungct", "lambda_infer")
API_RUNTIME = lambda_.Runtime.PYTHON_3_14
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"caller":"$context.identity.caller","user":"$context.identity.user",'
    '"userArn":"$context.identity.userArn","requestTime":"$context.requestTime",'
    '"httpMethod":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"integrationLatency":"$context.integrationLatency","error":"$context.error.message",'
    '"authorizerError":"$context.authorizer.error"}'
)

_bundle_dir: Path | None = None


def api_code_bundle() -> Path:
    """A folder holding only the packages the API function imports (made once per process)."""
    global _bundle_dir
    if _bundle_dir is None or not _bundle_dir.exists():
        _bundle_dir = Path(tempfile.mkdtemp(prefix="lungct-api-"))
        for package in API_PACKAGES:
            shutil.copytree(
                REPO_ROOT / package,
                _bundle_dir / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
    return _bundle_dir


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    """aws_apigatewayv2 takes access-log settings as an interface; this is its plain value."""

    def __init__(self, *, destination: apigw.IAccessLogDestination, format: apigateway.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return self._format


class QueryApi(Construct):
    """HTTP API with one IAM-authorised route and access logs on its stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        key: kms.IKey,
        results_table: dynamodb.ITable,
        memory_mb: int,
        reserved_concurrency: int,
        throttle_rate: int,
        throttle_burst: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        function_logs = log_group(
            self,
            "FunctionLogGroup",
            name=f"/aws/lambda/{names.api_function}",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.role = function_role(
            self, "Role", logs_to=function_logs, description=f"lungct {names.env} study query function"
        )
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            function_name=names.api_function,
            description="lungct: GET /studies/{study_id}",
            runtime=API_RUNTIME,
            handler="lambda_infer.api.handler",
            code=lambda_.Code.from_asset(str(api_code_bundle())),
            architecture=lambda_.Architecture.ARM_64,
            memory_size=memory_mb,
            timeout=Duration.seconds(10),
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
            logging_format=lambda_.LoggingFormat.JSON,
            environment_encryption=key,
            environment={"LUNGCT_ENV": names.env, "LUNGCT_RESULTS_TABLE": names.results_table},
        )
        results_table.grant_read_data(self.function)
        waive(self.role, *role_waivers(xray=True))
        waive(
            self.function,
            Waiver(
                "HIPAA.Security-LambdaDLQ",
                "Invoked synchronously by API Gateway only: errors go back to the caller as HTTP 5xx and "
                "raise the function-errors alarm; a DLQ applies to asynchronous invokes, which never happen.",
            ),
            Waiver("HIPAA.Security-LambdaInsideVPC", LAMBDA_NO_VPC),
            children=False,
        )

        self.access_logs = log_group(
            self,
            "AccessLogGroup",
            name=f"/aws/apigateway/{names.prefix}-api",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"{names.prefix}-api",
            description="lungct study results (IAM-authorised)",
            create_default_stage=False,
            default_authorizer=authorizers.HttpIamAuthorizer(),
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
            access_log_settings=_AccessLogSettings(
                destination=apigw.LogGroupLogDestination(self.access_logs),
                format=apigateway.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
            ),
        )
        self.http_api.add_routes(
            path="/studies/{study_id}",
            methods=[apigw.HttpMethod.GET],
            integration=integrations.HttpLambdaIntegration("StudyQuery", self.function),
        )

    @property
    def url(self) -> str:
        return self.stage.url
