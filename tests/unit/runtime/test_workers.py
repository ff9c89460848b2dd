"""WorkQueue.run: outcomes turned into the next run, the concurrency limit, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from lockstep.runtime import (
    Backoff,
    Outcome,
    Success,
    TerminalFailure,
    TransientFailure,
    WorkQueue,
)

from .fake_clock import FakeClock, settle

Key = tuple[str, str, str]
A: Key = ("Kustomization", "flux-system", "apps")
B: Key = ("Kustomization", "flux-system", "infra")

BACKOFF = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.0)


@dataclass
class Reconciler:
    """A worker that plays a script of outcomes per key, taking ``work_seconds`` of fake time."""

    clock: FakeClock
    scripts: dict[Key, list[Outcome | Exception | None]]
    work_seconds: float = 0.0
    runs: list[tuple[Key, float]] = field(default_factory=list)
    finished: list[Key] = field(default_factory=list)
    cancelled: list[Key] = field(default_factory=list)
    in_flight: set[Key] = field(default_factory=set)
    most_in_flight: int = 0
    same_key_twice: bool = False

    async def __call__(self, key: Key) -> Outcome:
        self.same_key_twice |= key in self.in_flight
        self.in_flight.add(key)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        self.runs.append((key, self.clock.now()))
        try:
            if self.work_seconds:
                await self.clock.sleep(self.work_seconds)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.in_flight.discard(key)
        self.finished.append(key)
        script = self.scripts[key]
        outcome = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]  # None: a worker that forgot to return

    def times(self, key: Key) -> list[float]:
        return [at for run_key, at in self.runs if run_key == key]


@contextlib.asynccontextmanager
async def running(
    queue: WorkQueue[Key], reconciler: Reconciler, concurrency: int
) -> AsyncIterator[asyncio.Task[None]]:
    runner = asyncio.create_task(queue.run(reconciler, concurrency=concurrency))
    try:
        yield runner
    finally:
        await queue.shutdown(drain=False)
        await runner


@pytest.fixture
def queue(clock: FakeClock) -> WorkQueue[Key]:
    return WorkQueue(backoff=BACKOFF, clock=clock)


async def test_success_runs_again_at_the_interval(queue: WorkQueue[Key], clock: FakeClock) -> None:
    reconciler = Reconciler(clock, {A: [Success(requeue_after=60)]})
    start = clock.now()

    async with running(queue, reconciler, 2):
        queue.add(A)
        await clock.advance(150)

    assert reconciler.times(A) == [start, start + 60, start + 120]


async def test_success_without_interval_runs_again_only_when_added(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    reconciler = Reconciler(clock, {A: [Success()]})
    start = clock.now()

    async with running(queue, reconciler, 2):
        queue.add(A)
        await clock.advance(1000)
        queue.add(A)
        await settle()

    assert reconciler.times(A) == [start, start + 1000]


async def test_transient_failure_retries_with_growing_backoff(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    reconciler = Reconciler(clock, {A: [TransientFailure()]})
    start = clock.now()

    async with running(queue, reconciler, 2):
        queue.add(A)
        await clock.advance(31)

    assert reconciler.times(A) == [start + t for t in (0, 1, 3, 7, 15, 31)]


async def test_success_forgets_the_failures(queue: WorkQueue[Key], clock: FakeClock) -> None:
    failure = TransientFailure()
    reconciler = Reconciler(clock, {A: [failure, failure, Success(requeue_after=100), failure]})
    start = clock.now()

    async with running(queue, reconciler, 1):
        queue.add(A)
        await clock.advance(106)

    assert reconciler.times(A) == [start + t for t in (0, 1, 3, 103, 104, 106)]


async def test_terminal_failure_is_not_retried_and_forgets_the_failures(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    failure = TransientFailure()
    reconciler = Reconciler(clock, {A: [failure, failure, TerminalFailure(), failure]})
    start = clock.now()

    async with running(queue, reconciler, 1):
        queue.add(A)
        await clock.advance(1000)
        assert reconciler.times(A) == [start, start + 1, start + 3]

        queue.add(A)
        await clock.advance(1)

    assert reconciler.times(A)[3:] == [start + 1000, start + 1001]


async def test_an_exception_counts_as_transient_and_the_worker_goes_on(
    queue: WorkQueue[Key], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reconciler = Reconciler(clock, {A: [RuntimeError("boom"), Success()], B: [Success()]})
    start = clock.now()

    with caplog.at_level(logging.ERROR, logger="lockstep.runtime.queue"):
        async with running(queue, reconciler, 1):
            queue.add(A)
            queue.add(B)
            await clock.advance(10)

    assert reconciler.runs == [(A, start), (B, start), (A, start + 1)]
    [record] = caplog.records
    assert "reconciling ('Kustomization', 'flux-system', 'apps') raised" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_worker_returning_no_outcome_counts_as_transient(
    queue: WorkQueue[Key], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reconciler = Reconciler(clock, {A: [None, Success()]})
    start = clock.now()

    with caplog.at_level(logging.ERROR, logger="lockstep.runtime.queue"):
        async with running(queue, reconciler, 1):
            queue.add(A)
            await clock.advance(10)

    assert reconciler.times(A) == [start, start + 1]
    [record] = caplog.records
    assert record.exc_info is not None
    assert "not an Outcome" in str(record.exc_info[1])


async def test_never_more_workers_at_once_than_the_concurrency(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    keys = [("ConfigMap", "apps", f"cm-{n}") for n in range(7)]
    reconciler = Reconciler(clock, {key: [Success()] for key in keys}, work_seconds=5)
    start = clock.now()

    async with running(queue, reconciler, 3):
        for key in keys:
            queue.add(key)
        await clock.advance(15)

    assert reconciler.most_in_flight == 3
    assert [at - start for _, at in reconciler.runs] == [0, 0, 0, 5, 5, 5, 10]
    assert reconciler.finished == keys


async def test_a_key_is_never_processed_twice_at_once(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    reconciler = Reconciler(clock, {A: [Success()]}, work_seconds=5)
    start = clock.now()

    async with running(queue, reconciler, 4):
        queue.add(A)
        await clock.advance(1)
        for _ in range(3):
            queue.add(A)
            await clock.advance(1)
        await clock.advance(20)

    assert not reconciler.same_key_twice
    assert reconciler.most_in_flight == 1
    assert reconciler.times(A) == [start, start + 5]


async def test_shutdown_with_drain_lets_in_flight_runs_finish(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    interval = Success(requeue_after=60)
    reconciler = Reconciler(clock, {A: [interval], B: [interval]}, work_seconds=5)

    async with running(queue, reconciler, 1) as runner:
        queue.add(A)
        queue.add(B)
        await clock.advance(1)

        stopping = asyncio.create_task(queue.shutdown(drain=True))
        await settle()
        assert not stopping.done(), "waits for the run of A"

        await clock.advance(4)
        assert stopping.done()
        assert runner.done()

    await clock.advance(1000)
    assert reconciler.finished == [A]
    assert [key for key, _ in reconciler.runs] == [A], "B waiting and A's requeue were dropped"
    assert clock.pending() == 0


async def test_shutdown_without_drain_cancels_in_flight_runs(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    reconciler = Reconciler(clock, {A: [Success()], B: [Success()]}, work_seconds=5)

    async with running(queue, reconciler, 2) as runner:
        queue.add(A)
        queue.add(B)
        await clock.advance(1)

        await queue.shutdown(drain=False)

        assert runner.done()
        assert not runner.cancelled(), "the workers were cancelled, not run()"
        assert sorted(reconciler.cancelled) == [A, B]
        assert reconciler.finished == []


async def test_a_drain_can_be_cut_short(queue: WorkQueue[Key], clock: FakeClock) -> None:
    reconciler = Reconciler(clock, {A: [Success()]}, work_seconds=5)

    async with running(queue, reconciler, 1):
        queue.add(A)
        await clock.advance(1)
        draining = asyncio.create_task(queue.shutdown(drain=True))
        await settle()

        await queue.shutdown(drain=False)
        await draining

    assert reconciler.cancelled == [A]


async def test_run_refuses_no_workers_and_a_second_run(
    queue: WorkQueue[Key], clock: FakeClock
) -> None:
    reconciler = Reconciler(clock, {})
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        await queue.run(reconciler, concurrency=0)

    async with running(queue, reconciler, 1):
        await settle()
        with pytest.raises(RuntimeError, match="already running"):
            await queue.run(reconciler, concurrency=1)
