"""The work queue's key bookkeeping: dedupe, re-add while processing, add_after, depth."""

from __future__ import annotations

import asyncio

import pytest

from lockstep.runtime import QueueShutDown, WorkQueue

from .fake_clock import FakeClock, settle

Key = tuple[str, str, str]
A: Key = ("Kustomization", "flux-system", "apps")
B: Key = ("Kustomization", "flux-system", "infra")
C: Key = ("GitRepository", "flux-system", "infra")


@pytest.fixture
def queue(clock: FakeClock) -> WorkQueue[Key]:
    return WorkQueue(clock=clock)


async def timed_get(queue: WorkQueue[Key], clock: FakeClock) -> tuple[Key, float]:
    key = await queue.get()
    return key, clock.now()


async def test_a_key_waiting_is_queued_once(queue: WorkQueue[Key]) -> None:
    for key in (A, B, A, A, C, B):
        queue.add(key)

    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == [A, B, C]
    assert len(queue) == 0


async def test_get_waits_for_a_key(queue: WorkQueue[Key]) -> None:
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()

    queue.add(A)
    await settle()

    assert getter.result() == A


async def test_a_key_added_while_processing_runs_once_more_after(queue: WorkQueue[Key]) -> None:
    queue.add(A)
    assert await queue.get() == A

    queue.add(A)
    queue.add(A)
    assert len(queue) == 0, "a key being processed is not handed to a second worker"

    queue.done(A)
    assert len(queue) == 1
    assert await queue.get() == A
    queue.done(A)
    assert len(queue) == 0


async def test_done_without_get_is_an_error(queue: WorkQueue[Key]) -> None:
    queue.add(A)
    with pytest.raises(ValueError, match="not being processed"):
        queue.done(A)


async def test_add_after_hands_the_key_out_at_its_time(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    start = clock.now()
    getter = asyncio.create_task(timed_get(queue, clock))

    queue.add_after(A, 30)
    await clock.advance(29)
    assert not getter.done()
    await clock.advance(1)

    assert getter.result() == (A, start + 30)


async def test_add_after_the_sooner_time_wins(queue: WorkQueue[Key], clock: FakeClock) -> None:
    start = clock.now()
    getter = asyncio.create_task(timed_get(queue, clock))

    queue.add_after(A, 60)
    queue.add_after(A, 10)
    queue.add_after(A, 20)
    await clock.advance(100)

    assert getter.result() == (A, start + 10)
    queue.done(A)
    assert len(queue) == 0
    assert clock.pending() == 0, "the later times were dropped, not left to run again"


async def test_add_cancels_a_later_schedule(queue: WorkQueue[Key], clock: FakeClock) -> None:
    queue.add_after(A, 60)
    queue.add(A)
    assert await queue.get() == A
    queue.done(A)

    await clock.advance(100)

    assert len(queue) == 0


async def test_add_after_a_key_already_waiting_changes_nothing(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    queue.add(A)
    queue.add_after(A, 10)

    assert await queue.get() == A
    queue.done(A)
    await clock.advance(100)
    assert len(queue) == 0


async def test_add_after_no_delay_is_add(queue: WorkQueue[Key]) -> None:
    queue.add_after(A, 0)
    assert len(queue) == 1


async def test_add_after_while_processing_runs_after_done(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    queue.add(A)
    assert await queue.get() == A

    queue.add_after(A, 10)
    await clock.advance(10)
    assert len(queue) == 0, "due while processing: waits for done()"

    queue.done(A)
    assert await queue.get() == A


async def test_depth_counts_due_keys_only(queue: WorkQueue[Key], clock: FakeClock) -> None:
    queue.add(A)
    queue.add(B)
    queue.add_after(C, 5)
    assert len(queue) == 2

    assert await queue.get() == A
    assert len(queue) == 1, "a key being processed is not waiting"

    await clock.advance(5)
    assert len(queue) == 2


async def test_after_shutdown_nothing_is_handed_out_or_kept(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    getter = asyncio.create_task(queue.get())
    queue.add_after(A, 10)
    await settle()

    await queue.shutdown(drain=True)
    queue.add(B)

    with pytest.raises(QueueShutDown):
        await getter
    with pytest.raises(QueueShutDown):
        await queue.get()
    assert len(queue) == 0
    assert clock.pending() == 0


async def test_shutdown_drops_waiting_keys_and_re_adds(queue: WorkQueue[Key]) -> None:
    queue.add(A)
    queue.add(B)
    assert await queue.get() == A
    queue.add(A)

    await queue.shutdown(drain=False)
    assert len(queue) == 0

    queue.done(A)
    assert len(queue) == 0, "A, added while processing, is not queued again"
