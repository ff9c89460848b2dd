"""The inventory recorded before an apply that may create objects: an engine killed in
the middle of the apply leaves every object it created listed, the next reconcile
prunes what Git no longer declares (quietly for objects never created), a refused apply
keeps that inventory, and an apply that creates nothing new costs no extra status write."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import Artifact
from lockstep.controllers.kustomize.cache import Build, BuildFingerprint, KustomizationMemory
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.controllers.kustomize.kustomization import KustomizationReconciler
from lockstep.kube import Invalid, KubeClient, KubeObject, ObjectRef
from lockstep.runtime.informer import ObjectKey, Subscriber
from lockstep.runtime.queue import Success, TransientFailure
from lockstep.sources.store import ArtifactStore
from unit.apply.fake_cluster import FakeCluster, Request

KEY = ("apps", "web")
OWNER_LABEL = "kustomize.toolkit.fluxcd.io/name"
ARTIFACT = Artifact(
    path="gitrepository/apps/repo/a.tar.gz",
    url="http://127.0.0.1:1/gitrepository/apps/repo/a.tar.gz",
    revision="main@sha1:1",
    digest="sha256:" + "a" * 64,
    last_update_time=datetime(2026, 12, 1, tzinfo=UTC),
)
SOURCE: KubeObject = {
    "apiVersion": "source.toolkit.fluxcd.io/v1",
    "kind": "GitRepository",
    "metadata": {"name": "repo", "namespace": "apps"},
    "status": {"artifact": ARTIFACT.model_dump(mode="json", by_alias=True, exclude_none=True)},
}


class Killed(BaseException):
    """The engine process died: nothing of the reconcile runs after it, not even a status write."""


@dataclass
class ApiServer(FakeCluster):
    """The API server as one Kustomization sees it: the objects it applies, its own
    status (shown in the cache as the informer would) and its events, every request in
    the order it was made; ``killed_after`` writes end the process."""

    kustomization: KubeObject = field(default_factory=dict)
    killed_after: int | None = None
    refused: str = ""
    """The name of an object every apply, dry-run or not, is refused for."""
    status_writes: list[KubeObject] = field(default_factory=list)
    """Every status written, in order."""

    async def apply(self, obj: KubeObject, **options: Any) -> KubeObject:
        if obj["metadata"]["name"] == self.refused:
            raise Invalid(f'ConfigMap "{self.refused}" is invalid', code=422)
        if not options.get("dry_run") and self.killed_after is not None:
            if self.killed_after == 0:
                raise Killed
            self.killed_after -= 1
        return await super().apply(obj, **options)

    async def apply_status(self, obj: KubeObject) -> KubeObject:
        self.requests.append(Request("status", ObjectRef.of(obj)))
        self.status_writes.append(copy.deepcopy(obj["status"]))
        self.kustomization = {**self.kustomization, "status": copy.deepcopy(obj["status"])}
        return self.kustomization

    async def json_patch(self, ref: ObjectRef, operations: list[KubeObject]) -> KubeObject:
        self.requests.append(Request("patch", ref))
        self.kustomization["metadata"]["finalizers"] = ["finalizers.fluxcd.io"]
        return self.kustomization

    async def create(self, obj: KubeObject) -> KubeObject:
        self.requests.append(Request("event", ObjectRef.of(obj)))
        return obj

    def owned(self) -> set[str]:
        return {
            ref.name
            for ref, obj in self.objects.items()
            if OWNER_LABEL in obj["metadata"].get("labels", {})
        }

    def inventory(self) -> list[str]:
        entries = (self.kustomization.get("status") or {}).get("inventory", {}).get("entries", [])
        return [entry["id"] for entry in entries]


class CacheView:
    """The informer's cache: the Kustomization as last written."""

    def __init__(self, server: ApiServer) -> None:
        self._server = server

    def get(self, key: ObjectKey) -> KubeObject | None:
        return self._server.kustomization if key == KEY else None

    def items(self) -> list[KubeObject]:
        return [self._server.kustomization]

    def subscribe(self, subscriber: Subscriber) -> None:
        pass


def config_map(name: str) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "apps"},
        "data": {"name": name},
    }


def entry_id(name: str) -> str:
    return f"apps_{name}__ConfigMap"


def kustomization(generation: int = 1) -> KubeObject:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": "web",
            "namespace": "apps",
            "uid": "uid-web",
            "generation": generation,
        },
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
        },
    }


def engine(server: ApiServer, tmp_path: Path, objects: list[KubeObject]) -> KustomizationReconciler:
    """A freshly started engine whose build of the artifact gives ``objects``."""
    memory = KustomizationMemory()
    parsed = Kustomization.model_validate(server.kustomization)
    fingerprint = BuildFingerprint.of(parsed, ARTIFACT, BuildInputs(strict_substitution=True))
    memory.remember_build(KEY, fingerprint, Build(tuple(objects), f"sha256:{len(objects)}"))
    kube = cast(KubeClient, server)
    return KustomizationReconciler(
        kube,
        ArtifactStore(tmp_path / "store", "http://127.0.0.1:1"),
        CacheView(server),
        tmp_path,
        sources={"GitRepository": lambda _key: SOURCE},
        memory=memory,
    )


NAMES = [f"map-{index}" for index in range(6)]


async def test_a_first_apply_records_its_objects_before_creating_any(tmp_path: Path) -> None:
    server = ApiServer(kustomization=kustomization())

    assert await engine(server, tmp_path, [config_map(n) for n in NAMES]).reconcile(KEY) == Success(
        requeue_after=600
    )

    verbs = server.verbs()
    first_status, first_apply = verbs.index("status"), verbs.index("apply")
    assert first_status < first_apply
    assert verbs.count("status") == 2, "the inventory first, then the outcome"
    assert server.inventory() == [entry_id(n) for n in NAMES]


async def test_a_kill_during_the_first_apply_leaves_no_orphan_after_a_commit_removes_one(
    tmp_path: Path,
) -> None:
    server = ApiServer(kustomization=kustomization(), killed_after=3)
    with pytest.raises(Killed):
        await engine(server, tmp_path / "first", [config_map(n) for n in NAMES]).reconcile(KEY)
    created = server.owned()
    assert created == set(NAMES[:3])
    assert {entry_id(n) for n in created} <= set(server.inventory())

    server.killed_after = None
    kept = [n for n in NAMES if n != "map-1"]
    restarted = engine(server, tmp_path / "second", [config_map(n) for n in kept])
    assert await restarted.reconcile(KEY) == Success(requeue_after=600)

    assert server.owned() == set(kept), "map-1, created before the kill, is pruned"
    assert server.inventory() == [entry_id(n) for n in kept]
    ready = server.kustomization["status"]["conditions"][0]
    assert (ready["type"], ready["status"]) == ("Ready", "True")


async def test_an_apply_that_creates_nothing_new_writes_no_status_first(tmp_path: Path) -> None:
    server = ApiServer(kustomization=kustomization())
    objects = [config_map(n) for n in NAMES]
    await engine(server, tmp_path / "first", objects).reconcile(KEY)
    server.requests.clear()
    server.kustomization["metadata"]["generation"] = 2

    await engine(server, tmp_path / "second", objects[:-1]).reconcile(KEY)

    verbs = server.verbs()
    assert verbs.count("status") == 1
    assert verbs.index("status") > max(i for i, verb in enumerate(verbs) if verb == "dry-run")
    assert server.inventory() == [entry_id(n) for n in NAMES[:-1]]


async def test_a_refused_apply_keeps_the_intended_inventory_and_the_next_prunes_quietly(
    tmp_path: Path,
) -> None:
    server = ApiServer(kustomization=kustomization(), refused="map-5")
    objects = [config_map(n) for n in NAMES]

    outcome = await engine(server, tmp_path / "first", objects).reconcile(KEY)

    assert isinstance(outcome, TransientFailure)
    assert server.owned() == set(), "the dry-run failed: nothing was written"
    assert server.inventory() == [entry_id(n) for n in NAMES]
    server.refused = ""
    server.kustomization["metadata"]["generation"] = 2
    assert await engine(server, tmp_path / "second", objects[:3]).reconcile(KEY) == Success(
        requeue_after=600
    )
    assert server.owned() == set(NAMES[:3])
    assert server.inventory() == [entry_id(n) for n in NAMES[:3]]


async def test_with_health_checks_the_inventory_rides_on_the_status_flux_shows_meanwhile(
    tmp_path: Path,
) -> None:
    server = ApiServer(kustomization=kustomization())
    server.kustomization["spec"]["wait"] = True

    assert await engine(server, tmp_path, [config_map(n) for n in NAMES]).reconcile(KEY) == Success(
        requeue_after=600
    )

    verbs = server.verbs()
    statuses = [i for i, verb in enumerate(verbs) if verb == "status"]
    assert len(statuses) == 2, "no write more than without the inventory recorded first"
    assert statuses[0] < verbs.index("apply")
    progress = server.status_writes[0]
    assert [e["id"] for e in progress["inventory"]["entries"]] == [entry_id(n) for n in NAMES]
    healthy = next(c for c in progress["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("Unknown", "Progressing")
    assert healthy["message"].startswith("Running health checks for revision main@sha1:1")
