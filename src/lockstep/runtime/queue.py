"""The controller work queue: keyed, deduplicating, delaying, with per-key backoff.

Every reconciler runs on one :class:`WorkQueue`. Watch event handlers call
:meth:`WorkQueue.add` with an object's key, e.g. ``(kind, namespace, name)``;
:meth:`WorkQueue.run` starts the workers that hand each key to the reconciler
and turn the :data:`Outcome` it returns into the key's next run:

=======================  ====================================================
outcome                  next run of the key
=======================  ====================================================
``Success(after)``       after ``after`` seconds (``spec.interval``); failures forgotten
``Success()``            only when the key is added again; failures forgotten
``TransientFailure()``   after the key's exponential :class:`Backoff`
``TransientFailure(m)``  after the backoff, but at most ``m`` seconds
``TerminalFailure()``    only when the key is added again; failures forgotten
the worker raised        as ``TransientFailure()``, logged; the worker goes on
=======================  ====================================================

The queue keeps client-go's workqueue guarantees, which Flux and Argo CD run on:

- a key waiting in the queue is there once, however often it is added;
- no two workers ever process the same key at once; a key added while it is
  being processed runs once more after the current run finishes;
- a key has at most one pending run: added again, the sooner time wins;
- keys that are due are handed out first in, first out.

Written by hand because no maintained asyncio library does this. PyPI has job
queues (FIFO, priority, Redis-backed), rate limiters (aiolimiter), retry
decorators (tenacity, backoff) and keyed leased queues (leasedkeyq), but none
that coalesces re-adds of a key being processed, delays keys earliest-wins and
backs off per key; kopf, the Python operator framework, keeps its per-object
queues internal. Time comes from an injected :class:`~lockstep.runtime.clock.Clock`
and jitter from an injected random source, so tests assert exact delays.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeAlias, TypeVar, assert_never

from lockstep.runtime.clock import Clock, LoopClock, Timer

K = TypeVar("K", bound=Hashable)

_log = logging.getLogger(__name__)

# 2**64 times any base delay is far past any max_delay; bounding the exponent
# keeps the float from overflowing after a key has failed a thousand times.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Success:
    """The key is reconciled; run it again after ``requeue_after`` seconds, or only when added."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must be 0 or more seconds, not {self.requeue_after}")


@dataclass(frozen=True)
class TransientFailure:
    """The run failed for a reason that may pass (API server down, source unreachable): retry with backoff."""

    max_delay: float | None = None
    """Retry at the latest after this many seconds (``spec.retryInterval``), however long the backoff."""


@dataclass(frozen=True)
class TerminalFailure:
    """The run failed in a way retrying cannot fix (invalid spec): wait until the key is added again."""


Outcome: TypeAlias = Success | TransientFailure | TerminalFailure
Worker: TypeAlias = Callable[[K], Awaitable[Outcome]]


@dataclass(frozen=True)
class Backoff:
    """Per-key exponential backoff, the delays of :meth:`WorkQueue.add_rate_limited`.

    The n-th consecutive failure of a key waits ``min(base_delay * 2**(n-1), max_delay)``
    shortened by up to ``jitter`` of itself: with the defaults 0.75 s, 1.5 s, 3 s,
    6 s, ... up to 15 min, each up to 10 % less.

    The defaults are Flux's (``--min-retry-delay=750ms``, ``--max-retry-delay=15m``
    on client-go's per-item exponential limiter, factor 2). controller-runtime's
    default starts at 5 ms, which retries a broken source hundreds of times a
    minute, and adds a 10 keys/s bucket across all keys, which Flux drops and so
    does lockstep. Flux has no jitter; lockstep adds it so that the keys that
    failed together (every object of an unreachable source) do not retry
    together. Jitter only shortens a delay, so ``max_delay`` stays a ceiling and
    keys held at the ceiling still spread out.
    """

    base_delay: float = 0.75
    """Seconds before the first retry."""
    max_delay: float = 900.0
    """The longest wait in seconds, however often the key has failed."""
    jitter: float = 0.1
    """The largest fraction taken off a delay at random, from 0 (none) up to but excluding 1."""

    def __post_init__(self) -> None:
        if self.base_delay <= 0:
            raise ValueError(f"base_delay must be more than 0 seconds, not {self.base_delay}")
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must be at least base_delay ({self.base_delay})"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), not {self.jitter}")

    def delay(self, failures: int, random_fraction: float) -> float:
        """Seconds to wait after the ``failures``-th failure in a row; ``random_fraction`` in [0, 1)."""
        exponent = min(failures - 1, _MAX_EXPONENT)
        ceiling = min(self.base_delay * 2.0**exponent, self.max_delay)
        return ceiling * (1.0 - self.jitter * random_fraction)


class QueueShutDown(Exception):
    """:meth:`WorkQueue.get` was called on, or woken by, a queue that is shutting down."""


class WorkQueue(Generic[K]):
    """Keys to reconcile: deduplicated, delayed, backed off, handed to workers one at a time each.

    Everything runs on one event loop; no method is thread-safe.
    """

    def __init__(
        self,
        *,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        jitter_source: Callable[[], float] = random.random,
    ) -> None:
        self._backoff = backoff or Backoff()
        self._clock: Clock = clock or LoopClock()
        self._jitter_source = jitter_source
        self._ready: deque[K] = deque()
        # Keys due to run: waiting in _ready, or (while in _processing) to go
        # back to _ready when done() is called. A dirty key has no timer.
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._scheduled: dict[K, tuple[float, Timer]] = {}
        self._failures: dict[K, int] = {}
        self._nonempty = asyncio.Event()
        self._shutting_down = False
        self._workers: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Keys due and waiting for a worker: the ``workqueue_depth`` metric."""
        return len(self._ready)

    def add(self, key: K) -> None:
        """Run ``key`` as soon as a worker is free, and once more if it is running now."""
        if self._shutting_down:
            return
        self._unschedule(key)
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._push(key)

    def add_after(self, key: K, delay: float) -> None:
        """Run ``key`` in ``delay`` seconds, unless it is already due sooner."""
        if delay <= 0:
            self.add(key)
            return
        if self._shutting_down or key in self._dirty:
            return
        when = self._clock.now() + delay
        scheduled = self._scheduled.get(key)
        if scheduled is not None:
            if scheduled[0] <= when:
                return
            scheduled[1].cancel()
        self._scheduled[key] = (when, self._clock.call_at(when, partial(self.add, key)))

    def add_rate_limited(self, key: K, max_delay: float | None = None) -> None:
        """Count a failure of ``key`` and run it again after its :class:`Backoff` delay
        (or ``max_delay``, if that is sooner)."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = self._backoff.delay(failures, self._jitter_source())
        self.add_after(key, delay if max_delay is None else min(delay, max_delay))

    def forget(self, key: K) -> None:
        """Reset the failures of ``key``: its next backoff starts again at ``base_delay``."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        """Wait for the next due key and mark it as being processed; call :meth:`done` after.

        Raises :class:`QueueShutDown` once :meth:`shutdown` has been called.
        """
        while True:
            if self._shutting_down:
                raise QueueShutDown("the work queue is shutting down and hands out no more keys")
            if self._ready:
                break
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._ready.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Mark ``key``, returned by :meth:`get`, as finished; requeue it if it was added meanwhile."""
        if key not in self._processing:
            raise ValueError(
                f"done({key!r}) called for a key that is not being processed;"
                " call done() exactly once for each key get() returned"
            )
        self._processing.remove(key)
        if key in self._dirty:
            self._push(key)

    async def run(self, worker: Worker[K], *, concurrency: int = 4) -> None:
        """Process keys with ``concurrency`` workers until :meth:`shutdown`.

        Each worker takes a key, awaits ``worker(key)`` and schedules the key's
        next run from the :data:`Outcome` (see the module docstring). The default
        of 4 is Flux's ``--concurrent``.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if self._workers:
            raise RuntimeError("run() is already running on this work queue")
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    self._workers.add(group.create_task(self._work(worker)))
        finally:
            self._workers.clear()

    async def shutdown(self, *, drain: bool) -> None:
        """Stop handing out keys; let in-flight runs finish (``drain``) or cancel them.

        Keys waiting or scheduled are dropped: a controller that starts again
        lists its objects and adds them all. Returns once every worker of
        :meth:`run` has stopped, after finishing its current run (``drain``) or
        cancelled in it. For a grace period, drain under ``asyncio.timeout`` and
        shut down again without draining if it expires. Keys taken with
        :meth:`get` outside :meth:`run` are the caller's to finish or cancel.
        """
        self._shutting_down = True
        for _, timer in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
        self._ready.clear()
        self._dirty.clear()
        self._nonempty.set()
        if not drain:
            for task in self._workers:
                task.cancel()
        if self._workers:
            await asyncio.wait(self._workers)

    def _push(self, key: K) -> None:
        self._ready.append(key)
        self._nonempty.set()

    def _unschedule(self, key: K) -> None:
        scheduled = self._scheduled.pop(key, None)
        if scheduled is not None:
            scheduled[1].cancel()

    async def _work(self, worker: Worker[K]) -> None:
        while True:
            try:
                key = await self.get()
            except QueueShutDown:
                return
            try:
                self._schedule_next(key, await self._reconcile(worker, key))
            finally:
                self.done(key)

    async def _reconcile(self, worker: Worker[K], key: K) -> Outcome:
        # Any exception, a bug in the reconciler included, is one more failure
        # of this key: it must not stop the worker serving every other key.
        try:
            outcome = await worker(key)
            if not isinstance(outcome, Success | TransientFailure | TerminalFailure):
                raise TypeError(f"the worker returned {outcome!r}, not an Outcome")
        except Exception:
            _log.exception("reconciling %r raised an unexpected error; retrying with backoff", key)
            return TransientFailure()
        return outcome

    def _schedule_next(self, key: K, outcome: Outcome) -> None:
        match outcome:
            case Success(requeue_after=requeue_after):
                self.forget(key)
                if requeue_after is not None:
                    self.add_after(key, requeue_after)
            case TransientFailure(max_delay=max_delay):
                self.add_rate_limited(key, max_delay)
            case TerminalFailure():
                self.forget(key)
            case _:
                assert_never(outcome)
