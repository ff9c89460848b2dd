"""Leader election timing on fake time: when a candidate takes over, when a leader gives up.

What the election waits for is the behaviour under test, so the electors run on
:class:`FakeClock` and each test asserts the exact second a takeover or a loss
happens. The Lease lives in :class:`LeaseServer`, an in-memory stand-in for the
three calls the elector makes, keeping the API server's rules that matter here:
create conflicts with an existing object, replace conflicts with a stale
resourceVersion. It exists because an API server that fails or hangs on cue,
needed to reach the renew deadline, cannot be had from the real control plane;
tests/integration/test_leader_election.py runs the election against that one.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import pytest

from lockstep.kube import Conflict, Forbidden, KubeObject, NotFound, ObjectRef, ServerError
from lockstep.runtime.leader import LeaderElector, LeadershipLost, LeaseHeld

from .fake_clock import FakeClock, settle

LEASE = "lockstep-leader"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class LeaseServer:
    """Leases in memory with create/replace conflicts; ``outage`` makes every call fail or hang."""

    def __init__(self) -> None:
        self.leases: dict[str, KubeObject] = {}
        self.writes = 0
        self.conflicts = 0
        self.outage: Literal["", "errors", "hangs"] = ""

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.leases[LEASE]["spec"]
        return spec

    async def get(self, ref: ObjectRef) -> KubeObject:
        await self._answer()
        if ref.name not in self.leases:
            raise NotFound(f'leases "{ref.name}" not found', code=404)
        return copy.deepcopy(self.leases[ref.name])

    async def create(self, obj: Mapping[str, Any]) -> KubeObject:
        await self._answer()
        name = obj["metadata"]["name"]
        if name in self.leases:
            self.conflicts += 1
            raise Conflict(f'leases "{name}" already exists', code=409)
        return self._store(obj)

    async def replace(self, obj: Mapping[str, Any]) -> KubeObject:
        await self._answer()
        name = obj["metadata"]["name"]
        if (
            obj["metadata"].get("resourceVersion")
            != self.leases[name]["metadata"]["resourceVersion"]
        ):
            self.conflicts += 1
            raise Conflict(f'the object "{name}" has been modified', code=409)
        return self._store(obj)

    def _store(self, obj: Mapping[str, Any]) -> KubeObject:
        self.writes += 1
        stored = copy.deepcopy(dict(obj))
        stored["metadata"]["resourceVersion"] = str(self.writes)
        self.leases[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def _answer(self) -> None:
        # A request is a suspension point, so candidates' calls interleave as they would.
        await asyncio.sleep(0)
        if self.outage == "errors":
            raise ServerError("etcdserver: request timed out", code=500)
        if self.outage == "hangs":
            await asyncio.get_running_loop().create_future()


class Candidate:
    """An elector whose work records when it started and when it was stopped, in fake time."""

    def __init__(
        self, server: LeaseServer, clock: FakeClock, identity: str, **options: Any
    ) -> None:
        self.elector = LeaderElector(server, "flux-system", LEASE, identity, clock=clock, **options)
        self.clock = clock
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.run: asyncio.Task[None] | None = None

    def start(self, work: Callable[[], Awaitable[None]] | None = None) -> None:
        self.run = asyncio.create_task(self.elector.run(work or self.lead_until_stopped))

    async def lead_until_stopped(self) -> None:
        self.started_at = self.clock.now()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.stopped_at = self.clock.now()

    async def stop(self) -> None:
        assert self.run is not None
        self.run.cancel()
        await asyncio.gather(self.run, return_exceptions=True)


@pytest.fixture
def server() -> LeaseServer:
    return LeaseServer()


async def test_the_first_candidate_creates_the_lease_and_leads(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a")
    a.start()
    await settle()

    assert a.elector.is_leader
    assert a.started_at == 1000.0
    spec = server.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"])
    assert MICRO_TIME.match(spec["renewTime"])
    await a.stop()


async def test_the_leader_renews_every_retry_period_keeping_acquire_time_and_transitions(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a")
    a.start()
    await settle()
    acquired = server.spec()["acquireTime"]

    await clock.advance(2.0)
    assert server.writes == 2
    await clock.advance(1.9)
    assert server.writes == 2
    await clock.advance(0.1)
    assert server.writes == 3

    assert server.spec()["acquireTime"] == acquired
    assert server.spec()["leaseTransitions"] == 0
    assert a.elector.is_leader
    await a.stop()


async def test_a_candidate_judges_expiry_by_its_own_clock_not_the_renew_time_written(
    server: LeaseServer, clock: FakeClock
) -> None:
    # Written by a holder whose clock is 26 years behind: by renewTime it expired
    # long ago, but this candidate only knows that it has just seen it change.
    server.leases[LEASE] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE, "namespace": "flux-system", "resourceVersion": "0"},
        "spec": {
            "holderIdentity": "ghost",
            "leaseDurationSeconds": 15,
            "acquireTime": "2000-01-01T00:00:00.000000Z",
            "renewTime": "2000-01-01T00:00:00.000000Z",
            "leaseTransitions": 4,
        },
    }
    b = Candidate(server, clock, "b")
    b.start()

    await clock.advance(14.0)
    assert not b.elector.is_leader, "15s have not passed since b saw the record"
    await clock.advance(2.0)

    assert b.started_at == 1016.0, "the first retry at or after 1000 + 15"
    assert server.spec()["holderIdentity"] == "b"
    assert server.spec()["leaseTransitions"] == 5
    await b.stop()


async def test_a_crashed_leaders_lease_is_taken_one_lease_duration_after_its_last_renewal_was_seen(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a", release_on_cancel=False)
    b = Candidate(server, clock, "b")
    a.start()
    await clock.advance(1.0)
    b.start()
    await clock.advance(3.5)
    assert a.elector.is_leader
    assert not b.elector.is_leader

    await a.stop()  # at 1004.5, just after renewing at 1004: a crash, no release

    assert a.stopped_at == 1004.5
    assert server.spec()["holderIdentity"] == "a"
    await clock.advance(30.0)
    # b retries at 1001, 1003, 1005, ...; it saw the 1004 renewal at 1005, so the
    # lease is valid until 1020 on b's clock and b takes it at its 1021 retry.
    assert b.started_at == 1021.0
    assert server.spec()["holderIdentity"] == "b"
    assert server.spec()["leaseTransitions"] == 1
    await b.stop()


async def test_a_released_lease_is_taken_at_the_next_retry(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a")
    b = Candidate(server, clock, "b")
    a.start()
    await clock.advance(1.0)
    b.start()
    await clock.advance(3.5)

    await a.stop()

    assert a.stopped_at == 1004.5
    assert not a.elector.is_leader
    assert server.spec()["holderIdentity"] == ""
    assert server.spec()["leaseDurationSeconds"] == 1
    await clock.advance(1.0)
    assert b.started_at == 1005.0
    assert server.spec()["holderIdentity"] == "b"
    assert server.spec()["leaseTransitions"] == 1
    await b.stop()


async def test_work_that_ends_releases_the_lease_and_its_error_comes_out_of_run(
    server: LeaseServer, clock: FakeClock
) -> None:
    async def fail_after_a_while() -> None:
        await clock.sleep(3.0)
        raise RuntimeError("controller crashed")

    a = Candidate(server, clock, "a")
    a.start(fail_after_a_while)
    await clock.advance(3.0)

    assert a.run is not None
    assert a.run.done()
    with pytest.raises(RuntimeError, match="controller crashed"):
        a.run.result()
    assert not a.elector.is_leader
    assert server.spec()["holderIdentity"] == ""


@pytest.mark.parametrize("outage", ["errors", "hangs"])
async def test_the_leader_gives_up_when_it_cannot_renew_within_the_renew_deadline(
    server: LeaseServer, clock: FakeClock, outage: Literal["errors", "hangs"]
) -> None:
    a = Candidate(server, clock, "a")
    a.start()
    await clock.advance(0.5)
    server.outage = outage

    await clock.advance(9.4)
    assert a.elector.is_leader
    assert a.stopped_at is None
    await clock.advance(0.1)

    assert a.stopped_at == 1010.0, "acquired at 1000, renew deadline 10s"
    assert not a.elector.is_leader
    assert a.run is not None
    with pytest.raises(LeadershipLost, match=r"Lease/flux-system/lockstep-leader: a .* within 10s"):
        await a.run
    assert server.writes == 1, "a lost leader does not release"


async def test_a_leader_that_sees_another_holder_stops_at_its_next_renewal(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a")
    a.start()
    await clock.advance(1.0)
    server.spec()["holderIdentity"] = "intruder"

    await clock.advance(1.0)

    assert a.stopped_at == 1002.0
    assert a.run is not None
    with pytest.raises(LeadershipLost, match='"intruder" holds it now'):
        await a.run
    assert server.spec()["holderIdentity"] == "intruder"


@pytest.mark.parametrize("lease", ["missing", "released"])
async def test_of_two_candidates_racing_for_the_lease_one_wins(
    server: LeaseServer, clock: FakeClock, lease: str
) -> None:
    # Both read the Lease in the same turn of the event loop, so both try to
    # write it: the create or the replace of one of them must conflict.
    if lease == "released":
        previous = Candidate(server, clock, "previous")
        previous.start()
        await settle()
        await previous.stop()
    a = Candidate(server, clock, "a")
    b = Candidate(server, clock, "b")
    a.start()
    b.start()

    await clock.advance(20.0)

    leaders = [c.elector.identity for c in (a, b) if c.elector.is_leader]
    assert len(leaders) == 1
    assert server.spec()["holderIdentity"] == leaders[0]
    assert server.spec()["leaseTransitions"] == (1 if lease == "released" else 0)
    assert server.conflicts == 1
    await a.stop()
    await b.stop()


async def test_a_process_running_alone_claims_a_free_lease_at_once(
    server: LeaseServer, clock: FakeClock
) -> None:
    alone = LeaderElector(server, "flux-system", LEASE, "alone", clock=clock)

    await alone.claim()

    assert alone.is_leader
    assert server.spec()["holderIdentity"] == "alone"
    await alone.release()
    assert server.spec()["holderIdentity"] == ""


async def test_a_claim_is_refused_as_soon_as_the_holder_renews(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a")
    a.start()
    await clock.advance(1.0)
    alone = LeaderElector(server, "flux-system", LEASE, "alone", clock=clock)
    claim = asyncio.create_task(alone.claim())

    await clock.advance(1.9)
    assert not claim.done()
    await clock.advance(0.1)

    assert claim.done(), "a renewed at 1002; the claim, made at 1001, sees it at 1003"
    with pytest.raises(LeaseHeld, match='held by "a", which renews it'):
        claim.result()
    assert server.spec()["holderIdentity"] == "a"
    await alone.release()
    assert server.spec()["holderIdentity"] == "a", "nothing released that was another's"
    await a.stop()


async def test_a_claim_takes_the_lease_of_a_holder_that_died_once_it_expires(
    server: LeaseServer, clock: FakeClock
) -> None:
    a = Candidate(server, clock, "a", release_on_cancel=False)
    a.start()
    await clock.advance(0.5)
    await a.stop()
    alone = LeaderElector(server, "flux-system", LEASE, "alone", clock=clock)
    claim = asyncio.create_task(alone.claim())

    await clock.advance(14.0)
    assert not claim.done()
    await clock.advance(2.0)

    assert claim.done()
    claim.result()
    assert server.spec()["holderIdentity"] == "alone"


async def test_a_claim_without_the_right_to_leases_fails_at_once(clock: FakeClock) -> None:
    class Refusing(LeaseServer):
        async def get(self, ref: ObjectRef) -> KubeObject:
            raise Forbidden('leases "lockstep-leader" is forbidden', code=403)

    alone = LeaderElector(Refusing(), "flux-system", LEASE, "alone", clock=clock)

    with pytest.raises(Forbidden):
        await alone.claim()


async def test_a_hold_outlasts_an_outage_and_ends_only_when_another_holds_the_lease(
    server: LeaseServer, clock: FakeClock
) -> None:
    alone = LeaderElector(server, "flux-system", LEASE, "alone", clock=clock)
    await alone.claim()
    hold = asyncio.create_task(alone.hold())
    server.outage = "errors"

    await clock.advance(30.0)
    assert not hold.done(), "a renew deadline ends no hold"
    server.outage = ""
    await clock.advance(2.0)
    assert server.spec()["holderIdentity"] == "alone"
    server.spec()["holderIdentity"] = "intruder"
    await clock.advance(2.0)

    assert hold.done()
    assert hold.result() == '"intruder" holds it now'
    assert not alone.is_leader


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ({"lease_duration": 2.5}, "whole number of seconds"),
        ({"lease_duration": 0}, "whole number of seconds"),
        ({"renew_deadline": 15.0}, "renew_deadline < lease_duration"),
        ({"retry_period": 10.0}, "retry_period < renew_deadline"),
        ({"retry_period": 0.0}, "0 < retry_period"),
    ],
)
def test_durations_that_cannot_keep_one_leader_are_refused(
    server: LeaseServer, durations: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LeaderElector(server, "flux-system", LEASE, "a", **durations)
