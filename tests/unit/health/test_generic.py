"""Custom resources and kinds without rules of their own: the Ready condition and kstatus' rules."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.health import HealthState, evaluate

from .objects import condition, kube_object


def helm_release(*conditions: dict[str, str], observed: int = 4) -> dict[str, Any]:
    return kube_object(
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        "podinfo",
        generation=4,
        spec={"interval": "5m"},
        status={"observedGeneration": observed, "conditions": list(conditions)},
    )


def test_ready_custom_resource_is_current() -> None:
    health = evaluate(
        helm_release(condition("Ready", "True", "InstallSucceeded", "Helm install succeeded"))
    )
    assert health.state is HealthState.CURRENT


def test_not_ready_custom_resource_is_in_progress_with_its_reason() -> None:
    health = evaluate(
        helm_release(condition("Ready", "False", "UpgradeFailed", "timed out waiting"))
    )
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == (
        "HelmRelease/apps/podinfo: not ready: UpgradeFailed: timed out waiting"
    )


def test_custom_resource_with_observed_generation_behind_is_in_progress() -> None:
    health = evaluate(helm_release(condition("Ready", "True"), observed=3))
    assert health.state is HealthState.IN_PROGRESS
    assert "generation 3" in health.message


def test_stalled_custom_resource_has_failed() -> None:
    health = evaluate(
        helm_release(
            condition("Ready", "False", "InstallFailed"),
            condition("Stalled", "True", "RetriesExceeded", "Failed to install after 3 attempts"),
        )
    )
    assert health.state is HealthState.FAILED
    assert "stalled: RetriesExceeded" in health.message


def test_reconciling_custom_resource_is_in_progress_even_if_ready() -> None:
    health = evaluate(
        helm_release(condition("Ready", "True"), condition("Reconciling", "True", "Progressing"))
    )
    assert health.state is HealthState.IN_PROGRESS


@pytest.mark.parametrize(
    "obj",
    [
        kube_object("v1", "ConfigMap", "settings"),
        kube_object("example.com/v1", "Widget", "w", spec={}, status={"observedGeneration": 1}),
    ],
)
def test_kind_reporting_no_readiness_is_current(obj: dict[str, Any]) -> None:
    assert evaluate(obj).state is HealthState.CURRENT
