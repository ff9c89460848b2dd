"""The CLI on a Kustomization with ``spec.kubeConfig``, on two real control planes: the
Kustomization lives on cluster A, its objects on cluster B. ``lockstep diff`` dry-runs on
B and says nothing of A, ``lockstep trace`` finds an object of B and names its
Kustomization, ``lockstep tree`` names B; a kubeconfig Secret that cannot be used is a
one-line error naming it (exit 2). Flux's ``kubeConfig.configMapRef`` stalls the
Kustomization: it needs cloud identity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml

from ground.artifacts import condition
from ground.cluster import remote_kubeconfig_secret
from ground.engine import Engine, lockstep
from ground.gitops import Scenario, config_map
from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SECRET = "remote-kubeconfig"


@pytest.fixture
async def remote(
    remote_cluster: LocalCluster, remote_kube: KubeClient, scenario: Scenario
) -> AsyncIterator[KubeClient]:
    """The scenario's namespace on cluster B too, and the kubeconfig Secret on A."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scenario.namespace}}
    await remote_kube.apply(namespace)
    await scenario.kube.apply(remote_kubeconfig_secret(remote_cluster, SECRET, scenario.namespace))
    yield remote_kube
    await remote_kube.delete(ObjectRef("v1", "Namespace", scenario.namespace))


async def _get(kube: KubeClient, ref: ObjectRef) -> KubeObject | None:
    try:
        return await kube.get(ref)
    except NotFound:
        return None


async def _applied_remotely(scenario: Scenario, remote: KubeClient) -> ObjectRef:
    """``apps`` with a ConfigMap ``settings`` (colour blue) applied to cluster B, and a
    ConfigMap of the same name, not lockstep's, on cluster A."""
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", kubeConfig={"secretRef": {"name": SECRET}})
    await scenario.ready("apps")
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    applied = await _get(remote, settings)
    assert applied is not None
    assert applied["data"] == {"colour": "blue"}
    await scenario.kube.apply({**config_map_object(settings), "data": {"colour": "local"}})
    return settings


def config_map_object(ref: ObjectRef) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ref.name, "namespace": ref.namespace},
    }


async def test_diff_compares_with_the_remote_cluster_only(
    engine: Engine, scenario: Scenario, remote: KubeClient
) -> None:
    settings = await _applied_remotely(scenario, remote)
    namespace = scenario.namespace
    folder = scenario.work.path / "apps"
    common = ["apps", "-n", namespace, "--path", str(folder)]

    unchanged = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout == "", "cluster B holds what Git says; A's own copy is not compared"
    assert f"comparing with the cluster of kubeconfig Secret {namespace}/{SECRET}" in (
        unchanged.stderr
    )

    scenario.work.write("apps/settings.yaml", config_map("settings", colour="red"))
    scenario.work.write("apps/extra.yaml", config_map("extra", colour="green"))
    changed = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"ConfigMap/{namespace}/settings drifted" in changed.stdout
    assert "-  colour: blue" in changed.stdout
    assert "+  colour: red" in changed.stdout
    assert f"ConfigMap/{namespace}/extra created" in changed.stdout
    assert "local" not in changed.stdout, "nothing of cluster A's ConfigMap is shown"
    on_b = await _get(remote, settings)
    assert on_b is not None
    assert on_b["data"] == {"colour": "blue"}, "diff writes nothing"
    assert await _get(remote, ObjectRef("v1", "ConfigMap", "extra", namespace)) is None
    on_a = await _get(scenario.kube, settings)
    assert on_a is not None
    assert on_a["data"] == {"colour": "local"}

    # A Kustomization whose Secret does not exist: one line naming it, exit 2.
    elsewhere = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "elsewhere", "namespace": namespace},
        "spec": {
            "interval": "1h",
            "prune": True,
            "path": "./apps",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "kubeConfig": {"secretRef": {"name": "no-such-secret"}},
        },
    }
    file = scenario.work.path.parent / "elsewhere.yaml"
    file.write_text(yaml.safe_dump(elsewhere))
    missing = await lockstep(
        scenario.kubeconfig,
        "diff",
        "kustomization",
        "elsewhere",
        "-n",
        namespace,
        "--path",
        str(folder),
        "--kustomization-file",
        str(file),
    )
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert missing.stdout == ""
    assert missing.stderr.startswith(
        f"error: Kustomization {namespace}/elsewhere: kubeconfig Secret "
        f"{namespace}/no-such-secret does not exist; "
    ), missing.stderr
    assert len(missing.stderr.splitlines()) == 1


async def test_trace_and_tree_follow_the_kustomization_to_the_remote_cluster(
    engine: Engine, scenario: Scenario, remote: KubeClient
) -> None:
    namespace = scenario.namespace
    settings = await _applied_remotely(scenario, remote)
    # Only cluster B's copy is lockstep's; on A the name is taken by an unrelated object.
    await scenario.kube.delete(settings)

    traced = await lockstep(scenario.kubeconfig, "trace", "configmap", "settings", "-n", namespace)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert f"Kustomization  Kustomization/{namespace}/apps" in traced.stdout
    assert f"the cluster of kubeconfig Secret {namespace}/{SECRET}" in traced.stdout
    assert "not in the Kustomization's inventory" not in traced.stdout
    assert f"GitRepository/{namespace}/repo" in traced.stdout

    tree = await lockstep(scenario.kubeconfig, "tree", "kustomization", "apps", "-n", namespace)
    assert tree.returncode == 0, tree.stdout + tree.stderr
    assert (
        f"Kustomization/{namespace}/apps → the cluster of kubeconfig Secret {namespace}/{SECRET}"
        in tree.stdout
    )
    assert f"ConfigMap/{namespace}/settings" in tree.stdout

    await scenario.kube.delete(ObjectRef("v1", "Secret", SECRET, namespace))
    lost = await lockstep(scenario.kubeconfig, "trace", "configmap", "settings", "-n", namespace)
    assert lost.returncode == 2, lost.stdout + lost.stderr
    assert f"kubeconfig Secret {namespace}/{SECRET} does not exist" in lost.stderr
    lost_tree = await lockstep(
        scenario.kubeconfig, "tree", "kustomization", "apps", "-n", namespace
    )
    assert lost_tree.returncode == 2, lost_tree.stdout + lost_tree.stderr
    assert f"kubeconfig Secret {namespace}/{SECRET} does not exist" in lost_tree.stderr


async def test_a_config_map_ref_stalls_for_lack_of_cloud_identity(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", kubeConfig={"configMapRef": {"name": "aks"}})

    stalled = await scenario.failed("apps", "cloud identity")

    assert condition(stalled, "Ready") == (
        f"False: Kustomization {scenario.namespace}/apps: kubeConfig.configMapRef needs cloud "
        "identity, which lockstep does not support yet; use kubeConfig.secretRef"
    )
    assert condition(stalled, "Stalled").startswith("True")
    assert stalled["spec"]["kubeConfig"] == {"configMapRef": {"name": "aks"}}, "kept as written"
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    assert await scenario.gone(settings), "nothing is applied to the local cluster instead"
