"""Deleting a Kustomization: the finalizer and each deletionPolicy."""

from __future__ import annotations

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


async def _deploy(scenario: Scenario, name: str, **spec: object) -> ObjectRef:
    scenario.commit({f"{name}/settings.yaml": config_map(f"{name}-settings", colour="blue")}, name)
    await scenario.source()
    await scenario.kustomization(name, f"./{name}", **spec)
    ready = await scenario.ready(name)
    assert "finalizers.fluxcd.io" in ready["metadata"]["finalizers"]
    return ObjectRef("v1", "ConfigMap", f"{name}-settings", scenario.namespace)


async def _delete(scenario: Scenario, name: str) -> None:
    await scenario.kube.delete(scenario.ref(name))
    await eventually(lambda: scenario.gone(scenario.ref(name)), bool, what=f"{name} deleted")


@pytest.mark.parametrize(
    ("spec", "deleted"),
    [
        ({"prune": True}, True),
        ({"prune": False}, False),
        ({"prune": False, "deletionPolicy": "Delete"}, True),
        ({"prune": True, "deletionPolicy": "WaitForTermination"}, True),
        ({"prune": True, "deletionPolicy": "Orphan"}, False),
    ],
    ids=["mirror-prune", "mirror-no-prune", "delete", "wait-for-termination", "orphan"],
)
async def test_deletion_policy(
    engine: Engine, scenario: Scenario, spec: dict[str, object], deleted: bool
) -> None:
    settings = await _deploy(scenario, "apps", **spec)
    await _delete(scenario, "apps")
    assert await scenario.gone(settings) is deleted


async def test_orphaned_objects_keep_their_data(engine: Engine, scenario: Scenario) -> None:
    settings = await _deploy(scenario, "apps", prune=True, deletionPolicy="Orphan")
    await _delete(scenario, "apps")
    live = await scenario.kube.get(settings)
    assert live["data"] == {"colour": "blue"}


async def test_wait_for_termination_holds_the_kustomization_until_objects_are_gone(
    engine: Engine, scenario: Scenario
) -> None:
    held = config_map("held", colour="blue").replace(
        "  name: held\n", "  name: held\n  finalizers: [example.com/hold]\n"
    )
    scenario.commit({"apps/held.yaml": held})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", deletionPolicy="WaitForTermination")
    await scenario.ready("apps")
    await scenario.kube.delete(scenario.ref("apps"))
    ref = ObjectRef("v1", "ConfigMap", "held", scenario.namespace)
    await eventually(
        lambda: scenario.kube.get(ref),
        lambda c: "deletionTimestamp" in c["metadata"],
        what="the object terminating",
    )
    assert not await scenario.gone(scenario.ref("apps")), "the Kustomization waits for its objects"
    await scenario.kube.json_patch(ref, [{"op": "remove", "path": "/metadata/finalizers"}])
    await eventually(lambda: scenario.gone(scenario.ref("apps")), bool, what="Kustomization gone")
