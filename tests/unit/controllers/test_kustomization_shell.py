"""The Kustomization in the one reconciler shell: what it departs from the shell's
defaults in (no finalizer while suspended, Warning events only, retry interval), and
the shell's handling of an invalid Kustomization (Stalled, told once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.kustomization import KustomizationReconciler
from lockstep.runtime.informer import Subscriber
from lockstep.runtime.queue import Success, TerminalFailure
from lockstep.sources.store import ArtifactStore
from unit.controllers.test_shell import FakeCache, FakeKube

KEY = ("apps", "web")


class Cache(FakeCache):
    def subscribe(self, subscriber: Subscriber) -> None:
        pass


def kustomization(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "web", "namespace": "apps", "generation": 2},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            **spec,
        },
    }


def setup(obj: dict[str, Any], tmp_path: Path) -> tuple[FakeKube, KustomizationReconciler]:
    cache = Cache(obj)
    kube = FakeKube(cache)
    reconciler = KustomizationReconciler(
        kube.client(), ArtifactStore(tmp_path / "store", "http://127.0.0.1:1"), cache, tmp_path
    )
    return kube, reconciler


async def test_an_invalid_kustomization_stalls_and_is_told_once(tmp_path: Path) -> None:
    kube, reconciler = setup(kustomization(interval=5), tmp_path)

    assert await reconciler.reconcile(KEY) == TerminalFailure()
    assert await reconciler.reconcile(KEY) == TerminalFailure()

    [write] = kube.status_writes
    conditions = {c["type"]: c for c in write["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "InvalidSpec"
    assert conditions["Stalled"]["status"] == "True"
    [event] = kube.events
    assert (event["type"], event["reason"]) == ("Warning", "InvalidSpec")
    assert event["message"].startswith("Kustomization apps/web is invalid at spec.interval")


async def test_a_suspended_kustomization_gets_no_finalizer(tmp_path: Path) -> None:
    kube, reconciler = setup(kustomization(suspend=True), tmp_path)

    assert await reconciler.reconcile(KEY) == Success()

    assert (kube.patches, kube.status_writes, kube.events) == ([], [], [])


def test_only_failures_are_told_as_ready_events(tmp_path: Path) -> None:
    _, reconciler = setup(kustomization(), tmp_path)
    ready = {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}
    failed = {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "bad"}

    assert reconciler.ready_event({}, {"conditions": [{**ready, "message": "Applied"}]}) is None
    assert reconciler.ready_event({}, {"conditions": [failed]}) == ("Warning", "BuildFailed", "bad")


def test_failures_are_retried_within_the_retry_interval(tmp_path: Path) -> None:
    _, reconciler = setup(kustomization(), tmp_path)

    assert reconciler.retry_interval(Kustomization.model_validate(kustomization())) == 600
    with_retry = Kustomization.model_validate(kustomization(retryInterval="1m"))
    assert reconciler.retry_interval(with_retry) == 60
