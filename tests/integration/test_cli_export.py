"""``lockstep export``: what a user declared, re-appliable as it is printed — a backup that
restores a deleted source and Kustomization to Ready, Secrets included on request."""

from __future__ import annotations

import pytest
import yaml

from ground.engine import Engine, lockstep, succeeded
from ground.gitops import Scenario, config_map, kubectl
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


async def test_export_prints_what_was_declared_and_restores_it(
    engine: Engine, scenario: Scenario
) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "repo-auth", "namespace": ns},
            "stringData": {"username": "git", "password": "s3cret"},
        }
    )
    source = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "repo", ns)
    await scenario.kube.json_patch(
        source, [{"op": "add", "path": "/spec/secretRef", "value": {"name": "repo-auth"}}]
    )

    one = list(
        yaml.safe_load_all(
            succeeded(await lockstep(kubeconfig, "export", "source", "git", "repo", "-n", ns))
        )
    )
    assert [(doc["kind"], doc["metadata"]) for doc in one] == [
        ("GitRepository", {"name": "repo", "namespace": ns})
    ]
    assert "status" not in one[0]
    assert one[0]["spec"]["secretRef"] == {"name": "repo-auth"}

    backup = succeeded(await lockstep(kubeconfig, "export", "all", "-n", ns, "--with-credentials"))
    documents = list(yaml.safe_load_all(backup))
    assert [(doc["kind"], doc["metadata"]["name"]) for doc in documents] == [
        ("Secret", "repo-auth"),
        ("GitRepository", "repo"),
        ("Kustomization", "apps"),
    ]
    assert all(
        "status" not in doc and "resourceVersion" not in doc["metadata"] for doc in documents
    )
    without = list(
        yaml.safe_load_all(succeeded(await lockstep(kubeconfig, "export", "ks", "--all", "-n", ns)))
    )
    assert [doc["kind"] for doc in without] == ["Kustomization"]

    usage = await lockstep(kubeconfig, "export", "source", "git", "-n", ns)
    assert usage.returncode == 2
    assert "name one gitrepository, or export all of them with --all" in usage.stderr

    # Restore: the source and the Kustomization deleted, then the backup applied as printed.
    succeeded(await lockstep(kubeconfig, "delete", "ks", "apps", "-n", ns))
    succeeded(await lockstep(kubeconfig, "delete", "source", "git", "repo", "-n", ns))
    await kubectl(kubeconfig, "apply", "-f", "-", stdin=backup)
    await scenario.kube.json_patch(source, [{"op": "remove", "path": "/spec/secretRef"}])
    await scenario.ready("apps")
    assert await scenario.get(ObjectRef("v1", "ConfigMap", "a", ns)) is not None
