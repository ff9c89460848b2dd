"""An object two Argo CD Applications render, on the real control plane: the one that
does not track it warns with ``SharedResourceWarning`` naming both, and its sync with
``FailOnSharedResource=true`` fails before anything is written, naming the object and the
other Application."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.argo import (
    ARGO_API,
    AUTOMATED,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
)
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "5s")


def condition(app: KubeObject, kind: str) -> str:
    conditions = (app.get("status") or {}).get("conditions") or []
    return next((c["message"] for c in conditions if c["type"] == kind), "")


async def test_a_shared_object_is_warned_of_and_refused_with_fail_on_shared_resource(
    engine: Engine, scenario: Scenario
) -> None:
    namespace = scenario.namespace
    await project(scenario.kube, namespace)
    scenario.commit(
        {
            "one/settings.yaml": config_map("settings", colour="blue"),
            "two/settings.yaml": config_map("settings", colour="red"),
        }
    )
    await scenario.kube.apply(application(scenario, "one", "one", **AUTOMATED))
    await until(scenario, "one", "Synced")
    policy = {"syncPolicy": {"syncOptions": ["FailOnSharedResource=true"]}}
    await scenario.kube.apply(application(scenario, "two", "two", **policy))

    two = await eventually(
        lambda: get_app(scenario, "two"),
        lambda app: bool(condition(app, "SharedResourceWarning")),
        within=60,
        what="a SharedResourceWarning",
    )
    assert condition(two, "SharedResourceWarning") == (
        f"ConfigMap/settings is part of applications {namespace}/two and {namespace}/one"
    )
    assert not condition(await get_app(scenario, "one"), "SharedResourceWarning")

    await scenario.kube.json_patch(
        ObjectRef(ARGO_API, "Application", "two", namespace),
        [{"op": "add", "path": "/operation", "value": {"sync": {"prune": True}}}],
    )
    two = await eventually(
        lambda: get_app(scenario, "two"),
        lambda app: (
            ((app.get("status") or {}).get("operationState") or {}).get("phase") == "Failed"
        ),
        within=60,
        what="the sync of two failed",
    )

    message = two["status"]["operationState"]["message"]
    assert message == (
        "shared resource found, and FailOnSharedResource=true: ConfigMap/settings is part "
        f"of applications {namespace}/two and {namespace}/one; remove it from one of the "
        "Applications"
    )
    assert condition(two, "SyncError") == message
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
    assert settings["data"] == {"colour": "blue"}
    tracking = settings["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
    assert tracking.startswith(f"{namespace}_one:")
