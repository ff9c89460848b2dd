"""Watch-driven drift repair: manual changes to managed fields are reverted without
waiting for the interval (1h here); fields lockstep does not set, and ignored fields,
are left alone; lockstep's own writes do not wake it again."""

from __future__ import annotations

import asyncio

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


async def _reconciles(scenario: Scenario, name: str = "apps") -> int:
    """How often the Kustomization has been reconciled since its objects last changed."""
    history = (await scenario.kube.get(scenario.ref(name)))["status"]["history"]
    return int(history[0]["totalReconciliations"])


async def test_scale_edit_and_delete_are_reverted_without_waiting_for_the_interval(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit(
        {"apps/web.yaml": deployment(), "apps/settings.yaml": config_map("settings", colour="blue")}
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)

    await scenario.kubectl("scale", "deploy/web", "--replicas=5")
    await eventually(
        lambda: scenario.kube.get(web),
        lambda d: d["spec"]["replicas"] == 2,
        within=10,
        what="replicas back to 2",
    )

    await scenario.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"colour":"red"}}'
    )
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda c: c["data"]["colour"] == "blue",
        within=10,
        what="colour back to blue",
    )

    await scenario.kubectl("delete", "configmap/settings")
    await eventually(
        lambda: scenario.get(settings),
        lambda c: c is not None and c["data"]["colour"] == "blue",
        within=10,
        what="settings recreated",
    )


async def test_fields_git_does_not_set_are_not_fought_over(
    engine: Engine, scenario: Scenario
) -> None:
    """An autoscaler owns replicas when Git leaves them out: its changes stay, and
    lockstep is not even woken by them."""
    scenario.commit({"apps/web.yaml": deployment(replicas=None)})
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    await asyncio.sleep(2)
    before = await _reconciles(scenario)

    await scenario.kubectl("scale", "deploy/web", "--replicas=4")
    # Another tool's label (kubectl's own managers are taken over, as Flux does).
    await scenario.kubectl("label", "--field-manager=team-tool", "deploy/web", "team=payments")
    await asyncio.sleep(3)
    live = await scenario.kube.get(web)
    assert live["spec"]["replicas"] == 4
    assert live["metadata"]["labels"]["team"] == "payments"
    assert await _reconciles(scenario) == before, (
        "changes to fields lockstep does not own must not trigger it"
    )

    await scenario.kubectl(
        "annotate", "kustomization/apps", "--overwrite", "reconcile.fluxcd.io/requestedAt=full"
    )
    await eventually(
        lambda: scenario.kube.get(scenario.ref("apps")),
        lambda o: o["status"].get("lastHandledReconcileAt") == "full",
        what="the requested reconcile",
    )
    live = await scenario.kube.get(web)
    assert live["spec"]["replicas"] == 4, "a full reconcile leaves them too"
    assert live["metadata"]["labels"]["team"] == "payments"


async def test_ignore_rules_exclude_fields_from_drift_repair(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/web.yaml": deployment(), "apps/other.yaml": deployment(name="other")})
    await scenario.source()
    await scenario.kustomization(
        "apps",
        "./apps",
        ignore=[{"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "name": "web"}}],
    )
    await scenario.ready("apps")
    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    other = ObjectRef("apps/v1", "Deployment", "other", scenario.namespace)

    await scenario.kubectl("scale", "deploy/web", "deploy/other", "--replicas=5")
    await eventually(
        lambda: scenario.kube.get(other),
        lambda d: d["spec"]["replicas"] == 2,
        within=10,
        what="other reverted",
    )
    assert (await scenario.kube.get(web))["spec"]["replicas"] == 5

    await scenario.kubectl(
        "annotate", "kustomization/apps", "--overwrite", "reconcile.fluxcd.io/requestedAt=full"
    )
    await eventually(
        lambda: scenario.kube.get(scenario.ref("apps")),
        lambda o: o["status"].get("lastHandledReconcileAt") == "full",
        what="the requested reconcile",
    )
    assert (await scenario.kube.get(web))["spec"]["replicas"] == 5, (
        "a full reconcile keeps the ignored field"
    )


async def test_own_writes_do_not_retrigger(engine: Engine, scenario: Scenario) -> None:
    scenario.commit(
        {"apps/web.yaml": deployment(), "apps/settings.yaml": config_map("settings", colour="blue")}
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="green")}, remove=())
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda c: c["data"]["colour"] == "green",
        within=30,
        what="green applied",
    )
    await asyncio.sleep(2)
    before = await _reconciles(scenario)
    await asyncio.sleep(4)
    assert await _reconciles(scenario) == before, "nothing changed, so nothing may be reconciled"
