"""``lockstep bootstrap git`` on the test ground: lockstep's manifests committed to a
repository served over git://, applied, synced; a later commit under the path is
applied; re-running changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ground.engine import Engine, lockstep_command
from ground.gitops import config_map
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

CRD_NAMES = (
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
)


@pytest.fixture
async def system_namespace(kube: KubeClient) -> AsyncIterator[str]:
    """The namespace bootstrap installs into; the sync objects and RBAC go afterwards."""
    namespace = f"boot-{uuid.uuid4().hex[:6]}"
    yield namespace
    kustomization = ObjectRef(
        "kustomize.toolkit.fluxcd.io/v1", "Kustomization", namespace, namespace
    )
    await kube.delete(kustomization)

    async def gone() -> bool:
        try:
            await kube.get(kustomization)
        except NotFound:
            return True
        return False

    await eventually(gone, bool, what="the sync Kustomization deleted")
    for name in CRD_NAMES:
        await kube.get(ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", name))
    await kube.delete(
        ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", f"lockstep-{namespace}")
    )
    await kube.delete(ObjectRef("v1", "Namespace", namespace))


async def _bootstrap(
    kubeconfig: Path, repo: ServedRepo, namespace: str
) -> subprocess.CompletedProcess[str]:
    command = lockstep_command(
        kubeconfig,
        "bootstrap",
        "git",
        "--url",
        repo.git_url,
        "--branch",
        "main",
        "--path",
        "clusters/test",
        "-n",
        namespace,
        "--interval",
        "1s",
    )
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=300
    )


async def test_bootstrap_then_a_commit_to_the_path_is_applied(
    engine: Engine,
    kube: KubeClient,
    kubeconfig: Path,
    git_repo: ServedRepo,
    tmp_path: Path,
    system_namespace: str,
) -> None:
    namespace = system_namespace
    done = await _bootstrap(kubeconfig, git_repo, namespace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "manages itself from Git" in done.stdout
    deployment = await kube.get(ObjectRef("apps/v1", "Deployment", "lockstep", namespace))
    assert deployment["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == namespace

    again = await _bootstrap(kubeconfig, git_repo, namespace)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is up to date" in again.stdout

    work = git_repo.working_copy(tmp_path / "work")
    run = await asyncio.to_thread(
        subprocess.run,
        ["git", "pull", "--quiet", "origin", "main"],
        cwd=work.path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    extra = config_map("extra", colour="blue").replace(
        "  name: extra\n", f"  name: extra\n  namespace: {namespace}\n"
    )
    work.write("clusters/test/apps/extra.yaml", extra)
    work.commit("an app")
    work.push()

    async def extra_map() -> dict[str, object] | None:
        try:
            return await kube.get(ObjectRef("v1", "ConfigMap", "extra", namespace))
        except NotFound:
            return None

    await eventually(
        extra_map,
        lambda c: c is not None and c["data"] == {"colour": "blue"},
        within=60,
        what="the committed ConfigMap applied",
    )
