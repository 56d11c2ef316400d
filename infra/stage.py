"""One CDK stage per environment: the five stacks, wired together."""
from __future__ import annotations

from aws_cdk import Aws, Stage, Tags
from constructs import Construct

from infra.nag import apply_checks
from infra.settings import EnvironmentSettings
from infra.stacks import ApiStack, InferenceStack, MonitoringStack, StorageStack, TrainingStack
from lungct.config import PROJECT, resource_names


class LungctStage(Stage):
    """An environment. Stacks are environment-agnostic: account and region come from deploy time."""

    def __init__(self, scope: Construct, *, settings: EnvironmentSettings, nag: bool = True) -> None:
        names = resource_names(settings.name, account=Aws.ACCOUNT_ID, region=Aws.REGION)
        super().__init__(scope, names.stage)
        self.settings = settings
        self.names = names
        self.storage = StorageStack(self, "Storage", names=names, settings=settings)
        self.inference = InferenceStack(self, "Inference", names=names, settings=settings, storage=self.storage)
        self.api = ApiStack(self, "Api", names=names, settings=settings, storage=self.storage)
        self.training = TrainingStack(self, "Training", names=names, settings=settings, storage=self.storage)
        self.monitoring = MonitoringStack(
            self, "Monitoring", names=names, settings=settings,
            storage=self.storage, inference=self.inference, api=self.api, training=self.training,
        )
        Tags.of(self).add("project", PROJECT)
        Tags.of(self).add("environment", settings.name)
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)
        if nag:
            apply_checks(self)

    @property
    def stacks(self) -> list:
        return [self.storage, self.inference, self.api, self.training, self.monitoring]
