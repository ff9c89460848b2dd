"""One bad app never blocks the others: twenty Kustomizations on one source, one with
malformed YAML, and a new commit still reaching the nineteen good ones."""

from __future__ import annotations

import asyncio

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

COUNT = 20
BROKEN = 7
MALFORMED = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: [\n"


async def test_nineteen_good_apps_stay_reconciled_beside_a_broken_one(
    engine: Engine, scenario: Scenario
) -> None:
    files = {
        f"apps/app-{i}/settings.yaml": config_map(f"app-{i}", version="1") for i in range(COUNT)
    }
    files[f"apps/app-{BROKEN}/broken.yaml"] = MALFORMED
    scenario.commit(files)
    await scenario.source()
    for i in range(COUNT):
        await scenario.kustomization(f"app-{i}", f"./apps/app-{i}")
    good = [i for i in range(COUNT) if i != BROKEN]
    await asyncio.gather(*(scenario.ready(f"app-{i}", within=120) for i in good))
    failed = await scenario.failed(f"app-{BROKEN}", "broken.yaml")
    assert f"apps/app-{BROKEN}/broken.yaml:5" in condition(failed, "Ready")

    scenario.commit(
        {f"apps/app-{i}/settings.yaml": config_map(f"app-{i}", version="2") for i in range(COUNT)},
        "version 2",
    )
    for i in good:
        await eventually(
            lambda i=i: scenario.kube.get(
                ObjectRef("v1", "ConfigMap", f"app-{i}", scenario.namespace)
            ),
            lambda c: c["data"]["version"] == "2",
            within=120,
            what=f"app-{i} at version 2",
        )
    still = await scenario.kube.get(scenario.ref(f"app-{BROKEN}"))
    assert condition(still, "Ready").startswith("False")
    assert "broken.yaml:5" in condition(still, "Ready")
