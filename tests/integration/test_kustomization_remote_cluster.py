"""Kustomizations with ``spec.kubeConfig``, on two real control planes: the engine
runs against cluster A, the kubeconfig Secret on A reaches cluster B. Objects go
to B and never to A; drift on B is repaired; prune, health and deletion happen
on B; a Secret that is missing, deleted or points nowhere fails the
Kustomization naming the Secret, and nothing lands on A."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ground.artifacts import condition
from ground.cluster import remote_kubeconfig_secret
from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment, kubectl
from ground.wait import eventually
from lockstep.dev.cluster import DEFAULT_PORT, LocalCluster
from lockstep.dev.loopback import free_port
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SECRET = "remote-kubeconfig"


@dataclass
class Remote:
    """Cluster B, seen from a test: its client, its kubeconfig, the test's namespace there."""

    cluster: LocalCluster
    kube: KubeClient
    namespace: str

    async def get(self, ref: ObjectRef) -> KubeObject | None:
        try:
            return await self.kube.get(ref)
        except NotFound:
            return None

    async def kubectl(self, *args: str) -> str:
        return await kubectl(self.cluster.kubeconfig, "-n", self.namespace, *args)


@pytest.fixture
async def remote(
    remote_cluster: LocalCluster, remote_kube: KubeClient, scenario: Scenario
) -> AsyncIterator[Remote]:
    """The scenario's namespace on cluster B too, and the kubeconfig Secret on A."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scenario.namespace}}
    await remote_kube.apply(namespace)
    await scenario.kube.apply(remote_kubeconfig_secret(remote_cluster, SECRET, scenario.namespace))
    yield Remote(remote_cluster, remote_kube, scenario.namespace)
    await remote_kube.delete(ObjectRef("v1", "Namespace", scenario.namespace))


def _map(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", name, namespace)


async def _remote_kustomization(scenario: Scenario, secret: str = SECRET, **spec: object) -> None:
    await scenario.source()
    await scenario.kustomization(
        "apps", "./apps", kubeConfig={"secretRef": {"name": secret}}, **spec
    )


async def _ready_reason(scenario: Scenario) -> str:
    obj = await scenario.kube.get(scenario.ref("apps"))
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    return str(ready["reason"])


async def test_objects_go_to_the_remote_cluster_and_never_to_the_local_one(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit(
        {"apps/web.yaml": deployment(), "apps/settings.yaml": config_map("settings", colour="blue")}
    )
    await _remote_kustomization(scenario, wait=True)
    ready = await scenario.ready("apps")

    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    settings = _map(scenario.namespace, "settings")
    applied = await remote.get(settings)
    assert applied is not None
    assert applied["data"] == {"colour": "blue"}
    labels = applied["metadata"]["labels"]
    assert labels["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert labels["kustomize.toolkit.fluxcd.io/namespace"] == scenario.namespace
    live_web = await remote.get(web)
    assert live_web is not None
    assert live_web["status"].get("readyReplicas") == 2, "health was judged on the remote cluster"
    assert await scenario.gone(settings), "nothing may be applied to the local cluster"
    assert await scenario.gone(web), "nothing may be applied to the local cluster"
    assert condition(ready, "Healthy").startswith("True")
    entries = {entry["id"] for entry in ready["status"]["inventory"]["entries"]}
    assert f"{scenario.namespace}_settings__ConfigMap" in entries


async def test_a_manual_edit_on_the_remote_cluster_is_reverted(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit(
        {"apps/web.yaml": deployment(), "apps/settings.yaml": config_map("settings", colour="blue")}
    )
    await _remote_kustomization(scenario)
    await scenario.ready("apps")
    settings = _map(scenario.namespace, "settings")
    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)

    # The interval is an hour: only the drift watch on cluster B can repair these in time.
    await remote.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"colour":"red"}}'
    )
    await eventually(
        lambda: remote.get(settings),
        lambda c: c is not None and c["data"]["colour"] == "blue",
        within=15,
        what="colour back to blue on the remote cluster",
    )
    await remote.kubectl("scale", "deploy/web", "--replicas=5")
    await eventually(
        lambda: remote.get(web),
        lambda d: d is not None and d["spec"]["replicas"] == 2,
        within=15,
        what="replicas back to 2 on the remote cluster",
    )
    await remote.kubectl("delete", "configmap/settings")
    await eventually(
        lambda: remote.get(settings),
        lambda c: c is not None and c["data"]["colour"] == "blue",
        within=15,
        what="settings recreated on the remote cluster",
    )
    assert await scenario.gone(settings)


async def test_objects_removed_from_git_are_pruned_on_the_remote_cluster(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit(
        {
            "apps/a.yaml": config_map("a", colour="blue"),
            "apps/b.yaml": config_map("b", colour="blue"),
        }
    )
    await _remote_kustomization(scenario)
    await scenario.ready("apps")
    b = _map(scenario.namespace, "b")
    assert await remote.get(b) is not None

    scenario.commit({}, "drop b", remove=("apps/b.yaml",))
    await eventually(lambda: remote.get(b), lambda o: o is None, within=30, what="b pruned on B")
    assert await remote.get(_map(scenario.namespace, "a")) is not None


async def test_deleting_the_kustomization_deletes_its_objects_on_the_remote_cluster(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await _remote_kustomization(scenario)
    await scenario.ready("apps")
    a = _map(scenario.namespace, "a")
    assert await remote.get(a) is not None

    await scenario.kube.delete(scenario.ref("apps"))
    await eventually(lambda: remote.get(a), lambda o: o is None, within=30, what="a deleted on B")
    await eventually(
        lambda: scenario.gone(scenario.ref("apps")), bool, within=30, what="finalizer released"
    )


async def test_deleting_the_namespace_with_the_secret_still_deletes_on_the_remote_cluster(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    """The Secret goes with its namespace, before or while the Kustomization finalizes:
    the credentials last read from it delete the objects where they were applied."""
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await _remote_kustomization(scenario)
    await scenario.ready("apps")
    a = _map(scenario.namespace, "a")

    await scenario.kube.delete(ObjectRef("v1", "Namespace", scenario.namespace))
    await eventually(lambda: remote.get(a), lambda o: o is None, within=60, what="a deleted on B")


async def test_a_deleted_secret_fails_the_kustomization_and_nothing_lands_locally(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await _remote_kustomization(scenario, interval="2s")
    await scenario.ready("apps")

    await scenario.kube.delete(ObjectRef("v1", "Secret", SECRET, scenario.namespace))
    scenario.commit({"apps/b.yaml": config_map("b", colour="green")}, "add b")
    failed = await scenario.failed(
        "apps", f"kubeconfig Secret {scenario.namespace}/{SECRET} does not exist", within=30
    )
    assert await _ready_reason(scenario) == "ReconciliationFailed"
    assert "\n" not in condition(failed, "Ready")
    # Several more reconciles (interval 2s) still apply nothing anywhere.
    await asyncio.sleep(5)
    for name in ("a", "b"):
        assert await scenario.gone(_map(scenario.namespace, name)), f"{name} on the local cluster"
    assert await remote.get(_map(scenario.namespace, "b")) is None, "b on the remote cluster"
    assert await remote.get(_map(scenario.namespace, "a")) is not None, "a left as it was"

    await scenario.kube.apply(remote_kubeconfig_secret(remote.cluster, SECRET, scenario.namespace))
    await eventually(
        lambda: remote.get(_map(scenario.namespace, "b")),
        lambda o: o is not None,
        within=30,
        what="b applied once the Secret is back",
    )
    assert await scenario.gone(_map(scenario.namespace, "b"))


async def test_a_missing_secret_fails_clearly_from_the_start(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await _remote_kustomization(scenario, secret="no-such-secret", interval="2s")
    failed = await scenario.failed("apps", "kubeconfig Secret", within=30)
    message = condition(failed, "Ready")
    assert f"kubeconfig Secret {scenario.namespace}/no-such-secret does not exist" in message
    assert "spec.kubeConfig.secretRef" in message, "the message says what to do"
    assert await _ready_reason(scenario) == "ReconciliationFailed"
    await asyncio.sleep(3)
    assert await scenario.gone(_map(scenario.namespace, "a"))
    assert await remote.get(_map(scenario.namespace, "a")) is None


async def test_a_secret_without_the_key_or_an_unreachable_cluster_fails_naming_the_secret(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    wrong_key = remote_kubeconfig_secret(remote.cluster, "wrong-key", scenario.namespace, "config")
    await scenario.kube.apply(wrong_key)
    await _remote_kustomization(scenario, secret="wrong-key", interval="2s")
    failed = await scenario.failed("apps", "has no key value or value.yaml", within=30)
    assert f"kubeconfig Secret {scenario.namespace}/wrong-key" in condition(failed, "Ready")

    # The same kubeconfig, its server moved to a port nobody listens on.
    kubeconfig = yaml.safe_load(remote.cluster.portable_kubeconfig())
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    unreachable = {
        **remote_kubeconfig_secret(remote.cluster, "wrong-key", scenario.namespace),
        "data": {"value": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()},
    }
    await scenario.kube.delete(ObjectRef("v1", "Secret", "wrong-key", scenario.namespace))
    await scenario.kube.apply(unreachable)
    failed = await scenario.failed("apps", "cannot be used", within=30)
    message = condition(failed, "Ready")
    assert f"kubeconfig Secret {scenario.namespace}/wrong-key" in message
    assert "check that it is up" in message
    assert await scenario.gone(_map(scenario.namespace, "a"))
    assert await remote.get(_map(scenario.namespace, "a")) is None


async def test_the_service_account_is_impersonated_on_the_remote_cluster(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    """The account and its rights exist on cluster B only: ConfigMaps, not Secrets."""
    namespace = scenario.namespace
    rights = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
    subject = {"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}
    for obj in (
        {"apiVersion": "v1", "kind": "ServiceAccount"},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": rights},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "deployer",
            },
            "subjects": [subject],
        },
    ):
        await remote.kube.apply({**obj, "metadata": {"name": "deployer", "namespace": namespace}})
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await _remote_kustomization(scenario, serviceAccountName="deployer")
    await scenario.ready("apps")
    assert await remote.get(_map(namespace, "a")) is not None

    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n"
    scenario.commit({"apps/s.yaml": secret}, "add a Secret the account may not write")
    failed = await scenario.failed("apps", f"system:serviceaccount:{namespace}:deployer", within=30)
    assert f"(on the cluster of kubeconfig Secret {namespace}/{SECRET})" in condition(
        failed, "Ready"
    )
    assert await remote.get(ObjectRef("v1", "Secret", "s", namespace)) is None


def _lockstep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lockstep", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


async def test_a_second_cluster_comes_up_by_name_beside_the_others(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """``lockstep dev cluster up --name`` alone starts another cluster on a free port, and
    ``kubeconfig --inline`` gives what a kubeconfig Secret holds."""
    env = {**os.environ, "LOCKSTEP_STATE_DIR": str(tmp_path / "state")}
    name = ["--name", "lockstep-second"]
    up = _lockstep("dev", "cluster", "up", *name, env=env)
    try:
        assert up.returncode == 0, up.stderr
        printed = _lockstep("dev", "cluster", "kubeconfig", *name, "--inline", env=env)
        assert printed.returncode == 0, printed.stderr
        document = yaml.safe_load(printed.stdout)
        cluster = document["clusters"][0]["cluster"]
        user = document["users"][0]["user"]
        assert cluster["server"].startswith("https://127.0.0.1:")
        assert cluster["server"] != f"https://127.0.0.1:{DEFAULT_PORT}"
        assert {"certificate-authority-data"} <= cluster.keys()
        assert "certificate-authority" not in cluster
        assert {"client-certificate-data", "client-key-data"} <= user.keys()
        assert not {"client-certificate", "client-key"} & user.keys()
        async with KubeClient.from_kubeconfig_document(document, source="the test") as second:
            nodes = await second.list("v1", "Node")
        assert [node["metadata"]["name"] for node in nodes] == ["kwok-node-0"]
        assert second.server != (await _server_of(local_cluster))
    finally:
        down = _lockstep("dev", "cluster", "down", *name, env=env)
        assert down.returncode == 0, down.stderr


async def _server_of(cluster: LocalCluster) -> str:
    async with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        return kube.server
