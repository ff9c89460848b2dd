"""Informers: a watched, in-memory copy of one kind's objects that reconcilers read.

An :class:`Informer` lists the objects of one kind (optionally one namespace and
label selector), then watches from the list's resourceVersion with bookmarks, so
the copy stays current with one long request instead of polling. When a watch
ends it resumes from the last resourceVersion seen; when the API server says that
version is too old (410 Expired) it lists again and reports only what changed
in between; when the server cannot be reached it retries with backoff. Every
change is handed to the subscribers (controllers enqueue the object's key).

Reconcilers read :meth:`Informer.get` and :meth:`Informer.items` instead of the
API server, typed against :class:`ObjectCache`. An informer given ``keep`` caches (and
hands its subscribers) only what ``keep`` keeps of each object, so that a watch of
many large objects that needs a few of their fields does not hold them whole. Called by the controller manager
behind ``lockstep run``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from lockstep.kube import Expired, KubeClient, KubeError, KubeObject, Labels
from lockstep.runtime.queue import Backoff

_log = logging.getLogger(__name__)

ObjectKey = tuple[str, str]
"""(namespace, name) of an object of the informer's kind; namespace is "" for cluster-scoped kinds."""

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class Change:
    """One change to the cached copy, as subscribers see it."""

    type: ChangeType
    key: ObjectKey
    object: KubeObject
    previous: KubeObject | None = None
    """The cached copy before a MODIFIED change."""


Subscriber = Callable[[Change], None]
Keep = Callable[[KubeObject], KubeObject]
"""What an informer keeps of an object it lists or is told about."""


class ObjectCache(Protocol):
    """The cached objects of one kind, as reconcilers read them: what an
    :class:`Informer` offers, and what tests hand a reconciler instead of one."""

    def get(self, key: ObjectKey) -> KubeObject | None:
        """The object at ``key`` (namespace, name), or None when there is none."""

    def items(self) -> list[KubeObject]:
        """Every cached object."""


def object_key(obj: Mapping[str, object]) -> ObjectKey:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return ("", "")
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Informer:
    """The cached objects of one kind, kept current by list + watch."""

    def __init__(
        self,
        kube: KubeClient,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        labels: Labels | None = None,
        backoff: Backoff | None = None,
        watch_timeout_seconds: int = 300,
        keep: Keep | None = None,
    ) -> None:
        self.api_version = api_version
        self.kind = kind
        self._kube = kube
        self._namespace = namespace
        self._labels = dict(labels) if labels else None
        self._backoff = backoff or Backoff(base_delay=0.5, max_delay=30.0)
        self._watch_timeout = watch_timeout_seconds
        self._keep: Keep = keep or _whole
        self._objects: dict[ObjectKey, KubeObject] = {}
        self._subscribers: list[Subscriber] = []
        self._synced = asyncio.Event()
        self._version = ""
        self.lists = 0
        """How often a list filled the cache: more than once means a watch expired and the
        changes made meanwhile were reported folded together, as a difference to the list."""

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` for every change, starting with the first list.

        Subscribers run inside the watch loop: they must be quick and must not raise
        (a controller's subscriber only adds the key to its work queue).
        """
        self._subscribers.append(subscriber)

    def get(self, key: ObjectKey) -> KubeObject | None:
        return self._objects.get(key)

    def items(self) -> list[KubeObject]:
        return list(self._objects.values())

    async def wait_synced(self) -> None:
        """Wait until the first list has filled the cache."""
        await self._synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                if not self._version:
                    await self._relist()
                await self._watch()
                failures = 0
            except Expired:
                _log.info(
                    "%s watch expired at resourceVersion %s; listing again",
                    self.kind,
                    self._version,
                )
                self._version = ""
            except KubeError as error:
                failures += 1
                delay = self._backoff.delay(failures, random.random())
                _log.warning("%s watch failed (%s); retrying in %.1fs", self.kind, error, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> None:
        items, version = await self._kube.list_with_version(
            self.api_version, self.kind, namespace=self._namespace, labels=self._labels
        )
        fresh = {object_key(item): self._keep(item) for item in items}
        for key in self._objects.keys() - fresh.keys():
            self._publish(Change("DELETED", key, self._objects.pop(key)))
        for key, item in fresh.items():
            known = self._objects.get(key)
            if known is None:
                self._objects[key] = item
                self._publish(Change("ADDED", key, item))
            elif _version_of(known) != _version_of(item):
                self._objects[key] = item
                self._publish(Change("MODIFIED", key, item, previous=known))
        self._version = version
        self.lists += 1
        self._synced.set()

    async def _watch(self) -> None:
        async for event in self._kube.watch(
            self.api_version,
            self.kind,
            namespace=self._namespace,
            labels=self._labels,
            resource_version=self._version,
            timeout_seconds=self._watch_timeout,
        ):
            self._version = event.resource_version or self._version
            if event.type == "BOOKMARK":
                continue
            obj = self._keep(event.object)
            key = object_key(obj)
            if event.type == "DELETED":
                previous = self._objects.pop(key, None)
            else:
                previous = self._objects.get(key)
                self._objects[key] = obj
            change_type: ChangeType = (
                "MODIFIED" if event.type == "ADDED" and previous else event.type
            )
            self._publish(Change(change_type, key, obj, previous=previous))

    def _publish(self, change: Change) -> None:
        for subscriber in self._subscribers:
            subscriber(change)


def _whole(obj: KubeObject) -> KubeObject:
    return obj


def _version_of(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
