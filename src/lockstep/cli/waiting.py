"""Waiting for the engine: until an object has settled after a change, or is gone.

An object has *settled* when the engine has seen its current generation (and
handled the reconcile request, when one was made) and its Ready condition says
True or False. Ready=False counts as settled: the engine keeps retrying, but the
command's answer is already known, and a pipeline should fail now rather than at
the timeout. The polls read the object every half second; the clock and sleep
are parameters so that tests run in fake time.

Used by ``reconcile``, ``resume`` and ``create`` (settled) and ``delete`` (gone).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import typer

from lockstep.api.meta import DURATION_PATTERN
from lockstep.cli.objects import condition
from lockstep.kube import KubeObject, NotFound

POLL_SECONDS = 0.5

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _checked_duration(value: str) -> str:
    if not re.fullmatch(DURATION_PATTERN, value):
        raise typer.BadParameter(f'"{value}" is not a duration; write it like 30s, 5m or 1h30m')
    return value


TimeoutOption = Annotated[
    str,
    typer.Option(
        "--timeout",
        callback=_checked_duration,
        help="How long to wait for the engine, as a duration: 30s, 5m, 1h.",
    ),
]


class TimedOut(Exception):
    """The object did not reach the awaited state in time; carries the last one read."""

    def __init__(self, last: KubeObject | None) -> None:
        super().__init__("timed out")
        self.last = last


@dataclass(frozen=True)
class Settled:
    """The engine's verdict on an object's current generation."""

    ready: bool
    message: str
    object: KubeObject


def settled(obj: KubeObject, requested_at: str | None = None) -> Settled | None:
    """The verdict once ``obj`` has settled, ``None`` while the engine is still on it.

    With ``requested_at``, the reconcile request carrying that value must have been handled.
    """
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if requested_at is not None and status.get("lastHandledReconcileAt") != requested_at:
        return None
    if status.get("observedGeneration") != generation:
        return None
    ready = condition(obj, "Ready")
    if ready is None or ready.get("status") not in ("True", "False"):
        return None
    return Settled(ready["status"] == "True", str(ready.get("message", "")), obj)


async def wait_until_settled(
    read: Callable[[], Awaitable[KubeObject]],
    timeout_seconds: float,
    *,
    requested_at: str | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Settled:
    """Read the object until it has settled; raises :class:`TimedOut` after ``timeout_seconds``."""
    deadline = clock() + timeout_seconds
    while True:
        obj = await read()
        verdict = settled(obj, requested_at)
        if verdict is not None:
            return verdict
        if clock() >= deadline:
            raise TimedOut(obj)
        await sleep(POLL_SECONDS)


async def wait_until_gone(
    read: Callable[[], Awaitable[KubeObject]],
    timeout_seconds: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Read the object until the API server says it does not exist; :class:`TimedOut` after
    ``timeout_seconds`` (a finalizer is holding it)."""
    deadline = clock() + timeout_seconds
    while True:
        try:
            obj = await read()
        except NotFound:
            return
        if clock() >= deadline:
            raise TimedOut(obj)
        await sleep(POLL_SECONDS)
