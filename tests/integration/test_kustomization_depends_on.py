"""dependsOn beyond Kustomizations: any object by apiVersion and kind, which must be healthy."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment

pytestmark = pytest.mark.integration


async def test_waits_for_an_arbitrary_object_to_be_healthy(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization(
        "apps",
        "./apps",
        dependsOn=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "database"}],
    )
    waiting = await scenario.failed("apps", "database")
    assert f"dependency Deployment/{scenario.namespace}/database does not exist" in condition(
        waiting, "Ready"
    )
    assert "DependencyNotReady" in str(waiting["status"]["conditions"])

    await scenario.kubectl("apply", "-f", "-", stdin=deployment(name="database"))
    ready = await scenario.ready("apps", within=60)
    assert (
        ready["status"]["inventory"]["entries"][0]["id"]
        == f"{scenario.namespace}_settings__ConfigMap"
    )


async def test_cluster_scoped_dependency(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization(
        "apps",
        "./apps",
        dependsOn=[{"apiVersion": "v1", "kind": "Namespace", "name": scenario.namespace}],
    )
    await scenario.ready("apps")
