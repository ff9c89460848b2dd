"""Argo CD Applications sent to another cluster, on two real control planes: the engine
runs against cluster A, a cluster Secret in A's ``argocd`` namespace reaches cluster B.
Objects go to B and never to A; a ``kubectl scale`` on B is reverted by the drift watch
on B (the resync is an hour away); deletion with the resources finalizer cascades on B,
and waits, finalizer kept, while B cannot be reached. A destination that names no
cluster is an ``InvalidSpecError`` that leaves a sibling Application alone, and the
Application follows as soon as a Secret of that name appears."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.argo import (
    ARGO_API,
    ARGOCD,
    IN_CLUSTER,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
)
from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment, kubectl
from ground.wait import eventually
from lockstep.cli.cluster import cluster_secret, data_secret
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.loopback import free_port
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

FINALIZER = "resources-finalizer.argocd.argoproj.io"


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications only every hour by themselves."""
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "1h")


@dataclass
class Remote:
    """Cluster B, seen from a test: its client, its name and server in the cluster Secret
    the test wrote on A, and the test's namespace there."""

    cluster: LocalCluster
    kube: KubeClient
    namespace: str
    name: str
    server: str
    local: KubeClient

    async def get(self, ref: ObjectRef) -> KubeObject | None:
        try:
            return await self.kube.get(ref)
        except NotFound:
            return None

    async def kubectl(self, *args: str) -> str:
        return await kubectl(self.cluster.kubeconfig, "-n", self.namespace, *args)

    def secret(self, name: str | None = None, server: str | None = None) -> KubeObject:
        """The cluster Secret of B named ``name`` (B's own by default), on A, as ``lockstep
        cluster add`` writes it; ``server`` in place of B's address."""
        document = yaml.safe_load(self.cluster.portable_kubeconfig())
        context = document["current-context"]
        secret = cluster_secret(document, context, name or self.name, ARGOCD)
        secret["metadata"]["name"] = f"cluster-{name or self.name}"
        if server is not None:
            secret["stringData"]["server"] = server
        return data_secret(secret)

    async def write_secret(self, name: str | None = None, server: str | None = None) -> None:
        await self.local.apply(self.secret(name, server))


@pytest.fixture
async def remote(
    remote_cluster: LocalCluster, remote_kube: KubeClient, scenario: Scenario
) -> AsyncIterator[Remote]:
    """The scenario's namespace on cluster B too, and B's cluster Secret on A, named after
    the test's namespace."""
    namespace = scenario.namespace
    for kube, name in ((remote_kube, namespace), (scenario.kube, ARGOCD)):
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    document = yaml.safe_load(remote_cluster.portable_kubeconfig())
    server = document["clusters"][0]["cluster"]["server"]
    remote = Remote(remote_cluster, remote_kube, namespace, f"b-{namespace}", server, scenario.kube)
    await remote.write_secret()
    yield remote
    for name in (remote.name, f"late-{namespace}"):
        with contextlib.suppress(NotFound):
            await scenario.kube.delete(ObjectRef("v1", "Secret", f"cluster-{name}", ARGOCD))
    await remote_kube.delete(ObjectRef("v1", "Namespace", namespace))


def _remote_app(scenario: Scenario, remote: Remote, name: str, **spec: Any) -> KubeObject:
    app = application(scenario, name, name, **spec)
    app["spec"]["destination"] = {"name": remote.name, "namespace": scenario.namespace}
    app["metadata"]["finalizers"] = [FINALIZER]
    return app


def _conditions(app: KubeObject) -> dict[str, str]:
    return {c["type"]: c["message"] for c in (app.get("status") or {}).get("conditions") or []}


async def _app_gone(scenario: Scenario, name: str) -> bool:
    try:
        await get_app(scenario, name)
    except NotFound:
        return True
    return False


async def test_an_application_syncs_heals_and_cascades_on_the_named_cluster(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    ns = scenario.namespace
    # The project names B by its server, the Application by its name: the check sees both.
    await project(scenario.kube, ns, destinations=[{"server": remote.server, "namespace": ns}])
    scenario.commit(
        {
            "web/web.yaml": deployment("web", replicas=1),
            "web/settings.yaml": config_map("settings", colour="blue"),
        }
    )
    automated = {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}
    await scenario.kube.apply(_remote_app(scenario, remote, "web", **automated))
    synced = await until(scenario, "web", "Synced", "Healthy")

    web = ObjectRef("apps/v1", "Deployment", "web", ns)
    settings = ObjectRef("v1", "ConfigMap", "settings", ns)
    live = await remote.get(settings)
    assert live is not None
    assert live["data"] == {"colour": "blue"}
    assert live["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"].startswith(
        f"{ns}_web:"
    )
    assert await scenario.gone(settings), "nothing may be applied to the local cluster"
    assert await scenario.gone(web), "nothing may be applied to the local cluster"
    kinds = {r["kind"] for r in synced["status"]["resources"]}
    assert kinds == {"ConfigMap", "Deployment"}

    await remote.kubectl("scale", "deployment/web", "--replicas=3")
    await eventually(
        lambda: remote.get(web),
        lambda d: d is not None and d["spec"]["replicas"] == 1,
        within=30,
        what="the scale on cluster B reverted long before the next resync",
    )

    await scenario.kube.delete(ObjectRef(ARGO_API, "Application", "web", ns))
    await eventually(
        lambda: remote.get(settings), lambda c: c is None, within=60, what="settings gone from B"
    )
    await eventually(lambda: remote.get(web), lambda d: d is None, within=60, what="web gone")
    await eventually(
        lambda: _app_gone(scenario, "web"), bool, within=30, what="the Application gone"
    )


async def test_deletion_waits_for_an_unreachable_cluster_with_its_finalizer(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    ns = scenario.namespace
    await project(scenario.kube, ns, destinations=[{"name": remote.name, "namespace": ns}])
    scenario.commit({"kept/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(
        _remote_app(scenario, remote, "kept", syncPolicy={"automated": {"prune": True}})
    )
    await until(scenario, "kept", "Synced")
    settings = ObjectRef("v1", "ConfigMap", "settings", ns)
    assert await remote.get(settings) is not None

    # The Secret now points where no API server listens.
    await remote.write_secret(server=f"https://127.0.0.1:{free_port()}")
    unreachable = await eventually(
        lambda: get_app(scenario, "kept"),
        lambda a: "ComparisonError" in _conditions(a),
        within=30,
        what="a ComparisonError once the cluster cannot be reached",
    )
    assert (
        f"cluster Secret {ARGOCD}/cluster-{remote.name}"
        in (_conditions(unreachable)["ComparisonError"])
    )

    await scenario.kube.delete(ObjectRef(ARGO_API, "Application", "kept", ns))
    waiting = await eventually(
        lambda: get_app(scenario, "kept"),
        lambda a: "DeletionError" in _conditions(a),
        within=30,
        what="a DeletionError while the cluster cannot be reached",
    )
    message = _conditions(waiting)["DeletionError"]
    assert message.startswith(f"Application {ns}/kept: its objects cannot be deleted")
    assert "the finalizer stays" in message
    assert waiting["metadata"]["finalizers"] == [FINALIZER]
    assert await remote.get(settings) is not None, "nothing is lost while B is away"

    await remote.write_secret()
    await eventually(
        lambda: remote.get(settings), lambda c: c is None, within=60, what="settings gone from B"
    )
    await eventually(
        lambda: _app_gone(scenario, "kept"), bool, within=30, what="the Application gone"
    )


async def test_an_unknown_cluster_is_invalid_and_followed_once_its_secret_appears(
    engine: Engine, scenario: Scenario, remote: Remote
) -> None:
    ns = scenario.namespace
    await project(
        scenario.kube,
        ns,
        destinations=[{"name": "*", "namespace": ns}, {"server": IN_CLUSTER, "namespace": ns}],
    )
    scenario.commit(
        {
            "late/settings.yaml": config_map("late", colour="blue"),
            "here/settings.yaml": config_map("here", colour="green"),
        }
    )
    late = application(scenario, "late", "late", syncPolicy={"automated": {"prune": True}})
    late["spec"]["destination"] = {"name": f"late-{ns}", "namespace": ns}
    await scenario.kube.apply(late)
    await scenario.kube.apply(
        application(scenario, "here", "here", syncPolicy={"automated": {"prune": True}})
    )

    invalid = await eventually(
        lambda: get_app(scenario, "late"),
        lambda a: "InvalidSpecError" in _conditions(a),
        within=60,
        what="an InvalidSpecError on late",
    )
    message = _conditions(invalid)["InvalidSpecError"]
    assert message == (
        f"Application {ns}/late: no cluster has the name late-{ns}; add it with lockstep "
        "cluster add, or a Secret labelled argocd.argoproj.io/secret-type: cluster in Argo "
        "CD's namespace, or fix spec.destination.name"
    )
    await until(scenario, "here", "Synced")
    assert (await scenario.kube.get(ObjectRef("v1", "ConfigMap", "here", ns)))["data"] == {
        "colour": "green"
    }

    # The resync is an hour away: the new Secret itself has the Application looked at.
    await remote.write_secret(f"late-{ns}")
    await until(scenario, "late", "Synced", within=60)
    assert await remote.get(ObjectRef("v1", "ConfigMap", "late", ns)) is not None
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "late", ns))
    final = await get_app(scenario, "late")
    assert "InvalidSpecError" not in _conditions(final), json.dumps(final["status"])
