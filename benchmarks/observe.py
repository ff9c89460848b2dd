"""Seeing when the cluster reaches a state: a watched copy of one kind's objects.

Latencies are measured by watching, not polling: polling 1000 Kustomizations a few
times a second would load the API server the engine is being measured on, and
round each latency up to the polling period. :class:`Watched` lists the objects
of one kind in one namespace, follows the watch from there (listing again when it
expires), and wakes :meth:`Watched.until` at every change; each change's arrival
time is handed to an optional callback, which is how W1 times each Kustomization.

Used by the workloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

from lockstep.kube import Expired, KubeClient, KubeError, KubeObject

Objects = Mapping[str, KubeObject]
"""Objects by name."""


class WaitTimeout(RuntimeError):
    """A state was not reached in time; the message says which and what was seen."""


class Watched:
    """The objects of one kind in one namespace, kept current by list + watch."""

    def __init__(
        self,
        kube: KubeClient,
        api_version: str,
        kind: str,
        namespace: str,
        *,
        changed: Callable[[KubeObject, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self._api_version = api_version
        self._kind = kind
        self._namespace = namespace
        self._changed = changed
        self.objects: dict[str, KubeObject] = {}
        self._condition = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._follow(await self._list()))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def until(self, accept: Callable[[Objects], bool], *, within: float, what: str) -> float:
        """Wait until ``accept`` holds for the objects; the monotonic time it first did."""
        deadline = time.monotonic() + within
        async with self._condition:
            while not accept(self.objects):
                if self._task is not None and self._task.done():
                    self._task.result()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(
                        f"{what} not reached within {within:.0f}s; {self._not_ready()}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._condition.wait(), timeout=min(left, 1.0))
        return time.monotonic()

    def _not_ready(self) -> str:
        waiting = [obj for obj in self.objects.values() if not is_ready(obj)]
        shown = "; ".join(
            f"{obj['metadata']['name']}: {ready_message(obj) or 'no Ready condition'}"
            for obj in waiting[:3]
        )
        return f"{len(waiting)} of {len(self.objects)} {self._kind}s not Ready ({shown})"

    async def _follow(self, version: str) -> None:
        while True:
            try:
                async for event in self._kube.watch(
                    self._api_version,
                    self._kind,
                    namespace=self._namespace,
                    resource_version=version,
                ):
                    version = event.resource_version or version
                    if event.type == "BOOKMARK":
                        continue
                    name = str(event.object["metadata"]["name"])
                    if event.type == "DELETED":
                        self.objects.pop(name, None)
                    else:
                        self.objects[name] = event.object
                    await self._notify(event.object)
            except Expired:
                version = await self._list()
            except KubeError:
                # A watch cut short by a busy API server: start again from a fresh list.
                await asyncio.sleep(1.0)
                version = await self._list()

    async def _list(self) -> str:
        items, version = await self._kube.list_with_version(
            self._api_version, self._kind, namespace=self._namespace
        )
        self.objects = {str(item["metadata"]["name"]): item for item in items}
        for item in items:
            await self._notify(item)
        return version

    async def _notify(self, obj: KubeObject) -> None:
        if self._changed is not None:
            self._changed(obj, time.monotonic())
        async with self._condition:
            self._condition.notify_all()


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True for the object's current generation (Flux's objects' convention)."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
        return False
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )


def ready_message(obj: Mapping[str, Any]) -> str:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return (
                f"{condition.get('status')} {condition.get('reason')}: {condition.get('message')}"
            )
    return ""
