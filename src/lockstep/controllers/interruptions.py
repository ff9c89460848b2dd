"""Interruptions of a running pipeline: its object deleted, or given a new spec, while
one of its stages waits.

A pipeline that waits long (a HelmRelease's install or upgrade waits for the health of
what it applied, up to its timeout, five minutes by default) holds its object's key in
the work queue meanwhile: a deletion or a new spec enqueues the key, but the key runs
again only once the wait has ended, so the uninstall or the new spec would wait as
long. The reconciler subscribes :meth:`Interruptions.observe` to its own informer and
runs its pipeline inside :meth:`Interruptions.running`; the wait is given
:meth:`Interruptions.event` (the ``cancelled`` event of
:func:`lockstep.apply.wait_healthy`), which is set as soon as the object gets a
``deletionTimestamp``, is deleted, or gets a new generation. The pipeline then records
what it abandoned and asks to run again at once (:data:`lockstep.controllers.shell.RERUN`):
the next run finalizes the object, or reconciles its new spec.

The Kustomization reconciler's equivalent is told by the controller manager when the
source has a new artifact (``KustomizationReconciler.new_artifact``). Used by the
HelmRelease reconciler (:mod:`lockstep.controllers.helm.release`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lockstep.runtime.informer import Change, ObjectKey


@dataclass
class Run:
    """One run of a pipeline: the generation of the spec it reconciles, and whether (and
    why) it was interrupted."""

    generation: int | None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    why: str = ""
    """What interrupted it, to end a sentence naming the object: ``is being deleted``."""


class Interruptions:
    """The running pipelines of one kind, by key, and what interrupts them."""

    def __init__(self) -> None:
        self._runs: dict[ObjectKey, Run] = {}

    @contextmanager
    def running(self, key: ObjectKey, generation: int | None) -> Iterator[Run]:
        """The pipeline of ``key`` runs, reconciling ``generation`` of its spec."""
        run = self._runs[key] = Run(generation)
        try:
            yield run
        finally:
            if self._runs.get(key) is run:
                del self._runs[key]

    def event(self, key: ObjectKey) -> asyncio.Event:
        """The event set when the running pipeline of ``key`` is interrupted; one never set
        when none runs."""
        run = self._runs.get(key)
        return run.cancelled if run is not None else asyncio.Event()

    def why(self, key: ObjectKey) -> str:
        """What interrupted the running pipeline of ``key``; empty when nothing did."""
        run = self._runs.get(key)
        return run.why if run is not None else ""

    def observe(self, change: Change) -> None:
        """A subscriber of the kind's informer: interrupts the run of the changed object
        when the change deletes it or gives it a new spec."""
        run = self._runs.get(change.key)
        if run is None or run.cancelled.is_set():
            return
        why = interruption(change.type == "DELETED", change.object, run.generation)
        if why:
            run.why = why
            run.cancelled.set()


def interruption(deleted: bool, obj: Mapping[str, Any], generation: int | None) -> str:
    """Why a run reconciling ``generation`` of ``obj``'s spec must stop: the object is
    being deleted, or has a newer spec; empty when it need not."""
    metadata = obj.get("metadata") or {}
    if deleted or metadata.get("deletionTimestamp"):
        return "is being deleted"
    now = metadata.get("generation")
    if isinstance(now, int) and isinstance(generation, int) and now > generation:
        return f"has a new spec (generation {now})"
    return ""
