"""Self-heal of an Argo CD Application is watch-driven: with the resync an hour away, a
``kubectl scale`` of a Deployment the Application deployed is reverted by the drift
watch, and without ``selfHeal`` the Application turns OutOfSync as quickly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.argo import AUTOMATED, application, engine_resyncing_every, project, until
from ground.engine import Engine
from ground.gitops import Scenario, deployment
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications only every hour by themselves."""
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "1h")


async def test_a_manual_change_is_seen_at_once_and_healed_when_asked(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "healed/web.yaml": deployment("healed", replicas=1),
            "left/web.yaml": deployment("left", replicas=1),
        }
    )
    await scenario.kube.apply(application(scenario, "healed", "healed", **AUTOMATED))
    left = {"syncPolicy": {"automated": {"prune": True}}}
    await scenario.kube.apply(application(scenario, "left", "left", **left))
    await until(scenario, "healed", "Synced")
    await until(scenario, "left", "Synced")

    await scenario.kubectl("scale", "deployment/healed", "--replicas=3")
    await scenario.kubectl("scale", "deployment/left", "--replicas=3")

    healed = ObjectRef("apps/v1", "Deployment", "healed", scenario.namespace)
    await eventually(
        lambda: scenario.kube.get(healed),
        lambda o: o["spec"]["replicas"] == 1,
        within=30,
        what="the scale reverted long before the next resync",
    )
    await until(scenario, "left", "OutOfSync", within=30)
