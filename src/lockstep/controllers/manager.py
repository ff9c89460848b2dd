"""The controller manager behind ``lockstep run``: informers, queues, workers, servers.

For each reconciler it starts an informer on the reconciler's kind, feeds the
keys of objects that need work into a :class:`~lockstep.runtime.queue.WorkQueue`
(a new object, a spec change — ``metadata.generation`` — or a new
``reconcile.fluxcd.io/requestedAt``; never lockstep's own status writes), and
runs workers that call the reconciler, recording metrics and readiness that
``lockstep run`` serves over HTTP (:mod:`lockstep.web.server`). On stop it lets in-flight reconciles finish
within the grace period, then cancels what is left: status and artifacts are
written atomically, so a cancelled reconcile leaves nothing half-written.

Started by ``lockstep run`` (:mod:`lockstep.cli.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.controllers.gitrepository import API_VERSION, KIND, GitRepositoryReconciler
from lockstep.kube import KubeClient, KubeObject
from lockstep.runtime.informer import Change, Informer, ObjectKey
from lockstep.runtime.metrics import ControllerMetrics, Health
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, WorkQueue
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES, ArtifactStore

_log = logging.getLogger(__name__)

SCRATCH_FOLDER = ".scratch"
"""Under the storage path: work folders of checkouts in progress."""


@dataclass(frozen=True)
class ManagerOptions:
    """How ``lockstep run`` runs the controllers."""

    storage_path: Path
    """Folder of the artifact store."""

    watch_namespace: str | None = None
    """Watch one namespace only; ``None`` watches all."""

    concurrent: int = 4
    """Reconciles in parallel per controller."""

    storage_addr: str = "127.0.0.1:9090"
    """Address the artifact server listens on; artifact URLs point at it."""

    max_artifact_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    """Largest source content packed into an artifact; larger sources fail."""

    shutdown_grace_seconds: float = 30.0
    """How long in-flight reconciles may finish after a stop is requested."""


def needs_reconcile(change: Change) -> bool:
    """Whether a change asks for work: not for status-only updates (our own writes)."""
    if change.type != "MODIFIED" or change.previous is None:
        return True
    before, after = change.previous.get("metadata") or {}, change.object.get("metadata") or {}
    return (
        before.get("generation") != after.get("generation")
        or _requested_at(before) != _requested_at(after)
        or before.get("deletionTimestamp") != after.get("deletionTimestamp")
    )


def artifact_changed(change: Change) -> bool:
    """Whether the object's artifact is new: objects that include it must rebuild theirs."""
    before = ((change.previous or {}).get("status") or {}).get("artifact") or {}
    after = (change.object.get("status") or {}).get("artifact") or {}
    return bool(after) and before.get("digest") != after.get("digest")


def _requested_at(metadata: KubeObject) -> str | None:
    annotations = metadata.get("annotations") or {}
    value = annotations.get(RECONCILE_REQUEST_ANNOTATION)
    return str(value) if value is not None else None


class ControllerManager:
    """Runs the GitRepository controller (more kinds join it) until stopped."""

    def __init__(self, kube: KubeClient, options: ManagerOptions) -> None:
        self._kube = kube
        self._options = options
        self.metrics = ControllerMetrics()
        self.health = Health()

    async def run(self, stop: asyncio.Event) -> None:
        options = self._options
        options.storage_path.mkdir(parents=True, exist_ok=True)
        store = ArtifactStore(
            options.storage_path, f"http://{options.storage_addr}", options.max_artifact_bytes
        )
        # Checkouts of a process that was killed are left here; nothing else uses them.
        scratch = options.storage_path / SCRATCH_FOLDER
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        informer = Informer(self._kube, API_VERSION, KIND, namespace=options.watch_namespace)
        queue: WorkQueue[ObjectKey] = WorkQueue()
        reconciler = GitRepositoryReconciler(self._kube, store, informer, scratch)

        def enqueue(change: Change) -> None:
            if needs_reconcile(change):
                queue.add(change.key)
            if artifact_changed(change):
                for dependent in reconciler.dependents(change.key):
                    queue.add(dependent)
            self.metrics.queue_depth.labels(controller=reconciler.name).set(len(queue))

        async def work(key: ObjectKey) -> Outcome:
            started = time.monotonic()
            outcome = await reconciler.reconcile(key)
            result = "success" if isinstance(outcome, Success) else "error"
            self.metrics.observe(reconciler.name, result, time.monotonic() - started)
            self.metrics.queue_depth.labels(controller=reconciler.name).set(len(queue))
            if isinstance(outcome, TerminalFailure):
                _log.warning("%s %s/%s stalled until its spec changes", KIND, *key)
            return outcome

        informer.subscribe(enqueue)
        self.health.not_ready(reconciler.name, "cache not synced")
        watching = asyncio.create_task(informer.run(), name=f"informer-{KIND}")
        working: asyncio.Task[None] | None = None
        try:
            await _first(informer.wait_synced(), stop.wait())
            if not stop.is_set():
                self.health.ready(reconciler.name)
                _log.info("%s controller started, %d objects in cache", KIND, len(informer.items()))
                working = asyncio.create_task(queue.run(work, concurrency=options.concurrent))
                await stop.wait()
        finally:
            _log.info("stopping: letting in-flight reconciles finish")
            try:
                async with asyncio.timeout(options.shutdown_grace_seconds):
                    await queue.shutdown(drain=True)
            except TimeoutError:
                await queue.shutdown(drain=False)
            for task in (working, watching):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of the coroutines completes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
