"""Which kinds the API server serves, kept current by a watch on CustomResourceDefinitions.

A cluster may hold any subset of Flux's CRDs (image automation and notifications
are optional in Flux, so many clusters lack them), and CRDs come and go while
lockstep runs. :class:`ServedKinds` watches the CRDs and answers whether a kind is
served at an API version: its CRD exists, is Established, and lists that
version as served. A CRD being deleted still serves its kind until it is gone,
so that the informers see the deletion of its objects. Each time the answer changes for any kind, its
subscribers are called, so the controller manager starts a controller when its
kind appears and stops it when the kind goes away, without a restart.

:func:`run_served` is the loop the controller manager runs on it: it starts a
controller's informer when its kind is served, starts its workers once the cache
is synced, stops the informer when the kind goes away, and reports absent kinds
in the readiness state and the ``lockstep_kind_served`` metric.

:func:`served_by` reads the same answer out of one CRD, for ``lockstep check``.

Used by the controller manager (:mod:`lockstep.controllers.manager`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lockstep.kube import KubeClient
from lockstep.runtime.informer import Change, Informer, ObjectKey
from lockstep.runtime.metrics import ControllerMetrics, Health

_log = logging.getLogger(__name__)

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"

ServedKind = tuple[str, str]
"""``(apiVersion, kind)``, e.g. ``("image.toolkit.fluxcd.io/v1", "ImagePolicy")``."""


def served_by(crd: Mapping[str, Any]) -> frozenset[ServedKind]:
    """The ``(apiVersion, kind)`` pairs ``crd`` serves now; none while it is not
    Established."""
    if not is_established(crd):
        return frozenset()
    spec = crd.get("spec") or {}
    kind = str((spec.get("names") or {}).get("kind", ""))
    group = str(spec.get("group", ""))
    return frozenset(
        (f"{group}/{version['name']}", kind)
        for version in spec.get("versions") or []
        if version.get("served")
    )


def is_established(crd: Mapping[str, Any]) -> bool:
    """Whether the API server reports the CRD Established (its kind can be used)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class ServedKinds:
    """The kinds the API server serves, from a watch on every CRD."""

    def __init__(self, kube: KubeClient) -> None:
        self._informer = Informer(kube, CRD_API_VERSION, CRD_KIND)
        self._by_crd: dict[ObjectKey, frozenset[ServedKind]] = {}
        self._subscribers: list[Callable[[], None]] = []
        self._informer.subscribe(self._changed)

    def subscribe(self, subscriber: Callable[[], None]) -> None:
        """Call ``subscriber`` whenever a kind appears or goes away; it must be quick
        and must not raise (it runs inside the watch loop)."""
        self._subscribers.append(subscriber)

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether objects of ``kind`` can be read and written at ``api_version`` now."""
        wanted = (api_version, kind)
        return any(wanted in served for served in self._by_crd.values())

    def absent(self, kinds: Iterable[ServedKind]) -> list[ServedKind]:
        """Those of ``kinds`` the API server does not serve."""
        return [
            (api_version, kind) for api_version, kind in kinds if not self.serves(api_version, kind)
        ]

    async def run(self) -> None:
        """List and watch the CRDs until cancelled."""
        await self._informer.run()

    async def wait_synced(self) -> None:
        """Wait until the first list of CRDs has been read."""
        await self._informer.wait_synced()

    def _changed(self, change: Change) -> None:
        before = self._by_crd.get(change.key, frozenset())
        after = frozenset() if change.type == "DELETED" else served_by(change.object)
        if after:
            self._by_crd[change.key] = after
        else:
            self._by_crd.pop(change.key, None)
        if before != after:
            for subscriber in self._subscribers:
                subscriber()


CRDS_COMPONENT = "customresourcedefinitions"
"""How readiness names the watch on CRDs, which says which kinds are served."""
CRDS_NOT_LISTED = "CustomResourceDefinitions not listed yet"


class KindController(Protocol):
    """What :func:`run_served` needs of a controller: its kind, an informer it can start
    and stop, and workers it starts once."""

    @property
    def kind(self) -> str: ...

    @property
    def api_version(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def watching(self) -> bool: ...

    @property
    def synced(self) -> bool: ...

    @property
    def working(self) -> bool: ...

    @property
    def cached(self) -> int: ...

    def start_watching(self, synced: asyncio.Event) -> None: ...

    async def stop_watching(self) -> None: ...

    def start_working(self, concurrency: int) -> None: ...


@dataclass(frozen=True)
class Watch:
    """How :func:`run_served` runs the controllers and reports on them."""

    health: Health
    metrics: ControllerMetrics
    concurrency: int
    """Reconciles in parallel per controller."""

    on_started: Callable[[], None] = lambda: None
    """Called once, when the controllers served at the start are working."""


async def run_served(
    controllers: Sequence[KindController], served: ServedKinds, watch: Watch, stop: asyncio.Event
) -> None:
    """Run the controllers of the served kinds until ``stop``, following the CRDs.

    The workers of the kinds served at the start begin together, once all their
    caches are synced (a Kustomization must find its source in the cache); a kind
    served later starts as soon as its own cache is synced. A kind that goes away
    stops watching; its workers stay, idle. Absent kinds are reported in
    ``watch.health`` without holding readiness back.
    """
    # Set when a kind appears or goes away, or a cache is synced: time to look again.
    progress = asyncio.Event()
    served.subscribe(progress.set)
    watch.health.not_ready(CRDS_COMPONENT, CRDS_NOT_LISTED)
    crds = asyncio.create_task(served.run(), name="informer-crds")
    try:
        await _first(served.wait_synced(), stop.wait())
        started = False
        while not stop.is_set():
            progress.clear()
            for controller in controllers:
                await _follow_kind(controller, served, watch, progress)
            # Ready only once every kind is known as served or absent: a probe between
            # two kinds would otherwise see a kind that is neither.
            watch.health.ready(CRDS_COMPONENT)
            watching = [c for c in controllers if c.watching]
            if started or all(c.synced for c in watching):
                if not started:
                    watch.on_started()
                    started = True
                for controller in watching:
                    if controller.synced and not controller.working:
                        _start_working(controller, watch)
            await _first(progress.wait(), stop.wait())
    finally:
        crds.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await crds


async def _follow_kind(
    controller: KindController, served: ServedKinds, watch: Watch, synced: asyncio.Event
) -> None:
    """Watch the controller's kind while it is served; report it absent otherwise."""
    api_version, kind, health = controller.api_version, controller.kind, watch.health
    is_served = served.serves(api_version, kind)
    watch.metrics.kind_served.labels(kind=kind).set(1 if is_served else 0)
    if is_served and not controller.watching:
        if kind in health.absent_kinds:
            _log.info("%s is served now: starting its controller", kind)
        health.present(kind)
        health.not_ready(controller.name, "cache not synced")
        controller.start_watching(synced)
    elif not is_served and kind not in health.absent_kinds:
        _log.info(
            "%s is not served (no CRD for %s): its controller starts once it is installed",
            kind,
            api_version,
        )
        health.absent(kind, f"{api_version} is not served; lockstep install --crds adds it")
        health.ready(controller.name)
        await controller.stop_watching()


def _start_working(controller: KindController, watch: Watch) -> None:
    watch.health.ready(controller.name)
    _log.info("%s controller started, %d objects in cache", controller.kind, controller.cached)
    controller.start_working(watch.concurrency)


async def _first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of the awaitables completes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
