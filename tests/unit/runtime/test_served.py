"""Which kinds a CRD serves, the subscribers told when a kind appears or goes away, and
the loop that starts and stops controllers as their kinds come and go."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from lockstep.kube import KubeClient
from lockstep.runtime.informer import Change
from lockstep.runtime.metrics import ControllerMetrics, Health
from lockstep.runtime.served import (
    CRDS_COMPONENT,
    ServedKinds,
    Watch,
    is_established,
    run_served,
    served_by,
)

from .fake_clock import settle

IMAGE = "image.toolkit.fluxcd.io"


def crd(*versions: tuple[str, bool], established: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": f"imagepolicies.{IMAGE}"},
        "spec": {
            "group": IMAGE,
            "names": {"kind": "ImagePolicy"},
            "versions": [{"name": name, "served": served} for name, served in versions],
        },
        "status": {
            "conditions": [
                {"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True" if established else "False"},
            ]
        },
    }


def test_an_established_crd_serves_its_served_versions_only() -> None:
    served = served_by(crd(("v1beta2", False), ("v1", True)))

    assert served == {(f"{IMAGE}/v1", "ImagePolicy")}


def test_a_crd_not_established_yet_serves_nothing() -> None:
    pending = crd(("v1", True), established=False)

    assert not is_established(pending)
    assert served_by(pending) == frozenset()
    assert served_by({"metadata": {"name": "x"}}) == frozenset()


def test_subscribers_hear_when_a_kind_appears_changes_version_or_goes_away() -> None:
    kinds = ServedKinds(cast(KubeClient, None))
    heard: list[bool] = []
    kinds.subscribe(lambda: heard.append(kinds.serves(f"{IMAGE}/v1", "ImagePolicy")))
    key = ("", f"imagepolicies.{IMAGE}")
    old = crd(("v1beta2", True))
    new = crd(("v1beta2", True), ("v1", True))

    kinds._changed(Change("ADDED", key, crd(("v1", True), established=False)))
    assert heard == []
    kinds._changed(Change("MODIFIED", key, old))
    assert heard == [False]
    assert kinds.absent([(f"{IMAGE}/v1", "ImagePolicy"), (f"{IMAGE}/v1beta2", "ImagePolicy")]) == [
        (f"{IMAGE}/v1", "ImagePolicy")
    ]
    kinds._changed(Change("MODIFIED", key, new, previous=old))
    kinds._changed(Change("MODIFIED", key, new, previous=new))
    assert heard == [False, True]
    kinds._changed(Change("DELETED", key, new))
    assert heard == [False, True, False]
    assert not kinds.serves(f"{IMAGE}/v1beta2", "ImagePolicy")


@dataclass
class FakeController:
    """A controller that records what it is asked to do; its cache syncs on demand."""

    kind: str
    api_version: str
    watching: bool = False
    synced: bool = False
    working: bool = False
    cached: int = 0
    done: list[str] = field(default_factory=list)
    announce: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self.kind.lower()

    def start_watching(self, synced: asyncio.Event) -> None:
        self.watching, self.announce = True, synced
        self.done.append("watch")

    async def stop_watching(self) -> None:
        if self.watching:
            self.done.append("stop")
        self.watching = False

    def start_working(self, concurrency: int) -> None:
        self.working = True
        self.done.append(f"work x{concurrency}")

    def sync(self) -> None:
        assert self.announce is not None
        self.synced = True
        self.announce.set()


class ListedKinds(ServedKinds):
    """Served kinds fed by the test instead of a watch on an API server."""

    def __init__(self) -> None:
        super().__init__(cast(KubeClient, None))
        self.listed = asyncio.Event()

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def wait_synced(self) -> None:
        await self.listed.wait()

    def install(self, api_version: str, kind: str) -> None:
        group, version = api_version.split("/")
        manifest = {
            "spec": {
                "group": group,
                "names": {"kind": kind},
                "versions": [{"name": version, "served": True}],
            },
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        }
        self._changed(Change("ADDED", ("", kind), manifest))

    def delete(self, kind: str) -> None:
        self._changed(Change("DELETED", ("", kind), {}))


async def test_controllers_start_with_their_kinds_and_stop_when_they_go() -> None:
    git = FakeController("GitRepository", "source.toolkit.fluxcd.io/v1")
    apps = FakeController("Kustomization", "kustomize.toolkit.fluxcd.io/v1")
    policies = FakeController("ImagePolicy", f"{IMAGE}/v1")
    kinds, health, metrics, stop = ListedKinds(), Health(), ControllerMetrics(), asyncio.Event()
    started: list[str] = []
    watch = Watch(health, metrics, 3, on_started=lambda: started.append("started"))
    running = asyncio.create_task(run_served([git, apps, policies], kinds, watch, stop))
    await settle()
    assert health.ready_reasons == {CRDS_COMPONENT: "CustomResourceDefinitions not listed yet"}

    kinds.install(git.api_version, git.kind)
    kinds.install(apps.api_version, apps.kind)
    kinds.listed.set()
    await settle()
    assert (git.done, apps.done, policies.done) == (["watch"], ["watch"], [])
    assert health.ready_reasons == {
        "gitrepository": "cache not synced",
        "kustomization": "cache not synced",
    }
    assert health.absent_kinds == {
        "ImagePolicy": f"{IMAGE}/v1 is not served; lockstep install --crds adds it"
    }

    git.sync()
    await settle()
    assert not git.working, "the first workers wait for every cache served at the start"
    apps.sync()
    await settle()
    assert (git.done, apps.done) == (["watch", "work x3"], ["watch", "work x3"])
    assert health.is_ready
    assert started == ["started"]

    kinds.install(policies.api_version, policies.kind)
    await settle()
    assert policies.done == ["watch"]
    assert health.absent_kinds == {}
    assert not health.is_ready
    policies.sync()
    await settle()
    assert policies.done == ["watch", "work x3"]
    assert health.is_ready
    assert b'lockstep_kind_served{kind="ImagePolicy"} 1.0' in metrics.exposition()

    kinds.delete(policies.kind)
    await settle()
    assert policies.done == ["watch", "work x3", "stop"]
    assert list(health.absent_kinds) == ["ImagePolicy"]
    assert health.is_ready
    assert started == ["started"]

    stop.set()
    await asyncio.wait_for(running, 1)


async def test_readiness_waits_until_every_kind_is_known_served_or_absent() -> None:
    health = Health()
    seen: list[bool] = []

    @dataclass
    class Absent(FakeController):
        async def stop_watching(self) -> None:
            await asyncio.sleep(0)  # a probe may be answered here
            seen.append(health.is_ready)

    policies = Absent("ImagePolicy", f"{IMAGE}/v1")
    apps = FakeController("Kustomization", "kustomize.toolkit.fluxcd.io/v1")
    kinds, stop = ListedKinds(), asyncio.Event()
    running = asyncio.create_task(
        run_served([policies, apps], kinds, Watch(health, ControllerMetrics(), 1), stop)
    )
    kinds.install(apps.api_version, apps.kind)
    kinds.listed.set()
    await settle()

    assert seen
    assert not any(seen), "ready before the Kustomization's cache was even started"
    apps.sync()
    await settle()
    assert health.is_ready
    stop.set()
    await asyncio.wait_for(running, 1)
