"""A clock the runtime tests move by hand, so waiting costs nothing and delays are exact.

It implements :class:`lockstep.runtime.Clock`. :meth:`FakeClock.advance` fires
the due timers in time order, setting the time to each timer's own deadline
before it runs and letting the event loop settle after it, so code woken by a
timer reads the exact time it was due. Workers in the tests simulate work with
:meth:`FakeClock.sleep`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

# Enough turns of the event loop for a woken getter to take a key, call the
# worker, record the outcome and ask for the next key; every turn is cheap.
_SETTLE_TURNS = 50


async def settle() -> None:
    """Let every task that can make progress without time passing do so."""
    for _ in range(_SETTLE_TURNS):
        await asyncio.sleep(0)


@dataclass
class FakeTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = field(default=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._order = itertools.count()
        self._timers: list[tuple[float, int, FakeTimer]] = []

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.call_at(self._now + seconds, wake)
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running each timer due on the way at its time."""
        target = self._now + seconds
        await settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            await settle()
        self._now = target
        await settle()

    def pending(self) -> int:
        """Timers still to run: a queue that dropped its schedule leaves none."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)
