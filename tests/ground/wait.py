"""Waiting for the cluster to reach a state, with the last observation in the failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    observe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    within: float = 60.0,
    what: str = "condition",
) -> T:
    """Call ``observe`` until ``accept`` holds for its result; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        seen = await observe()
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within:.0f}s; last seen: {seen!r}")
        await asyncio.sleep(0.2)
