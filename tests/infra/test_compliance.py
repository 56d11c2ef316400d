"""cdk-nag, IAM and cfn-lint checks over every synthesized environment."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aws_cdk.assertions import Annotations, Match

pytestmark = pytest.mark.infra

NAG_PACKS = ("AwsSolutions-.*", "HIPAA.Security-.*")
# CDK-generated resources carry DependsOn that a GetAtt already implies; harmless for deployment.
ACCEPTED_CFN_LINT_WARNINGS = {"W3005"}


def test_cdk_nag_has_no_unsuppressed_findings(synthesized):
    findings = []
    for env, stage in synthesized.stages.items():
        for stack in stage.stacks:
            annotations = Annotations.from_stack(stack)
            for pack in NAG_PACKS:
                for message in (
                    annotations.find_error("*", Match.string_like_regexp(pack))
                    + annotations.find_warning("*", Match.string_like_regexp(pack))
                ):
                    findings.append(f"{env} {message.id}: {str(message.entry.data)[:160]}")
    assert not findings, "\n".join(findings)


def test_cdk_nag_validation_did_not_fail_on_any_rule(synthesized):
    failures = []
    for stage in synthesized.stages.values():
        for stack in stage.stacks:
            annotations = Annotations.from_stack(stack)
            for message in annotations.find_warning("*", Match.string_like_regexp("CdkNagValidationFailure.*")):
                failures.append(f"{message.id}: {str(message.entry.data)[:160]}")
    assert not failures, "\n".join(failures)


def _statements(resource: dict) -> list[dict]:
    props = resource.get("Properties", {})
    documents = []
    if "PolicyDocument" in props:
        documents.append(props["PolicyDocument"])
    for policy in props.get("Policies", []) or []:
        documents.append(policy["PolicyDocument"])
    statements = []
    for document in documents:
        found = document.get("Statement", [])
        statements.extend(found if isinstance(found, list) else [found])
    return statements


def test_no_iam_policy_allows_every_action_of_a_service(synthesized):
    offenders = []
    iam_types = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"}
    for path in synthesized.template_files():
        resources = json.loads(path.read_text()).get("Resources", {})
        for logical_id, resource in resources.items():
            if resource["Type"] not in iam_types:
                continue
            for statement in _statements(resource):
                actions = statement.get("Action", [])
                for action in actions if isinstance(actions, list) else [actions]:
                    if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                        offenders.append(f"{path.name} {logical_id}: {action}")
    assert synthesized.template_files()
    assert not offenders, offenders


def test_cfn_lint_finds_no_errors(synthesized):
    files = [str(p) for p in synthesized.template_files()]
    assert len(files) == 5 * len(synthesized.stages)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--format", "json", "--", *files],
        capture_output=True, text=True, check=False,
    )
    assert result.stdout.strip(), result.stderr
    matches = json.loads(result.stdout)
    errors = [m for m in matches if m["Level"] == "Error"]
    unexpected = [m for m in matches if m["Rule"]["Id"] not in ACCEPTED_CFN_LINT_WARNINGS]
    describe = lambda ms: "\n".join(f'{m["Rule"]["Id"]} {m["Filename"]}: {m["Message"][:200]}' for m in ms)  # noqa: E731
    assert not errors, describe(errors)
    assert not unexpected, describe(unexpected)
