"""Per-key exponential backoff: growth, cap, jitter bounds, forget."""

from __future__ import annotations

import asyncio

import pytest

from lockstep.runtime import Backoff, WorkQueue

from .fake_clock import FakeClock

Key = tuple[str, str, str]
A: Key = ("HelmRelease", "apps", "web")
B: Key = ("HelmRelease", "apps", "db")


async def timed_get(queue: WorkQueue[Key], clock: FakeClock) -> tuple[Key, float]:
    key = await queue.get()
    return key, clock.now()


async def retry_delays(
    queue: WorkQueue[Key],
    clock: FakeClock,
    key: Key,
    failures: int,
    *,
    longest: float,
    max_delay: float | None = None,
) -> list[float]:
    """Fail ``key`` ``failures`` times in a row; how long each retry waited, in seconds."""
    queue.add(key)
    assert await queue.get() == key
    delays = []
    for _ in range(failures):
        failed_at = clock.now()
        queue.add_rate_limited(key, max_delay)
        queue.done(key)
        getter = asyncio.create_task(timed_get(queue, clock))
        await clock.advance(longest)
        _, retried_at = getter.result()
        delays.append(retried_at - failed_at)
    queue.done(key)
    return delays


def test_the_defaults_are_fluxs_retry_delays_with_jitter() -> None:
    backoff = Backoff()

    assert [backoff.delay(n, 0.0) for n in (1, 2, 3, 4)] == [0.75, 1.5, 3.0, 6.0]
    assert backoff.delay(11, 0.0) == 768.0
    assert backoff.delay(12, 0.0) == 900.0, "15 minutes at most"
    assert backoff.jitter == 0.1


def test_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.0)

    assert [backoff.delay(n, 0.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_delay_survives_endless_failures() -> None:
    assert Backoff(base_delay=1.0, max_delay=60.0).delay(100_000, 0.0) == 60.0


@pytest.mark.parametrize(
    ("random_fraction", "expected"),
    [(0.0, 4.0), (0.5, 3.0), (0.999_999, 2.000_002)],
)
def test_jitter_only_shortens_the_delay_by_at_most_its_fraction(
    random_fraction: float, expected: float
) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.5)

    assert backoff.delay(3, random_fraction) == pytest.approx(expected, abs=1e-9)


def test_jitter_spreads_keys_held_at_the_cap() -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.25)

    assert backoff.delay(50, 0.0) == 60.0
    assert backoff.delay(50, 0.5) == 52.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_delay": 0.0}, "base_delay must be more than 0"),
        ({"base_delay": 2.0, "max_delay": 1.0}, "max_delay"),
        ({"jitter": 1.0}, "jitter must be in"),
        ({"jitter": -0.1}, "jitter must be in"),
    ],
)
def test_invalid_backoff_is_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**options)


async def test_retries_wait_exactly_the_backoff(clock: FakeClock) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=8.0, jitter=0.5)
    queue: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock, jitter_source=lambda: 0.5)

    delays = await retry_delays(queue, clock, A, 6, longest=backoff.max_delay)

    # base * 2**(n-1), capped at 8, each shortened by jitter * 0.5 = a quarter.
    assert delays == [0.75, 1.5, 3.0, 6.0, 6.0, 6.0]


async def test_third_failure_waits_four_times_the_base_within_the_jitter_bound(
    clock: FakeClock,
) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.1)
    unlucky: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock, jitter_source=lambda: 0.0)
    lucky: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock, jitter_source=lambda: 0.999_999)

    slowest = (await retry_delays(unlucky, clock, A, 3, longest=60.0))[2]
    fastest = (await retry_delays(lucky, clock, A, 3, longest=60.0))[2]

    assert slowest == 4.0
    assert fastest == pytest.approx(4.0 * (1 - 0.1 * 0.999_999), abs=1e-9)
    assert 4.0 * 0.9 < fastest < slowest


async def test_forget_starts_the_backoff_again(clock: FakeClock) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.0)
    queue: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock)

    assert await retry_delays(queue, clock, A, 3, longest=60.0) == [1.0, 2.0, 4.0]
    queue.forget(A)
    assert await retry_delays(queue, clock, A, 2, longest=60.0) == [1.0, 2.0]


async def test_failures_are_counted_per_key(clock: FakeClock) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.0)
    queue: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock)

    assert await retry_delays(queue, clock, A, 4, longest=60.0) == [1.0, 2.0, 4.0, 8.0]
    assert await retry_delays(queue, clock, B, 1, longest=60.0) == [1.0]


async def test_a_retry_interval_caps_the_backoff(clock: FakeClock) -> None:
    backoff = Backoff(base_delay=1.0, max_delay=60.0, jitter=0.0)
    queue: WorkQueue[Key] = WorkQueue(backoff=backoff, clock=clock, jitter_source=lambda: 0.5)

    delays = await retry_delays(queue, clock, A, 5, longest=60.0, max_delay=5.0)

    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
