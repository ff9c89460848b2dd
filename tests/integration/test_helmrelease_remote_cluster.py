"""HelmReleases with ``spec.kubeConfig``, on two real control planes: the engine runs
against cluster A, the kubeconfig Secret on A reaches cluster B. The release (its
objects and its storage Secrets) is made on B and never on A, upgraded and uninstalled
there; ``lockstep build`` and ``diff`` read it there; a Secret that is missing fails the
HelmRelease naming it, and nothing lands on A."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ground.artifacts import condition
from ground.charts import Chart, ChartRepository
from ground.cluster import remote_kubeconfig_secret
from ground.engine import Engine, lockstep, succeeded
from ground.wait import eventually
from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
SECRET = "remote-kubeconfig"
SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
"""


@pytest.fixture
async def remote_namespace(
    remote_cluster: LocalCluster, remote_kube: KubeClient, kube: KubeClient, namespace: str
) -> AsyncIterator[str]:
    """The test's namespace on cluster B too, and the kubeconfig Secret of B on A."""
    ref = ObjectRef("v1", "Namespace", namespace)
    await remote_kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    await kube.apply(remote_kubeconfig_secret(remote_cluster, SECRET, namespace))
    yield namespace
    await remote_kube.delete(ref)


def _release(namespace: str, greeting: str, secret: str = SECRET) -> KubeObject:
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "interval": "1m",
            "kubeConfig": {"secretRef": {"name": secret}},
            "chart": {
                "spec": {
                    "chart": "app",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            "values": {"greeting": greeting},
        },
    }


async def _setup(kube: KubeClient, namespace: str, repository: ChartRepository) -> None:
    repository.add(Chart("app", "1.0.0", templates={"settings.yaml": SETTINGS}))
    await kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": namespace},
            "spec": {"url": repository.url, "interval": "1m"},
        }
    )


async def _ready(kube: KubeClient, namespace: str, text: str) -> KubeObject:
    return await eventually(
        lambda: kube.get(ObjectRef(HELM_API, "HelmRelease", "app", namespace)),
        lambda o: condition(o, "Ready").startswith("True") and text in condition(o, "Ready"),
        within=120,
        what=f"Ready with {text!r}",
    )


async def _release_secrets(kube: KubeClient, namespace: str) -> list[str]:
    secrets = await kube.list(
        "v1", "Secret", namespace=namespace, labels={"owner": "helm", "name": "app"}
    )
    return sorted(s["metadata"]["name"] for s in secrets)


async def _absent(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return True
    return False


async def test_a_release_is_made_upgraded_and_uninstalled_on_the_remote_cluster_only(
    engine: Engine,
    kube: KubeClient,
    remote_kube: KubeClient,
    remote_namespace: str,
    chart_repository: ChartRepository,
    kubeconfig: Path,
) -> None:
    namespace = remote_namespace
    settings = ObjectRef("v1", "ConfigMap", "app-settings", namespace)
    await _setup(kube, namespace, chart_repository)
    await kube.apply(_release(namespace, "hello"))

    await _ready(kube, namespace, "Helm install succeeded")
    remote_settings = await remote_kube.get(settings)
    assert remote_settings["data"]["greeting"] == "hello"
    assert remote_settings["data"]["kube"] == await remote_kube.server_version()
    assert await _release_secrets(remote_kube, namespace) == ["sh.helm.release.v1.app.v1"]
    assert await _absent(kube, settings)
    assert await _release_secrets(kube, namespace) == []

    # What an upgrade would change, read on B: the greeting, nothing else.
    await kube.apply(_release(namespace, "bonjour"))
    built = succeeded(await lockstep(kubeconfig, "build", "helmrelease", "app", "-n", namespace))
    assert "greeting: bonjour" in built
    await _ready(kube, namespace, "Helm upgrade succeeded")
    assert (await remote_kube.get(settings))["data"]["greeting"] == "bonjour"
    assert await _release_secrets(remote_kube, namespace) == [
        "sh.helm.release.v1.app.v1",
        "sh.helm.release.v1.app.v2",
    ]
    diff = await lockstep(kubeconfig, "diff", "helmrelease", "app", "-n", namespace)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert await _absent(kube, settings)

    await kube.delete(ObjectRef(HELM_API, "HelmRelease", "app", namespace))
    await eventually(
        lambda: _absent(remote_kube, settings),
        lambda gone: gone,
        within=60,
        what="the release uninstalled from the remote cluster",
    )
    assert await _release_secrets(remote_kube, namespace) == []


async def test_a_missing_kubeconfig_secret_fails_the_release_and_nothing_lands_locally(
    engine: Engine,
    kube: KubeClient,
    remote_namespace: str,
    chart_repository: ChartRepository,
    kubeconfig: Path,
) -> None:
    namespace = remote_namespace
    await _setup(kube, namespace, chart_repository)
    await kube.apply(_release(namespace, "hello", secret="nowhere"))

    failed = await eventually(
        lambda: kube.get(ObjectRef(HELM_API, "HelmRelease", "app", namespace)),
        lambda o: condition(o, "Ready").startswith("False") and "nowhere" in condition(o, "Ready"),
        within=120,
        what="the missing Secret told",
    )
    assert "Secret" in condition(failed, "Ready")
    assert await _absent(kube, ObjectRef("v1", "ConfigMap", "app-settings", namespace))
    assert await _release_secrets(kube, namespace) == []
    built = await lockstep(kubeconfig, "build", "helmrelease", "app", "-n", namespace)
    assert built.returncode == 2
    assert "HelmRelease" in built.stderr
    assert "nowhere" in built.stderr

    await kube.delete(ObjectRef(HELM_API, "HelmRelease", "app", namespace))
    await eventually(
        lambda: _absent(kube, ObjectRef(HELM_API, "HelmRelease", "app", namespace)),
        lambda gone: gone,
        within=60,
        what="the HelmRelease deleted, its release left in place",
    )
