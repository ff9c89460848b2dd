"""The time source of the controller runtime, injected so tests run on fake time.

:class:`~lockstep.runtime.queue.WorkQueue` reads the time and sets timers only
through a :class:`Clock`. In production that is :class:`LoopClock`, the running
event loop's monotonic clock; the tests pass a fake clock that they advance by
hand, so a 15-minute backoff is asserted to the exact second in microseconds.

The clock sets timers (``call_at``) rather than offering a ``sleep``: a delayed
key is a callback due at a time, so the queue needs no task of its own that
sleeps, wakes and is cancelled each time an earlier key arrives; the event loop
already keeps such timers in a heap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A callback scheduled by :meth:`Clock.call_at`; ``asyncio.TimerHandle`` is one."""

    def cancel(self) -> None:
        """Do not run the callback; harmless if it already ran."""


class Clock(Protocol):
    """Monotonic time in seconds, and callbacks at a given time."""

    def now(self) -> float:
        """The current time; only differences between two readings mean anything."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the event loop once ``now()`` reaches ``when``."""


class LoopClock:
    """The running event loop's monotonic clock (``loop.time()``, ``loop.call_at``)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_at(when, callback)
