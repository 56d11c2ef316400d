"""Scheduled GPU training: VPC, AWS Batch on GPU EC2, MLflow tracking server, schedule.

The job's role may read training data, write artifacts, use MLflow and move the serving pointer;
nothing more. The schedule's role may submit this job definition to this queue only.
"""
from __future__ import annotations

import json

from aws_cdk import Aws, Duration, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.inference import REPO_ROOT, log_group
from infra.nag import Waiver, arn_of, role_waivers, waive
from infra.storage import DATA_PREFIX, DVC_PREFIX, MLFLOW_PREFIX
from lungct.config import MODELS_PREFIX, ResourceNames

TRAIN_DOCKERFILE = "Dockerfile.train"
VPC_CIDR = "10.42.0.0/20"
BATCH_SUBMIT_JOB_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
# What the sagemaker-mlflow plugin calls on a tracking server: runs, metrics, artifacts, registry.
MLFLOW_ACTIONS = [
    f"sagemaker-mlflow:{action}"
    for action in (
        "AccessUI", "CreateExperiment", "GetExperiment", "GetExperimentByName", "SearchExperiments",
        "UpdateExperiment", "CreateRun", "GetRun", "UpdateRun", "SearchRuns", "LogBatch", "LogMetric",
        "LogParam", "LogInputs", "LogModel", "SetTag", "DeleteTag", "GetMetricHistory", "ListArtifacts",
        "CreateRegisteredModel", "GetRegisteredModel", "SearchRegisteredModels", "UpdateRegisteredModel",
        "SetRegisteredModelTag", "SetRegisteredModelAlias", "DeleteRegisteredModelAlias",
        "GetModelVersionByAlias", "GetLatestModelVersions", "CreateModelVersion", "GetModelVersion",
        "UpdateModelVersion", "SearchModelVersions", "SetModelVersionTag",
        "GetDownloadURIForModelVersionArtifacts", "TransitionModelVersionStage",
    )
]


class TrainingNetwork(Construct):
    """Private subnets reaching AWS through VPC endpoints, or through one NAT gateway."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        network: str,
        max_azs: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        sagemaker_endpoints: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        use_nat = network == "nat"
        private = ec2.SubnetType.PRIVATE_WITH_EGRESS if use_nat else ec2.SubnetType.PRIVATE_ISOLATED
        subnets = [ec2.SubnetConfiguration(name="training", subnet_type=private, cidr_mask=22)]
        if use_nat:
            subnets.insert(
                0,
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26, map_public_ip_on_launch=False
                ),
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=max_azs,
            nat_gateways=1 if use_nat else 0,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        self.subnets = ec2.SubnetSelection(subnet_type=private)
        for subnet in self.vpc.public_subnets:
            waive(
                subnet.node.find_child("DefaultRoute"),
                Waiver(
                    "HIPAA.Security-VPCNoUnrestrictedRouteToIGW",
                    "network=nat: this public subnet holds only the NAT gateway (no instances, no public IPs "
                    "assigned); its default route to the internet gateway is what NAT needs. Environments "
                    "with network=endpoints have no public subnet at all.",
                ),
            )
        flow_logs = log_group(
            self, "FlowLogGroup", name=None, key=key, retention_days=log_retention_days, removal_policy=removal_policy
        )
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT if use_nat else ec2.FlowLogTrafficType.ALL,
        )
        waive(flow_log.node.find_child("IAMRole"), *role_waivers())
        if not use_nat:
            services = {
                "Ecr": ec2.InterfaceVpcEndpointAwsService.ECR,
                "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
                "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
                "EcsAgent": ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
                "EcsTelemetry": ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
                "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
                "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
                "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
            }
            if sagemaker_endpoints:
                services["SageMakerApi"] = ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API
                services["SageMakerMlflow"] = ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS
            endpoint_sg = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                description="lungct training VPC endpoints: HTTPS from inside the VPC only",
                allow_all_outbound=False,
            )
            endpoint_sg.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the training VPC")
            for endpoint_id, service in services.items():
                self.vpc.add_interface_endpoint(
                    endpoint_id,
                    service=service,
                    subnets=self.subnets,
                    private_dns_enabled=True,
                    security_groups=[endpoint_sg],
                    open=False,
                )


class Training(Construct):
    """Batch compute environment, queue and GPU job definition, MLflow, and the schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        model_parameter: ssm.IStringParameter,
        schedule_cron: str,
        schedule_timezone: str,
        schedule_enabled: bool,
        gpu_instance_types: tuple[str, ...],
        spot: bool,
        max_vcpus: int,
        job_vcpus: int,
        job_memory_mib: int,
        job_timeout_h: int,
        network: str,
        max_azs: int,
        mlflow_tracking_uri: str | None,
        mlflow_server_size: str,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.network = TrainingNetwork(
            self,
            "Network",
            key=key,
            network=network,
            max_azs=max_azs,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            sagemaker_endpoints=mlflow_tracking_uri is None or mlflow_tracking_uri.startswith("arn:"),
        )

        self.tracking_server: sagemaker.CfnMlflowTrackingServer | None = None
        if mlflow_tracking_uri:
            self.tracking_uri = mlflow_tracking_uri
        else:
            self.tracking_server = self._tracking_server(
                names=names, key=key, artifacts_bucket=artifacts_bucket, size=mlflow_server_size
            )
            self.tracking_uri = self.tracking_server.attr_tracking_server_arn

        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"lungct {names.env} training job: read data, write artifacts, MLflow, serving pointer",
        )
        artifacts_bucket.grant_read(self.job_role, f"{DATA_PREFIX}*")
        artifacts_bucket.grant_read(self.job_role, f"{DVC_PREFIX}*")
        artifacts_bucket.grant_read_write(self.job_role, f"{MODELS_PREFIX}*")
        artifacts_bucket.grant_read_write(self.job_role, f"{MLFLOW_PREFIX}*")
        model_parameter.grant_read(self.job_role)
        model_parameter.grant_write(self.job_role)
        if self.tracking_server is not None:
            self.job_role.add_to_policy(
                iam.PolicyStatement(actions=MLFLOW_ACTIONS, resources=[self.tracking_server.attr_tracking_server_arn])
            )

        self.security_group = ec2.SecurityGroup(
            self,
            "ComputeSecurityGroup",
            vpc=self.network.vpc,
            description="lungct training instances: no inbound, HTTPS out to AWS endpoints",
            allow_all_outbound=True,
        )
        self.compute_environment = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "ComputeEnvironment",
            vpc=self.network.vpc,
            vpc_subnets=self.network.subnets,
            security_groups=[self.security_group],
            instance_types=[ec2.InstanceType(t) for t in gpu_instance_types],
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2_NVIDIA)],
            minv_cpus=0,
            maxv_cpus=max_vcpus,
            spot=spot,
            allocation_strategy=(
                batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED if spot else batch.AllocationStrategy.BEST_FIT_PROGRESSIVE
            ),
            update_to_latest_image_version=True,
        )
        waive(
            self.compute_environment.instance_role,
            Waiver(
                "AwsSolutions-IAM4",
                "AWS Batch EC2 container instances need AmazonEC2ContainerServiceforEC2Role (ECS agent "
                "registration, image pull) as documented by AWS Batch; job permissions live in the job role.",
                ("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",),
            ),
        )
        self.job_queue = batch.JobQueue(
            self,
            "JobQueue",
            job_queue_name=names.training_job_queue,
            compute_environments=[batch.OrderedComputeEnvironment(compute_environment=self.compute_environment, order=1)],
        )

        job_logs = log_group(
            self,
            "JobLogGroup",
            name=f"/aws/batch/{names.prefix}-training",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        # Staging copies the build context into cdk.out; the image is built only by `cdk deploy`.
        self.image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(REPO_ROOT), file=TRAIN_DOCKERFILE, platform=ecr_assets.Platform.LINUX_AMD64
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            job_definition_name=names.training_job_definition,
            retry_attempts=2,
            timeout=Duration.hours(job_timeout_h),
            propagate_tags=True,
            container=batch.EcsEc2ContainerDefinition(
                self,
                "Container",
                image=ecs.ContainerImage.from_docker_image_asset(self.image),
                cpu=job_vcpus,
                memory=Size.mebibytes(job_memory_mib),
                gpu=1,
                job_role=self.job_role,
                logging=ecs.LogDrivers.aws_logs(stream_prefix="train", log_group=job_logs),
                environment={
                    "LUNGCT_ENV": names.env,
                    "MLFLOW_TRACKING_URI": self.tracking_uri,
                    "LUNGCT_DATA_URI": f"s3://{names.artifacts_bucket}/{DATA_PREFIX}",
                    "LUNGCT_ARTIFACTS_BUCKET": names.artifacts_bucket,
                    "LUNGCT_MODEL_PARAMETER": names.model_parameter,
                    "AWS_REGION": Aws.REGION,
                },
            ),
        )

        bucket = arn_of(artifacts_bucket)
        waive(
            self.job_role,
            *role_waivers(
                actions=("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "s3:DeleteObject*",
                         "kms:GenerateDataKey*", "kms:ReEncrypt*"),
                resources=tuple(f"{bucket}/{p}*" for p in (DATA_PREFIX, DVC_PREFIX, MODELS_PREFIX, MLFLOW_PREFIX)),
            ),
        )
        execution_role = self.job_definition.container.execution_role
        waive(
            execution_role,
            *role_waivers(),
            Waiver(
                "AwsSolutions-IAM5",
                "ecr:GetAuthorizationToken supports no resource-level permissions (AWS requires '*'); image "
                "pulls and log writes are scoped to the asset repository and the job log group.",
                ("Resource::*",),
            ),
        )
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"lungct {names.env}: EventBridge Scheduler submits the training job",
        )
        self.schedule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob"],
                resources=[self.job_queue.job_queue_arn, self.job_definition.job_definition_arn],
            )
        )
        waive(self.schedule_role, *role_waivers())
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=names.training_schedule,
            description=f"lungct {names.env}: retrain on a schedule",
            schedule_expression=schedule_cron,
            schedule_expression_timezone=schedule_timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED" if schedule_enabled else "DISABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=BATCH_SUBMIT_JOB_TARGET,
                role_arn=self.schedule_role.role_arn,
                input=json.dumps(
                    {
                        "JobName": f"{names.prefix}-scheduled-training",
                        "JobQueue": self.job_queue.job_queue_arn,
                        "JobDefinition": self.job_definition.job_definition_arn,
                    }
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
                ),
            ),
        )

    def _tracking_server(
        self, *, names: ResourceNames, key: kms.IKey, artifacts_bucket: s3.IBucket, size: str
    ) -> sagemaker.CfnMlflowTrackingServer:
        role = iam.Role(
            self,
            "MlflowRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"lungct {names.env}: SageMaker MLflow tracking server, artifacts under {MLFLOW_PREFIX}",
        )
        artifacts_bucket.grant_read_write(role, f"{MLFLOW_PREFIX}*")
        waive(
            role,
            *role_waivers(
                actions=("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "s3:DeleteObject*",
                         "kms:GenerateDataKey*", "kms:ReEncrypt*"),
                resources=(f"{arn_of(artifacts_bucket)}/{MLFLOW_PREFIX}*",),
            ),
        )
        server = sagemaker.CfnMlflowTrackingServer(
            self,
            "MlflowTrackingServer",
            tracking_server_name=names.mlflow_tracking_server,
            artifact_store_uri=f"s3://{artifacts_bucket.bucket_name}/{MLFLOW_PREFIX}",
            role_arn=role.role_arn,
            tracking_server_size=size,
            automatic_model_registration=False,
        )
        server.node.add_dependency(role)
        return server
