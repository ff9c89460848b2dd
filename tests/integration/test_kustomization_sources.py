"""A Kustomization on an OCIRepository (an artifact pushed in Flux's format) with the
artifact's origin revision in its status, and suspend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.oci import ANNOTATIONS, REVISION_ANNOTATION, push
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


async def test_applies_an_oci_artifact(
    engine: Engine,
    scenario: Scenario,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    digest = push(
        oci_registry,
        oci_repository,
        "v1.0.0",
        tmp_path,
        files={"apps/settings.yaml": config_map("settings", colour="blue").encode()},
    )
    await scenario.kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "artifact", "namespace": scenario.namespace},
            "spec": {
                "interval": "1s",
                "url": f"oci://{oci_repository}",
                "ref": {"tag": "v1.0.0"},
                "insecure": True,
            },
        }
    )
    await scenario.kustomization(
        "apps", "./apps", sourceRef={"kind": "OCIRepository", "name": "artifact"}
    )
    ready = await scenario.ready("apps")
    assert ready["status"]["lastAppliedRevision"] == f"v1.0.0@{digest}"
    origin = ANNOTATIONS[REVISION_ANNOTATION]
    assert ready["status"]["lastAppliedOriginRevision"] == origin
    assert ready["status"]["history"][0]["metadata"] == {
        "revision": f"v1.0.0@{digest}",
        "originRevision": origin,
    }
    live = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert live["data"] == {"colour": "blue"}


async def test_suspended_kustomizations_are_left_alone(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    await scenario.kubectl(
        "patch", "kustomization/apps", "--type=merge", "-p", '{"spec":{"suspend":true}}'
    )
    await asyncio.sleep(1)
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="green")}, "green")
    await scenario.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"colour":"red"}}'
    )
    await asyncio.sleep(4)
    assert (await scenario.kube.get(settings))["data"]["colour"] == "red", (
        "a suspended Kustomization repairs nothing"
    )

    await scenario.kubectl(
        "patch", "kustomization/apps", "--type=merge", "-p", '{"spec":{"suspend":false}}'
    )
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda c: c["data"]["colour"] == "green",
        within=30,
        what="resumed",
    )
