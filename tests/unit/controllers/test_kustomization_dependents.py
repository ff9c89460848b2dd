"""Which Kustomizations wait on another: the index kept as the cache changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from lockstep.controllers.kustomize.kustomization import KustomizationReconciler
from lockstep.kube import KubeClient, KubeObject
from lockstep.runtime.informer import Change, Subscriber
from lockstep.sources.store import ArtifactStore


class _Cache:
    """Publishes changes to its subscribers, as the informer does."""

    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def publish(self, change_type: Any, obj: KubeObject) -> None:
        metadata = obj["metadata"]
        for subscriber in self.subscribers:
            subscriber(Change(change_type, (metadata["namespace"], metadata["name"]), obj))


def _kustomization(name: str, *depends_on: dict[str, str]) -> KubeObject:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"dependsOn": list(depends_on)} if depends_on else {},
    }


def test_dependents_follow_the_cache(tmp_path: Path) -> None:
    cache = _Cache()
    reconciler = KustomizationReconciler(
        cast(KubeClient, None),
        ArtifactStore(tmp_path / "store", "http://127.0.0.1:1"),
        cache,
        tmp_path,
    )
    cache.publish("ADDED", _kustomization("infra"))
    cache.publish("ADDED", _kustomization("web", {"name": "infra"}))
    cache.publish("ADDED", _kustomization("api", {"name": "infra", "namespace": "apps"}))
    cache.publish("ADDED", _kustomization("db", {"name": "infra", "namespace": "other"}))
    cache.publish(
        "ADDED",
        _kustomization("jobs", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "infra"}),
    )
    assert sorted(reconciler.dependents(("apps", "infra"))) == [("apps", "api"), ("apps", "web")]
    assert reconciler.dependents(("other", "infra")) == [("apps", "db")]

    cache.publish("MODIFIED", _kustomization("web"))
    cache.publish("DELETED", _kustomization("api", {"name": "infra"}))
    assert reconciler.dependents(("apps", "infra")) == []
