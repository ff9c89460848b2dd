"""Argo CD on the test ground: the AppProject that lets a test's Applications live in the
test's own namespace, Applications of the scenario's repository, and waits on their status.

Argo CD requires an Application outside its own namespace (``argocd``) to name an
AppProject that lists that namespace in ``sourceNamespaces``; :func:`project` makes one
named after the namespace, allowing every repository and the in-cluster destination in
that namespace.

Shared by the Argo CD tests (``test_argo_application.py``, ``test_argo_self_heal.py``,
``test_cli_argo.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

ARGO_API = "argoproj.io/v1alpha1"
ARGOCD = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"

AUTOMATED = {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}


async def project(kube: KubeClient, namespace: str, **spec: Any) -> None:
    """The AppProject named after the test's namespace, allowing Applications there."""
    try:
        await kube.get(ObjectRef("v1", "Namespace", ARGOCD))
    except NotFound:
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD}})
    await kube.apply(
        {
            "apiVersion": ARGO_API,
            "kind": "AppProject",
            "metadata": {"name": namespace, "namespace": ARGOCD},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": IN_CLUSTER, "namespace": namespace}],
                "sourceNamespaces": [namespace],
                **spec,
            },
        }
    )


def application(scenario: Scenario, name: str, path: str, **spec: Any) -> KubeObject:
    """An Application of ``path`` in the scenario's repository, deployed to its namespace."""
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {"name": name, "namespace": scenario.namespace},
        "spec": {
            "project": scenario.namespace,
            "source": {"repoURL": scenario.repo.git_url, "targetRevision": "main", "path": path},
            "destination": {"server": IN_CLUSTER, "namespace": scenario.namespace},
            **spec,
        },
    }


async def get_app(scenario: Scenario, name: str) -> KubeObject:
    return await scenario.kube.get(ObjectRef(ARGO_API, "Application", name, scenario.namespace))


async def with_condition(scenario: Scenario, name: str) -> KubeObject:
    """The Application once its status has a condition."""
    return await eventually(
        lambda: get_app(scenario, name),
        lambda o: bool((o.get("status") or {}).get("conditions")),
        within=60,
        what=f"a condition on {name}",
    )


async def until(
    scenario: Scenario, name: str, sync: str, health: str | None = None, *, within: float = 120
) -> KubeObject:
    """The Application once its sync status (and health, when given) is as said."""

    def reached(app: KubeObject) -> bool:
        status = app.get("status") or {}
        return (status.get("sync") or {}).get("status") == sync and (
            health is None or (status.get("health") or {}).get("status") == health
        )

    return await eventually(
        lambda: get_app(scenario, name),
        reached,
        within=within,
        what=f"{name} {sync} {health or ''}",
    )


def engine_resyncing_every(
    kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory, interval: str
) -> Iterator[Engine]:
    """An engine comparing Applications and checking their sources every ``interval``
    (Argo CD's 3 minutes would outlast a test), for a module's ``engine`` fixture."""
    running = start_engine(
        kubeconfig, tmp_path_factory.mktemp("engine"), "--argocd-resync-interval", interval
    )
    yield running
    try:
        wait_for_deletions(kubeconfig, running)
    finally:
        stop_engine(running)
