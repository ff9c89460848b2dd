"""What the drift watches vouch for: which kinds are watched without a break, the
watched copies of objects, and objects an apply is about to create."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from lockstep.apply import InventoryEntry
from lockstep.apply.owners import KUSTOMIZATION_NAME_LABEL as OWNER_NAME_LABEL
from lockstep.apply.owners import KUSTOMIZATION_NAMESPACE_LABEL as OWNER_NAMESPACE_LABEL
from lockstep.controllers.drift import DriftWatcher
from lockstep.kube import Expired, KubeClient, KubeObject, ObjectRef, WatchEvent
from lockstep.runtime.informer import ObjectKey

OWNER = ("flux-system", "apps")
SETTINGS = ObjectRef("v1", "ConfigMap", "settings", "default")
TEAM = ObjectRef("v1", "Namespace", "team")


class WatchedKube:
    """Lists and watch streams of each kind, fed by the test."""

    def __init__(self) -> None:
        self.objects: dict[str, list[KubeObject]] = {}
        self.streams: dict[str, asyncio.Queue[WatchEvent | Exception]] = {}

    def stream(self, kind: str) -> asyncio.Queue[WatchEvent | Exception]:
        return self.streams.setdefault(kind, asyncio.Queue())

    async def list_with_version(
        self, api_version: str, kind: str, **options: Any
    ) -> tuple[list[KubeObject], str]:
        return list(self.objects.get(kind, [])), "1"

    async def watch(self, api_version: str, kind: str, **options: Any) -> AsyncIterator[WatchEvent]:
        stream = self.stream(kind)
        while True:
            event = await stream.get()
            if isinstance(event, Exception):
                raise event
            yield event


def _managed(ref: ObjectRef, version: str = "1") -> KubeObject:
    metadata: dict[str, Any] = {
        "name": ref.name,
        "resourceVersion": version,
        "labels": {OWNER_NAME_LABEL: OWNER[1], OWNER_NAMESPACE_LABEL: OWNER[0]},
    }
    if ref.namespace:
        metadata["namespace"] = ref.namespace
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": metadata}


def _owner(*refs: ObjectRef) -> KubeObject:
    """The Kustomization as cached, its status listing ``refs``."""
    entries = [{"id": InventoryEntry.of(ref).id, "v": "v1"} for ref in refs]
    return {
        "metadata": {"name": OWNER[1], "namespace": OWNER[0]},
        "status": {"inventory": {"entries": entries}},
    }


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")


def _watcher(
    kube: WatchedKube, owner: KubeObject | None = None
) -> tuple[DriftWatcher, list[tuple[ObjectKey, str]]]:
    reported: list[tuple[ObjectKey, str]] = []
    watcher = DriftWatcher(
        cast(KubeClient, kube),
        lambda key: owner if key == OWNER else None,
        lambda owner, obj: [],
        lambda key, what: reported.append((key, what)),
    )
    return watcher, reported


async def test_a_kind_vouches_once_listed_and_until_it_lists_again() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [_managed(SETTINGS)]
    watcher, _ = _watcher(kube)
    assert watcher.watch_epoch([SETTINGS]) is None, "not watched"
    assert watcher.watch_epoch([]) == ()
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)])
    assert watcher.watch_epoch([SETTINGS]) is None, "not listed yet"
    await _until(lambda: watcher.watch_epoch([SETTINGS]) is not None)
    first = watcher.watch_epoch([SETTINGS, SETTINGS])
    assert first == (("v1", "ConfigMap", 1),)

    kube.stream("ConfigMap").put_nowait(WatchEvent("MODIFIED", _managed(SETTINGS, version="2")))
    await _until(lambda: watcher.cached(SETTINGS) == _managed(SETTINGS, version="2"))
    assert watcher.watch_epoch([SETTINGS]) == first, "a watched change keeps the epoch"

    kube.stream("ConfigMap").put_nowait(Expired("too old", code=410))
    await _until(lambda: watcher.watch_epoch([SETTINGS]) != first)
    assert watcher.watch_epoch([SETTINGS]) == (("v1", "ConfigMap", 2),)
    await watcher.stop()
    assert watcher.watch_epoch([SETTINGS]) is None, "a stopped watch vouches for nothing"


async def test_every_kind_must_be_listed() -> None:
    kube = WatchedKube()
    watcher, _ = _watcher(kube)
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)])
    await _until(lambda: watcher.watch_epoch([SETTINGS]) is not None)
    assert watcher.watch_epoch([SETTINGS, TEAM]) is None
    await watcher.stop()


async def test_watched_copies_by_ref() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [_managed(SETTINGS)]
    kube.objects["Namespace"] = [_managed(TEAM)]
    watcher, _ = _watcher(kube)
    assert watcher.cached(SETTINGS) is None
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS), InventoryEntry.of(TEAM)])
    await _until(lambda: watcher.cached(SETTINGS) is not None)
    assert watcher.cached(SETTINGS) == _managed(SETTINGS)
    assert watcher.cached(ObjectRef("v1", "ConfigMap", "absent", "default")) is None
    await _until(lambda: watcher.cached(TEAM) is not None)
    # A health check names a cluster-scoped object in the Kustomization's namespace.
    assert watcher.cached(ObjectRef("v1", "Namespace", "team", "flux-system")) == _managed(TEAM)
    await watcher.stop()


async def test_config_maps_are_watched_without_their_values() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [{**_managed(SETTINGS), "data": {"big": "x" * 1000}}]
    kube.objects["Namespace"] = [{**_managed(TEAM), "data": {"kept": "yes"}}]
    watcher, _ = _watcher(kube)
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS), InventoryEntry.of(TEAM)])
    await _until(lambda: None not in (watcher.cached(SETTINGS), watcher.cached(TEAM)))
    assert watcher.cached(SETTINGS) == _managed(SETTINGS)
    assert watcher.cached(TEAM) == {**_managed(TEAM), "data": {"kept": "yes"}}
    kube.stream("ConfigMap").put_nowait(
        WatchEvent("MODIFIED", {**_managed(SETTINGS, version="2"), "data": {"big": "y"}})
    )
    await _until(lambda: watcher.cached(SETTINGS) == _managed(SETTINGS, version="2"))

    # A health expression judging ConfigMaps may read their values: it gets no copy.
    judged = watcher.health_copies([("", "ConfigMap")])
    assert judged(SETTINGS) is None
    assert judged(TEAM) == watcher.cached(TEAM)
    assert watcher.health_copies([])(SETTINGS) == _managed(SETTINGS, version="2")
    await watcher.stop()


async def test_objects_being_applied_count_before_the_status_lists_them() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [_managed(SETTINGS)]
    watcher, reported = _watcher(kube, owner=_owner())
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)])
    await _until(lambda: watcher.cached(SETTINGS) is not None)
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="2")))
    await _until(lambda: bool(reported))
    assert reported == [(OWNER, "ConfigMap/default/settings was deleted")]

    watcher.forget(OWNER)
    kube.stream("ConfigMap").put_nowait(WatchEvent("ADDED", _managed(SETTINGS, version="3")))
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="4")))
    await _until(lambda: watcher.cached(SETTINGS) is None)
    assert len(reported) == 1, "forgotten, and not in the status inventory"
    await watcher.stop()


async def test_an_owner_tracked_for_health_only_has_its_kinds_watched_but_no_drift() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [_managed(SETTINGS)]
    # Even an owner whose status lists the object is not told of its changes.
    watcher, reported = _watcher(kube, owner=_owner(SETTINGS))
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)], drift=False)
    assert watcher.watched_kinds == [("v1", "ConfigMap")]
    await _until(lambda: watcher.cached(SETTINGS) is not None)
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="2")))
    await _until(lambda: watcher.cached(SETTINGS) is None)
    assert reported == []

    # Drift detection turned on: the same change is drift again.
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)])
    kube.stream("ConfigMap").put_nowait(WatchEvent("ADDED", _managed(SETTINGS, version="3")))
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="4")))
    await _until(lambda: bool(reported))
    assert reported == [(OWNER, "ConfigMap/default/settings was deleted")]
    await watcher.stop()


async def test_a_deletion_announced_for_a_health_only_owner_is_consumed() -> None:
    kube = WatchedKube()
    kube.objects["ConfigMap"] = [_managed(SETTINGS)]
    watcher, reported = _watcher(kube, owner=_owner(SETTINGS))
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)], drift=False)
    await _until(lambda: watcher.cached(SETTINGS) is not None)
    watcher.expect_deletion([InventoryEntry.of(SETTINGS)])
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="2")))
    await _until(lambda: watcher.cached(SETTINGS) is None)

    # The announcement was used up: a later deletion by someone else, with drift
    # detection on, is drift.
    watcher.track(OWNER, [InventoryEntry.of(SETTINGS)])
    kube.stream("ConfigMap").put_nowait(WatchEvent("ADDED", _managed(SETTINGS, version="3")))
    kube.stream("ConfigMap").put_nowait(WatchEvent("DELETED", _managed(SETTINGS, version="4")))
    await _until(lambda: bool(reported))
    assert reported == [(OWNER, "ConfigMap/default/settings was deleted")]
    await watcher.stop()
