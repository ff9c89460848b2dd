"""``lockstep cluster add`` and ``lockstep cluster list`` as a user runs them: the Secret
of another control plane's kubeconfig context exported, then written to Argo CD's
namespace, and listed beside the local cluster with the version each one answers, one
that cannot be reached shown so, and the Applications sent to each counted."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from ground.argo import ARGO_API, ARGOCD, IN_CLUSTER
from ground.engine import lockstep, succeeded
from ground.gitops import Scenario
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.loopback import free_port
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SECRET_TYPE = {"argocd.argoproj.io/secret-type": "cluster"}


def _context(cluster: LocalCluster) -> tuple[str, str]:
    """The current context of ``cluster``'s kubeconfig and its server."""
    document = yaml.safe_load(cluster.kubeconfig.read_text())
    return document["current-context"], document["clusters"][0]["cluster"]["server"]


@pytest.fixture
async def argocd(kube: KubeClient, scenario: Scenario) -> AsyncIterator[list[str]]:
    """Argo CD's namespace on the local cluster; the Secrets a test names are deleted."""
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD}})
    written: list[str] = []
    yield written
    for name in written:
        with contextlib.suppress(NotFound):
            await kube.delete(ObjectRef("v1", "Secret", name, ARGOCD))


async def test_add_exports_then_writes_a_secret_that_list_shows_with_its_version(
    crds_installed: Path,
    kube: KubeClient,
    scenario: Scenario,
    remote_cluster: LocalCluster,
    remote_kube: KubeClient,
    argocd: list[str],
) -> None:
    context, server = _context(remote_cluster)
    name = f"b-{scenario.namespace}"
    flags = [context, "--name", name, "--kubeconfig", str(remote_cluster.kubeconfig)]

    exported = yaml.safe_load(
        succeeded(await lockstep(crds_installed, "cluster", "add", *flags, "--export"))
    )
    assert exported["metadata"]["namespace"] == ARGOCD
    assert exported["metadata"]["labels"] == SECRET_TYPE
    assert exported["stringData"]["name"] == name
    assert exported["stringData"]["server"] == server
    config = json.loads(exported["stringData"]["config"])
    assert set(config["tlsClientConfig"]) == {"caData", "certData", "keyData"}
    secret = ObjectRef("v1", "Secret", exported["metadata"]["name"], ARGOCD)
    argocd.append(secret.name)
    with pytest.raises(NotFound):
        await kube.get(secret)

    added = succeeded(await lockstep(crds_installed, "cluster", "add", *flags))
    assert f"cluster {name} ({server}) added as Secret {ARGOCD}/{secret.name}" in added
    written = await kube.get(secret)
    assert base64.b64decode(written["data"]["name"]).decode() == name

    away = {"name": "away", "server": f"https://127.0.0.1:{free_port()}", "config": "{}"}
    argocd.append(f"cluster-away-{scenario.namespace}")
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": argocd[-1], "namespace": ARGOCD, "labels": SECRET_TYPE},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in away.items()},
        }
    )
    for app, destination in (("one", {"name": name}), ("two", {"server": server})):
        await kube.apply(
            {
                "apiVersion": ARGO_API,
                "kind": "Application",
                "metadata": {"name": app, "namespace": scenario.namespace},
                "spec": {
                    "project": scenario.namespace,
                    "source": {"repoURL": "https://example.invalid/repo.git", "path": "."},
                    "destination": {**destination, "namespace": scenario.namespace},
                },
            }
        )

    listed = succeeded(await lockstep(crds_installed, "cluster", "list"))
    rows = {line.split()[0]: line.split() for line in listed.splitlines()[1:]}
    assert listed.splitlines()[0].split() == [
        "NAME",
        "SERVER",
        "VERSION",
        "STATUS",
        "APPS",
        "MESSAGE",
    ]
    remote_version = await remote_kube.server_version()
    assert rows[name][:5] == [name, server, remote_version, "Successful", "2"]
    assert rows["in-cluster"][:4] == [
        "in-cluster",
        IN_CLUSTER,
        await kube.server_version(),
        "Successful",
    ]
    assert rows["away"][2:4] == ["Unknown", "Failed"]
    assert "cannot be used" in " ".join(rows["away"][5:])

    as_json = json.loads(succeeded(await lockstep(crds_installed, "cluster", "list", "-o", "json")))
    assert {row["name"]: row["apps"] for row in as_json}[name] == 2


async def test_add_refuses_a_context_it_cannot_embed(
    crds_installed: Path, tmp_path: Path, remote_cluster: LocalCluster
) -> None:
    document = yaml.safe_load(remote_cluster.portable_kubeconfig())
    document["users"][0]["user"] = {"exec": {"command": "get-token", "apiVersion": "v1"}}
    kubeconfig = tmp_path / "exec.yaml"
    kubeconfig.write_text(yaml.safe_dump(document))
    context = document["current-context"]

    result = await lockstep(
        crds_installed, "cluster", "add", context, "--kubeconfig", str(kubeconfig)
    )
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()
    assert len(error) == 1, result.stderr
    assert f"context {context}: its credentials come from an exec plugin" in error[0]

    flags = ["--kubeconfig", str(remote_cluster.kubeconfig), "-n", "no-such-namespace"]
    elsewhere = await lockstep(
        crds_installed, "cluster", "add", _context(remote_cluster)[0], *flags
    )
    assert elsewhere.returncode != 0
    assert "create the namespace no-such-namespace, or name Argo CD's with --namespace" in (
        elsewhere.stderr
    )

    missing = await lockstep(crds_installed, "cluster", "add", "nowhere", "--export")
    assert missing.returncode != 0
    assert "context nowhere of" in missing.stderr
    assert "kubectl config get-contexts" in missing.stderr
