"""dependsOn[].readyExpr through the engine: a CEL expression over ``self`` and ``dep``
replaces the built-in readiness check, a false one keeps the Kustomization waiting with
Flux's message, and one that does not compile stalls it."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map

pytestmark = pytest.mark.integration

LABELLED_READY = "dep.metadata.?labels.?tier.orValue('') == 'ready' && self.metadata.name == 'apps'"


async def test_ready_expr_decides_instead_of_the_ready_condition(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    # The dependency never becomes Ready: its path does not exist.
    await scenario.kustomization("infra", "./missing")
    await scenario.failed("infra")
    await scenario.kustomization(
        "apps", "./apps", dependsOn=[{"name": "infra", "readyExpr": LABELLED_READY}]
    )
    waiting = await scenario.failed("apps", "readyExpr")
    assert condition(waiting, "Ready") == (
        f"False: dependency '{scenario.namespace}/infra' is not ready according to readyExpr eval"
    )
    assert "DependencyNotReady" in str(waiting["status"]["conditions"])

    await scenario.kubectl("label", "kustomization/infra", "tier=ready")
    ready = await scenario.ready("apps", within=60)
    assert ready["status"]["inventory"]["entries"] == [
        {"id": f"{scenario.namespace}_settings__ConfigMap", "v": "v1"}
    ]


async def test_ready_expr_on_any_object(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kubectl("apply", "-f", "-", stdin=config_map("switch", state="off"))
    await scenario.kustomization(
        "apps",
        "./apps",
        dependsOn=[
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "switch",
                "readyExpr": "dep.data.state == 'on'",
            }
        ],
    )
    await scenario.failed("apps", "not ready according to readyExpr eval")

    await scenario.kubectl("apply", "-f", "-", stdin=config_map("switch", state="on"))
    await scenario.ready("apps", within=60)


async def test_an_expression_that_does_not_compile_stalls(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("infra", "./apps")
    await scenario.kustomization(
        "apps", "./apps", dependsOn=[{"name": "infra", "readyExpr": "dep.status.(("}]
    )
    stalled = await scenario.failed("apps", "readyExpr")
    message = condition(stalled, "Ready")
    assert (
        f"dependency '{scenario.namespace}/infra': readyExpr 'dep.status.((' is invalid" in message
    )
    assert condition(stalled, "Stalled").startswith("True")
    assert "InvalidCELExpression" in str(stalled["status"]["conditions"])
    assert condition(stalled, "Reconciling") == ""
