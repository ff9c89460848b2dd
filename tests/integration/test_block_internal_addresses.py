"""``lockstep run --block-internal-addresses``: sources, registries and remote clusters on
internal addresses are refused before any connection, with a message naming the object,
the host and the way out; hosts named by ``--allow-address`` are used as before.

Everything of the test ground is on 127.0.0.1, an internal address: the engine here
allows ``localhost`` by name, so the same Git server is refused under its address and
served under that name. The metadata address (169.254.169.254) is refused before a
packet is sent, so the test sends none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.cluster import remote_kubeconfig_secret
from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.loopback import LOOPBACK
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

SOURCE_API = "source.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def guarded_engine(
    crds_installed: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    running = start_engine(
        crds_installed,
        tmp_path_factory.mktemp("engine"),
        "--block-internal-addresses",
        "--allow-address",
        "localhost",
    )
    yield running
    try:
        wait_for_deletions(crds_installed, running)
    finally:
        stop_engine(running)


async def _git_repository(scenario: Scenario, name: str, url: str) -> ObjectRef:
    await scenario.kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": scenario.namespace},
            "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}},
        }
    )
    return ObjectRef(SOURCE_API, "GitRepository", name, scenario.namespace)


async def _settled(scenario: Scenario, ref: ObjectRef) -> KubeObject:
    """The object once its Ready condition is True or False."""
    return await eventually(
        lambda: scenario.kube.get(ref),
        lambda obj: condition(obj, "Ready").startswith(("True", "False")),
        within=60,
        what=f"{ref.kind} {ref.name} settled",
    )


def _stalled(obj: KubeObject) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Stalled" and c["status"] == "True" for c in conditions)


async def test_a_git_source_at_an_internal_address_is_refused_and_an_allowed_name_is_served(
    guarded_engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    internal = await _git_repository(scenario, "internal", scenario.repo.git_url)
    named = await _git_repository(
        scenario, "named", scenario.repo.git_url.replace(LOOPBACK, "localhost")
    )
    await scenario.kustomization(
        "apps", "./apps", sourceRef={"kind": "GitRepository", "name": "named"}
    )

    refused = await _settled(scenario, internal)
    message = condition(refused, "Ready")
    assert message.startswith("False: "), message
    assert f"{LOOPBACK} is an internal address" in message
    assert "--allow-address" in message
    assert "\n" not in message
    assert _stalled(refused), "only a change of the URL or of the engine's flags helps"
    assert not (refused.get("status") or {}).get("artifact")

    await scenario.ready("apps")
    assert condition(await scenario.kube.get(named), "Ready").startswith("True")
    live = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert live["data"] == {"colour": "blue"}


async def test_an_oci_repository_at_the_metadata_address_is_refused(
    guarded_engine: Engine, scenario: Scenario
) -> None:
    await scenario.kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "OCIRepository",
            "metadata": {"name": "metadata", "namespace": scenario.namespace},
            "spec": {
                "interval": "1m",
                "url": "oci://169.254.169.254/latest/meta-data",
                "ref": {"tag": "latest"},
            },
        }
    )
    ref = ObjectRef(SOURCE_API, "OCIRepository", "metadata", scenario.namespace)

    message = condition(await _settled(scenario, ref), "Ready")

    assert message.startswith("False: "), message
    assert "169.254.169.254 is an internal address" in message


async def test_a_remote_cluster_at_an_internal_address_is_refused(
    guarded_engine: Engine, scenario: Scenario, local_cluster: LocalCluster
) -> None:
    secret: dict[str, Any] = remote_kubeconfig_secret(local_cluster, "cluster", scenario.namespace)
    await scenario.kube.apply(secret)
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="green")})
    await _git_repository(scenario, "repo", scenario.repo.git_url.replace(LOOPBACK, "localhost"))
    await scenario.kustomization("apps", "./apps", kubeConfig={"secretRef": {"name": "cluster"}})

    failed = await scenario.failed("apps", "is an internal address")

    message = condition(failed, "Ready")
    assert f"{LOOPBACK} is an internal address" in message
    assert "--allow-address" in message
    assert await scenario.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)) is None
