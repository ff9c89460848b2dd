"""Prune through the engine: what Git no longer declares is deleted, except with
prune off, objects annotated prune: disabled, and an empty render (the guard)."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

KEEP_ME = config_map("keep-me", colour="blue").replace(
    "  name: keep-me\n",
    "  name: keep-me\n  annotations: {kustomize.toolkit.fluxcd.io/prune: disabled}\n",
)


def _map(scenario: Scenario, name: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", name, scenario.namespace)


async def test_removed_objects_are_pruned_unless_disabled(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit(
        {
            "apps/a.yaml": config_map("a", colour="blue"),
            "apps/b.yaml": config_map("b", colour="blue"),
            "apps/keep.yaml": KEEP_ME,
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    scenario.commit({}, "drop b and keep-me", remove=("apps/b.yaml", "apps/keep.yaml"))
    await eventually(lambda: scenario.gone(_map(scenario, "b")), bool, within=30, what="b pruned")
    assert not await scenario.gone(_map(scenario, "keep-me"))
    assert not await scenario.gone(_map(scenario, "a"))


async def test_prune_off_keeps_removed_objects(engine: Engine, scenario: Scenario) -> None:
    scenario.commit(
        {
            "apps/a.yaml": config_map("a", colour="blue"),
            "apps/b.yaml": config_map("b", colour="blue"),
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps", prune=False)
    first = await scenario.ready("apps")
    scenario.commit({}, "drop b", remove=("apps/b.yaml",))
    await eventually(
        lambda: scenario.kube.get(scenario.ref("apps")),
        lambda o: o["status"].get("lastAppliedRevision") != first["status"]["lastAppliedRevision"],
        within=30,
        what="the new revision applied",
    )
    assert not await scenario.gone(_map(scenario, "b"))


async def test_an_empty_render_prunes_nothing_unless_allowed(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit(
        {"apps/a.yaml": config_map("a", colour="blue"), "other/readme.md": "placeholder\n"}
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    scenario.commit({"apps/.keep": ""}, "empty the folder", remove=("apps/a.yaml",))
    guarded = await scenario.failed("apps", "nothing was pruned")
    assert "lockstep.io/allow-empty-prune" in condition(guarded, "Ready")
    assert not await scenario.gone(_map(scenario, "a"))

    await scenario.kubectl("annotate", "kustomization/apps", "lockstep.io/allow-empty-prune=true")
    await scenario.kubectl(
        "annotate", "--overwrite", "kustomization/apps", "reconcile.fluxcd.io/requestedAt=1"
    )
    await eventually(
        lambda: scenario.gone(_map(scenario, "a")), bool, within=30, what="a pruned when allowed"
    )
    await scenario.ready("apps")
