"""The Kustomization controller through the engine: apply, drift revert, prune, clear errors."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: nginx:{tag}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def _manifests(namespace: str, url: str, interval: str = "2s") -> list[dict[str, Any]]:
    """The foundation issue's seed manifests, pointed at a local repository."""
    return [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "infra", "namespace": namespace},
            "spec": {"interval": "1s", "url": url, "ref": {"branch": "main"}},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": namespace},
            "spec": {
                "interval": interval,
                "sourceRef": {"kind": "GitRepository", "name": "infra"},
                "path": "./apps",
                "prune": True,
                "targetNamespace": namespace,
            },
        },
    ]


async def _gone(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return True
    return False


async def test_apply_revert_drift_and_prune(
    engine: Engine,
    kube: KubeClient,
    kubeconfig: Path,
    namespace: str,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("apps/deployment.yaml", DEPLOYMENT.format(tag="1.27"))
    work.write("apps/service.yaml", SERVICE)
    work.commit("apps")
    work.push()
    for manifest in _manifests(namespace, git_repo.git_url):
        await kube.apply(manifest)

    kustomization = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", namespace)
    ready = await eventually(
        lambda: kube.get(kustomization),
        lambda o: condition(o, "Ready").startswith("True"),
        what="Ready",
    )
    assert condition(ready, "Ready").startswith("True: Applied revision: main@sha1:")
    ids = sorted(entry["id"] for entry in ready["status"]["inventory"]["entries"])
    assert ids == [f"{namespace}_web__Service", f"{namespace}_web_apps_Deployment"]
    deployment = ObjectRef("apps/v1", "Deployment", "web", namespace)
    live = await kube.get(deployment)
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"

    scale = [
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "-n",
        namespace,
        "scale",
        "deploy/web",
        "--replicas=5",
    ]
    scaled = await asyncio.to_thread(subprocess.run, scale, capture_output=True, text=True)
    assert scaled.returncode == 0, scaled.stderr
    await eventually(
        lambda: kube.get(deployment),
        lambda d: d["spec"]["replicas"] == 2,
        within=30,
        what="replicas reverted to 2",
    )

    work.remove("apps/service.yaml")
    work.commit("drop the service")
    work.push()
    service = ObjectRef("v1", "Service", "web", namespace)
    await eventually(lambda: _gone(kube, service), bool, within=30, what="Service pruned")
    await eventually(
        lambda: kube.get(kustomization),
        lambda o: (
            [e["id"] for e in o["status"]["inventory"]["entries"]]
            == [f"{namespace}_web_apps_Deployment"]
        ),
        within=30,
        what="the Service gone from the inventory",
    )
    events = await kube.list("v1", "Event", namespace=namespace)
    assert any(
        e["reason"] == "ReconciliationSucceeded"
        and f"Service/{namespace}/web deleted" in e["message"]
        for e in events
    ), [e["message"] for e in events]


async def test_malformed_yaml_names_file_and_line_and_keeps_the_cluster(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("apps/service.yaml", SERVICE)
    work.write(
        "apps/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n"
    )
    work.commit("broken")
    work.push()
    for manifest in _manifests(namespace, git_repo.git_url):
        await kube.apply(manifest)
    kustomization = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", namespace)
    # Until the source has its artifact, Ready=False says that instead.
    failed = await eventually(
        lambda: kube.get(kustomization),
        lambda o: (
            condition(o, "Ready").startswith("False")
            and "apps/broken.yaml:" in condition(o, "Ready")
        ),
        what="Ready=False naming the broken file",
    )
    assert "BuildFailed" in str(failed["status"]["conditions"])
    assert await _gone(kube, ObjectRef("v1", "Service", "web", namespace)), (
        "nothing is applied when the build fails"
    )


async def test_depends_on_waits_for_the_dependency(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("apps/service.yaml", SERVICE)
    work.write(
        "infrastructure/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {colour: blue}\n",
    )
    work.commit("layout")
    work.push()
    source, apps = _manifests(namespace, git_repo.git_url, interval="1h")
    apps["spec"]["dependsOn"] = [{"name": "infrastructure"}]
    await kube.apply(source)
    await kube.apply(apps)
    ref = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", namespace)
    # Before its source has an artifact it may say so first; then it waits for the dependency.
    waiting = await eventually(
        lambda: kube.get(ref),
        lambda o: "dependency" in condition(o, "Ready"),
        what="waiting for the dependency",
    )
    assert condition(waiting, "Ready").startswith("False")
    assert f"dependency '{namespace}/infrastructure' does not exist" in condition(waiting, "Ready")
    assert "DependencyNotReady" in str(waiting["status"]["conditions"])

    infrastructure = {
        **apps,
        "metadata": {"name": "infrastructure", "namespace": namespace},
        "spec": {**apps["spec"], "path": "./infrastructure", "dependsOn": []},
    }
    await kube.apply(infrastructure)
    ready = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        within=30,
        what="Ready after the dependency",
    )
    assert ready["status"]["lastAppliedRevision"].startswith("main@sha1:")
