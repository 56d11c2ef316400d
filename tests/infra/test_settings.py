"""Per-environment settings: validated where they are read, so a bad cdk.json fails at synth."""
from __future__ import annotations

import pytest

from infra.settings import EnvironmentSettings, SettingsError, load_environments

from infra_support import cdk_context

pytestmark = pytest.mark.infra


def test_cdk_json_defines_dev_and_prod_and_selects_one():
    context = cdk_context()["environments"]
    assert {"dev", "prod"} <= set(context)
    (prod,) = load_environments(context, "prod")
    assert prod.name == "prod" and prod.is_retained
    assert [s.name for s in load_environments(context)] == list(context)


def test_unknown_environment_names_the_known_ones():
    with pytest.raises(SettingsError, match=r"unknown environment 'qa'.*dev"):
        load_environments(cdk_context()["environments"], "qa")


def test_unknown_setting_is_rejected():
    with pytest.raises(SettingsError, match="memory"):
        EnvironmentSettings.from_context("dev", {"memory": 1024})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"max_concurrency": 8, "infer_reserved_concurrency": 4}, "only produces throttles"),
        ({"max_concurrency": 1}, "max_concurrency"),
        ({"network": "vpn"}, "network"),
        ({"removal_policy": "snapshot"}, "removal_policy"),
        ({"log_retention_days": 10}, "log_retention_days"),
        ({"schedule_cron": "0 3 * * 0"}, "schedule_cron"),
    ],
)
def test_invalid_values_fail_with_the_setting_named(override, message):
    with pytest.raises(SettingsError, match=message):
        EnvironmentSettings.from_context("dev", override)


def test_visibility_timeout_follows_function_timeout():
    settings = EnvironmentSettings(name="dev", infer_timeout_s=100, max_batching_window_s=7)
    assert settings.queue_visibility_timeout_s == 607
