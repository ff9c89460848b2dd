"""Leader election on the real control plane: one leader of two, takeover after a crash or a release.

Two electors with different identities compete for one Lease in the test's
namespace with short durations. Timings are asserted loosely (a lower bound
that only waiting for expiry explains, a generous upper bound); the exact
seconds are asserted on fake time in tests/unit/runtime/test_leader.py. While a
scenario runs, :class:`Election` samples both electors and also checks, each
time a leader's work starts, that no other leader's work is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ground.wait import eventually
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.runtime.leader import LeaderElector

pytestmark = pytest.mark.integration

LEASE = "lockstep-leader"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SHORT = {"lease_duration": 2, "renew_deadline": 1.5, "retry_period": 0.2}


class Election:
    """Two candidates running for one Lease, watched for two leaders at once."""

    def __init__(self, kube: KubeClient, namespace: str, **options: Any) -> None:
        self.electors = {
            identity: LeaderElector(kube, namespace, LEASE, identity, **options)
            for identity in ("replica-a", "replica-b")
        }
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.working: set[str] = set()
        self.started_at: dict[str, float] = {}
        self.overlaps: list[set[str]] = []
        self.most_leaders_seen = 0

    def start(self) -> None:
        for identity, elector in self.electors.items():
            self.runs[identity] = asyncio.create_task(elector.run(self._work_of(identity)))

    async def leader(self) -> str:
        """Wait until one of the candidates leads; its identity."""
        waits = [asyncio.create_task(e.wait_leading()) for e in self.electors.values()]
        try:
            await asyncio.wait_for(asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), 10)
        finally:
            for wait in waits:
                wait.cancel()
        (identity,) = [i for i, e in self.electors.items() if e.is_leader]
        return identity

    async def stop(self, identity: str) -> float:
        """Cancel one candidate's run and wait for it to end; when it was cancelled."""
        cancelled_at = time.monotonic()
        self.runs[identity].cancel()
        await asyncio.gather(self.runs[identity], return_exceptions=True)
        return cancelled_at

    async def took_over(self, identity: str) -> float:
        """Wait until ``identity``'s leader work starts; when it started."""

        async def started() -> float | None:
            return self.started_at.get(identity)

        started_at = await eventually(
            started, lambda at: at is not None, within=10, what=f"{identity} leading"
        )
        assert started_at is not None
        return started_at

    async def sample(self) -> None:
        while True:
            leaders = sum(e.is_leader for e in self.electors.values())
            self.most_leaders_seen = max(self.most_leaders_seen, leaders)
            await asyncio.sleep(0.01)

    def _work_of(self, identity: str) -> Callable[[], Awaitable[None]]:
        async def lead_until_cancelled() -> None:
            if self.working:
                self.overlaps.append({identity, *self.working})
            self.working.add(identity)
            self.started_at[identity] = time.monotonic()
            try:
                await asyncio.Event().wait()
            finally:
                self.working.discard(identity)

        return lead_until_cancelled


@contextlib.asynccontextmanager
async def running(election: Election) -> AsyncIterator[Election]:
    sampler = asyncio.create_task(election.sample())
    election.start()
    try:
        yield election
    finally:
        for task in (sampler, *election.runs.values()):
            task.cancel()
        await asyncio.gather(sampler, *election.runs.values(), return_exceptions=True)
    assert election.most_leaders_seen <= 1, "two electors led at the same time"
    assert election.overlaps == [], "two leaders' work ran at the same time"


async def read_lease(kube: KubeClient, namespace: str) -> KubeObject:
    return await kube.get(ObjectRef("coordination.k8s.io/v1", "Lease", LEASE, namespace))


async def test_exactly_one_of_two_candidates_leads_and_the_lease_names_it(
    kube: KubeClient, namespace: str
) -> None:
    async with running(Election(kube, namespace, **SHORT)) as election:
        leader = await election.leader()
        first = (await read_lease(kube, namespace))["spec"]
        await asyncio.sleep(1.0)  # five renewals
        later = (await read_lease(kube, namespace))["spec"]

        assert [i for i, e in election.electors.items() if e.is_leader] == [leader]
        assert first["holderIdentity"] == later["holderIdentity"] == leader
        assert later["leaseDurationSeconds"] == 2
        assert later["leaseTransitions"] == 0
        assert MICRO_TIME.match(later["acquireTime"])
        assert MICRO_TIME.match(later["renewTime"])
        assert later["acquireTime"] == first["acquireTime"]
        assert later["renewTime"] > first["renewTime"], "the leader renews"


async def test_a_crashed_leader_is_replaced_once_its_lease_expires(
    kube: KubeClient, namespace: str
) -> None:
    election = Election(kube, namespace, **SHORT, release_on_cancel=False)
    async with running(election):
        leader = await election.leader()
        (follower,) = set(election.electors) - {leader}

        crashed_at = await election.stop(leader)
        assert (await read_lease(kube, namespace))["spec"]["holderIdentity"] == leader
        waited = await election.took_over(follower) - crashed_at
        # The last renewal the follower saw was sent at most renew_deadline (1.5s)
        # before the crash and is valid for 2s on the follower's clock after that.
        assert waited >= 0.5, f"took over after {waited:.2f}s, before the lease expired"
        assert waited <= 5.0, f"took {waited:.2f}s to take over a 2s lease"
        lease = await read_lease(kube, namespace)
        assert lease["spec"]["holderIdentity"] == follower
        assert lease["spec"]["leaseTransitions"] == 1
        assert lease["spec"]["leaseDurationSeconds"] == 2


async def test_a_released_lease_passes_to_the_other_candidate_without_waiting_for_expiry(
    kube: KubeClient, namespace: str
) -> None:
    # A 10s lease: taking over well before that shows the release was used.
    election = Election(kube, namespace, lease_duration=10, renew_deadline=8, retry_period=0.2)
    async with running(election):
        leader = await election.leader()
        (follower,) = set(election.electors) - {leader}

        released_at = await election.stop(leader)
        assert not election.electors[leader].is_leader
        waited = await election.took_over(follower) - released_at

        assert waited < 5.0, f"took {waited:.2f}s to take over a released 10s lease"
        lease = await read_lease(kube, namespace)
        assert lease["spec"]["holderIdentity"] == follower
        assert lease["spec"]["leaseTransitions"] == 1
        assert lease["spec"]["leaseDurationSeconds"] == 10
