"""cdk-nag: the rule packs every stage is checked against, and resource-scoped suppressions.

Every suppression names one construct (and, for IAM wildcard findings, the exact wildcard it
accepts) and says why; nothing is suppressed by path pattern or for a whole stack.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aspects, Stack
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NagPackSuppression, NagSuppressions
from constructs import IConstruct


def apply_checks(scope: IConstruct) -> None:
    """Run the AWS Solutions and HIPAA Security packs over everything under ``scope``."""
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))
    Aspects.of(scope).add(HIPAASecurityChecks(verbose=True))


@dataclass(frozen=True)
class Waiver:
    """One accepted finding: the rule, why it is accepted, and (for IAM5/IAM4) what exactly."""

    rule: str
    reason: str
    applies_to: tuple[str, ...] = ()

    def suppression(self) -> NagPackSuppression:
        if self.applies_to:
            return NagPackSuppression(id=self.rule, reason=self.reason, applies_to=list(self.applies_to))
        return NagPackSuppression(id=self.rule, reason=self.reason)


def waive(construct: IConstruct, *waivers: Waiver, children: bool = True) -> None:
    """Suppress findings on one construct (and its own children, e.g. a role's default policy)."""
    NagSuppressions.add_resource_suppressions(
        construct, [w.suppression() for w in waivers], apply_to_children=children
    )


def waive_path(stack: Stack, path: str, *waivers: Waiver) -> None:
    """For constructs the CDK creates as stack singletons (custom-resource providers): exact path."""
    NagSuppressions.add_resource_suppressions_by_path(
        stack, f"/{stack.node.path}/{path}" if not path.startswith("/") else path,
        [w.suppression() for w in waivers], apply_to_children=True,
    )


def arn_of(resource: IConstruct) -> str:
    """How cdk-nag spells a resource's ARN in IAM findings: ``<LogicalId.Arn>``."""
    cfn = resource.node.default_child
    stack = Stack.of(cfn)
    return f"<{stack.resolve(stack.get_logical_id(cfn))}.Arn>"


# Reasons shared by several resources, written once.
GRANT_ACTIONS = (
    "Action wildcards come from CDK grant_* methods (s3:GetObject*, s3:List*, kms:GenerateDataKey*, ...): "
    "they expand to the read/write family of one bucket prefix or one key, not to other services."
)
OWN_POLICY = (
    "The AWS::IAM::Policy is the CDK default policy of this one role, holding its grant_* statements; "
    "it is not shared and is reviewed with the role."
)
XRAY = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; AWS requires Resource '*'."
LAMBDA_NO_VPC = (
    "The function reaches only AWS APIs (S3, DynamoDB, SSM, X-Ray, CloudWatch) over TLS with IAM "
    "authorisation and holds no network-reachable resources; a VPC would add NAT/endpoint cost and no isolation."
)


def role_waivers(*, actions: tuple[str, ...] = (), resources: tuple[str, ...] = (), xray: bool = False) -> list[Waiver]:
    """IAM5 for the named wildcards (grant_* families and prefixes) plus the own-policy finding."""
    applies = tuple(f"Action::{a}" for a in actions) + tuple(f"Resource::{r}" for r in resources)
    waivers = [Waiver("HIPAA.Security-IAMNoInlinePolicy", OWN_POLICY)]
    if applies:
        waivers.append(Waiver("AwsSolutions-IAM5", GRANT_ACTIONS + " Resource wildcards are object keys under one named prefix.", applies))
    if xray:
        waivers.append(Waiver("AwsSolutions-IAM5", XRAY, ("Resource::*",)))
    return waivers
