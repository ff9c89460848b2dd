"""Leader election on a ``coordination.k8s.io/v1`` Lease, so one replica of many does the work.

The controller manager behind ``lockstep run`` builds one :class:`LeaderElector`
per process and hands :meth:`LeaderElector.run` the work only the leader may do
(starting the controllers). The semantics are those of client-go's
``tools/leaderelection`` with ``ReleaseOnCancel``, which Flux and Argo CD run on,
so lockstep replicas and those tools' conventions agree on what a Lease means:

- A candidate reads the Lease every ``retry_period``. It writes itself in as the
  holder when the Lease does not exist (create: a :class:`Conflict` means another
  candidate created it first), when it names no holder (released), or when the
  holder has not changed it for the holder's ``leaseDurationSeconds``
  (replace with the resourceVersion it read: of two candidates taking over at
  once the API server lets one write and answers the other :class:`Conflict`).
  A takeover adds one to ``leaseTransitions``.
- The leader renews every ``retry_period``. When it has not renewed for
  ``renew_deadline``, or it sees another holder, it stops leading at once: its
  work is cancelled and :meth:`LeaderElector.run` raises :class:`LeadershipLost`.
- When the leader stops gracefully (its work ends, or ``run`` is cancelled) it
  releases the Lease: no holder, ``leaseDurationSeconds: 1``. A candidate then
  takes it at its next retry instead of waiting for the lease to expire.

A process that must run alone (``lockstep run`` without ``--leader-elect``) uses the
same Lease without standing by: :meth:`LeaderElector.claim` takes it when it is
free, its own or expired, and raises :class:`LeaseHeld` as soon as it sees the
holder renew it (another engine works on the cluster); :meth:`LeaderElector.hold`
then renews it for as long as the process runs. Unlike a leader's, that work is
never cancelled for want of a renewal (an API server outage must not stop it); only
another holder, seen in the Lease, ends the hold.

Expiry is judged on each candidate's own monotonic clock, never by comparing
``renewTime`` with the local time: the times written in the Lease come from
other machines' clocks, which may be minutes apart. A candidate notes *when it
saw* the leader record change; the holder is gone once ``leaseDurationSeconds``
pass on the candidate's clock with no further change. The holder stops leading
``renew_deadline`` after it *sent* its last successful renewal, and a candidate
cannot see a renewal before it was sent, so the candidate's wait ends after
the holder stopped as long as ``lease_duration > renew_deadline`` and the two
clocks run at about the same rate. The clocks may show any time; only their rates
must agree, within the ratio ``lease_duration / renew_deadline``. Nothing fences
a leader that is paused past its deadline (e.g. a stopped process): the Lease
guarantees one leader among replicas that follow these rules, not more.

``acquireTime`` and ``renewTime`` are written for people and tools that read
the Lease, as RFC 3339 MicroTime in UTC (``2026-11-23T09:00:00.000000Z``).
Every process must use its own identity (e.g. pod name plus a random suffix):
a candidate that finds its own identity in the Lease carries on as holder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from lockstep.kube import Conflict, Forbidden, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.clock import Clock, LoopClock

T = TypeVar("T")

_log = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"

# What a released Lease promises: nothing. One second rather than zero because
# the API server rejects a leaseDurationSeconds that is not positive.
_RELEASED_LEASE_SECONDS = 1


class LeaseClient(Protocol):
    """The calls the elector makes; :class:`~lockstep.kube.KubeClient` is one."""

    async def get(self, ref: ObjectRef) -> KubeObject: ...

    async def create(self, obj: Mapping[str, Any]) -> KubeObject: ...

    async def replace(self, obj: Mapping[str, Any]) -> KubeObject: ...


class LeadershipLost(Exception):
    """The leader could not renew its Lease, or saw another holder; its work was cancelled."""


class LeaseHeld(Exception):
    """Another process holds the Lease and renews it: one meant to run alone must not start."""


@dataclass(frozen=True)
class _LeaderRecord:
    """The leader election fields of a Lease's spec; any difference means someone wrote it."""

    holder: str
    lease_duration_seconds: int
    acquire_time: str
    renew_time: str
    transitions: int

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> _LeaderRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


class LeaderElector:
    """One candidate for leadership of one Lease: campaigns, leads, renews and releases.

    Durations are in seconds. ``lease_duration`` is what this candidate promises
    others when it holds the Lease (a whole number: ``leaseDurationSeconds`` is an
    integer); ``renew_deadline`` is how long the leader keeps leading without a
    successful renewal; ``retry_period`` is the pause between two attempts, to
    acquire or to renew. The defaults are client-go's (15 s, 10 s, 2 s). With
    ``release_on_cancel=False`` a cancelled elector leaves the Lease as it is, as
    a crashed process would, and candidates wait for it to expire.
    """

    def __init__(
        self,
        kube: LeaseClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty: it names the leader in the Lease")
        if lease_duration < 1 or lease_duration != int(lease_duration):
            raise ValueError(
                f"lease_duration must be a whole number of seconds, at least 1, not {lease_duration}"
            )
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "durations must satisfy 0 < retry_period < renew_deadline < lease_duration,"
                f" not {retry_period} < {renew_deadline} < {lease_duration}"
            )
        self.identity = identity
        self.lease = ObjectRef(LEASE_API_VERSION, "Lease", name, namespace)
        self._kube = kube
        self._lease_duration_seconds = int(lease_duration)
        self._renew_deadline = renew_deadline
        self._retry_period = retry_period
        self._release_on_cancel = release_on_cancel
        self._clock: Clock = clock or LoopClock()
        self._leading = asyncio.Event()
        # The Lease as last read or written, and when its leader record last changed.
        self._seen: KubeObject | None = None
        self._seen_record: _LeaderRecord | None = None
        self._seen_changed_at = 0.0

    @property
    def is_leader(self) -> bool:
        """Whether this candidate leads now: from acquiring the Lease until losing or releasing it."""
        return self._leading.is_set()

    async def wait_leading(self) -> None:
        """Wait until this candidate leads (at once if it does)."""
        await self._leading.wait()

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Campaign until this candidate holds the Lease, then run ``lead()`` while it holds it.

        Returns, after releasing the Lease, once ``lead()`` returns; re-raises its
        exception the same way. Raises :class:`LeadershipLost` after cancelling
        ``lead()`` when the Lease could not be renewed or was taken. Cancelled,
        cancels ``lead()``, waits for it to finish and then releases the Lease
        (unless ``release_on_cancel`` is false), so a successor never starts
        while this leader's work still runs.
        """
        renewed_at = await self._campaign()
        self._leading.set()
        _log.info(
            "%s acquired %s and leads (leaseTransitions %d)",
            self.identity,
            self.lease,
            self._seen_record.transitions if self._seen_record else 0,
        )
        await self._lead(lead, renewed_at)

    async def claim(self) -> None:
        """Take the Lease for a process that must run alone, without standing by.

        Returns once it is held: at once when it is free, this candidate's or expired;
        after ``leaseDurationSeconds`` when its holder does not renew it (a process that
        died without releasing it). Raises :class:`LeaseHeld` as soon as the holder
        renews it, or another candidate takes it first, and :class:`Forbidden` when
        this process may not read or write Leases there (only new rights help). Other
        errors of the API server are logged and retried, as in a campaign.
        """
        held: _LeaderRecord | None = None
        while True:
            try:
                if await self._try_acquire_or_renew():
                    self._leading.set()
                    _log.info("%s holds %s", self.identity, self.lease)
                    return
            except Forbidden:
                raise
            except KubeError as error:
                _log.warning("%s could not read or write %s: %s", self.identity, self.lease, error)
            else:
                seen = self._seen_record
                if held is None:
                    held = seen
                elif seen is not None and seen != held:
                    raise LeaseHeld(
                        f'{self.lease} is held by "{seen.holder}", which renews it: '
                        "another process works on this cluster"
                    )
            await self._sleep(self._retry_period)

    async def hold(self) -> str:
        """Renew the claimed Lease every ``retry_period`` until another holder is seen in
        it, and return why it is no longer held. A renewal that fails is logged and
        tried again at the next period: nothing but another holder ends the hold."""
        while True:
            await self._sleep(self._retry_period)
            try:
                if await self._try_acquire_or_renew():
                    continue
            except KubeError as error:
                _log.warning("%s could not renew %s: %s", self.identity, self.lease, error)
                continue
            if self._seen_record and self._seen_record.holder != self.identity:
                self._leading.clear()
                return f'"{self._seen_record.holder}" holds it now'

    async def _campaign(self) -> float:
        """Try every ``retry_period`` until this candidate holds the Lease.

        Returns when the winning attempt started: the renew deadline counts from then.
        """
        while True:
            started = self._clock.now()
            try:
                if await self._try_acquire_or_renew():
                    return started
            except KubeError as error:
                _log.warning("%s could not read or write %s: %s", self.identity, self.lease, error)
            await self._sleep(self._retry_period)

    async def _lead(self, lead: Callable[[], Awaitable[None]], renewed_at: float) -> None:
        work = asyncio.ensure_future(lead())
        renewal = asyncio.create_task(self._keep_renewing(renewed_at))
        try:
            await asyncio.wait((work, renewal), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._step_down(work, renewal, release=self._release_on_cancel)
            if not self._release_on_cancel:
                _log.info("%s stopped leading and leaves %s to expire", self.identity, self.lease)
            raise
        lost = renewal.done()
        await self._step_down(work, renewal, release=not lost)
        if lost:
            reason = renewal.result()
            _log.warning(
                "%s lost %s: %s; its work was cancelled", self.identity, self.lease, reason
            )
            raise LeadershipLost(
                f"{self.lease}: {self.identity} is no longer the leader because {reason};"
                " its work was cancelled: campaign again or exit so that another replica leads"
            )
        work.result()

    async def _keep_renewing(self, renewed_at: float) -> str:
        """Renew every ``retry_period`` while leading; return why leadership ended."""
        while True:
            deadline = renewed_at + self._renew_deadline
            await self._sleep(min(self._retry_period, deadline - self._clock.now()))
            started = self._clock.now()
            if started >= deadline:
                return f"it was not renewed within {self._renew_deadline:g}s"
            try:
                renewed = await self._before(deadline, self._try_acquire_or_renew())
            except TimeoutError:
                return f"it was not renewed within {self._renew_deadline:g}s"
            except KubeError as error:
                _log.warning("%s could not renew %s: %s", self.identity, self.lease, error)
                continue
            if renewed:
                renewed_at = started
            elif self._seen_record and self._seen_record.holder != self.identity:
                return f'"{self._seen_record.holder}" holds it now'

    async def _step_down(
        self, work: asyncio.Future[None], renewal: asyncio.Task[str], *, release: bool
    ) -> None:
        self._leading.clear()
        renewal.cancel()
        work.cancel()
        await asyncio.gather(work, renewal, return_exceptions=True)
        if release:
            await self.release()

    async def _try_acquire_or_renew(self) -> bool:
        """Read the Lease and write this candidate in as holder if it is free, expired or ours.

        Returns whether the write went through; raises :class:`KubeError` when the
        API server cannot be read or refuses the write for another reason than a
        :class:`Conflict` (another candidate wrote first).
        """
        try:
            lease = await self._kube.get(self.lease)
        except NotFound:
            return await self._write(self._kube.create, self._new_lease())
        self._observe(lease)
        record = _LeaderRecord.of(lease)
        if not self._may_hold(record):
            return False
        spec = {**(lease.get("spec") or {}), **self._holder_fields(record)}
        return await self._write(self._kube.replace, {**lease, "spec": spec})

    def _may_hold(self, record: _LeaderRecord) -> bool:
        if record.holder in ("", self.identity):
            return True
        return self._clock.now() >= self._seen_changed_at + record.lease_duration_seconds

    def _holder_fields(self, record: _LeaderRecord | None) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        if record is None:
            acquired, transitions = now, 0
        elif record.holder == self.identity:
            acquired, transitions = record.acquire_time or now, record.transitions
        else:
            acquired, transitions = now, record.transitions + 1
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self._lease_duration_seconds,
            "acquireTime": acquired,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _new_lease(self) -> KubeObject:
        return {
            "apiVersion": self.lease.api_version,
            "kind": self.lease.kind,
            "metadata": {"name": self.lease.name, "namespace": self.lease.namespace},
            "spec": self._holder_fields(None),
        }

    async def _write(
        self, verb: Callable[[KubeObject], Awaitable[KubeObject]], lease: KubeObject
    ) -> bool:
        try:
            written = await verb(lease)
        except Conflict as error:
            _log.debug("%s: another candidate wrote %s first: %s", self.identity, self.lease, error)
            return False
        self._observe(written)
        return True

    async def release(self) -> None:
        """Write the Lease as held by no one, so a candidate takes it at its next retry.

        Uses the resourceVersion of the last write: if anyone wrote since, the Lease
        is not this candidate's to release and the API server refuses; nothing is
        written when the Lease was last seen held by another. A release
        that fails is only logged, since the Lease then expires on its own; it is
        bounded by ``renew_deadline`` so that it never holds up a shutdown for long.
        """
        self._leading.clear()
        if self._seen is None or _LeaderRecord.of(self._seen).holder != self.identity:
            return
        now = _micro_time(datetime.now(UTC))
        released_fields = {
            "holderIdentity": "",
            "leaseDurationSeconds": _RELEASED_LEASE_SECONDS,
            "acquireTime": now,
            "renewTime": now,
        }
        lease = {**self._seen, "spec": {**(self._seen.get("spec") or {}), **released_fields}}
        deadline = self._clock.now() + self._renew_deadline
        try:
            self._observe(await self._before(deadline, self._kube.replace(lease)))
        except (KubeError, TimeoutError) as error:
            _log.warning(
                "%s could not release %s (%s); candidates take it when it expires",
                self.identity,
                self.lease,
                error,
            )
            return
        _log.info("%s released %s", self.identity, self.lease)

    def _observe(self, lease: KubeObject) -> None:
        """Keep ``lease`` and, if its leader record changed, note when: expiry counts from then."""
        self._seen = lease
        record = _LeaderRecord.of(lease)
        if record != self._seen_record:
            self._seen_record = record
            self._seen_changed_at = self._clock.now()

    async def _sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self._clock.call_at(self._clock.now() + seconds, partial(_resolve, woken))
        try:
            await woken
        finally:
            timer.cancel()

    async def _before(self, deadline: float, call: Awaitable[T]) -> T:
        """Await ``call``; cancel it and raise :class:`TimeoutError` if the clock reaches ``deadline`` first."""
        task = asyncio.ensure_future(call)
        expired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self._clock.call_at(deadline, partial(_resolve, expired))
        try:
            await asyncio.wait((task, expired), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not task.done():
                task.cancel()
        if not task.done():
            raise TimeoutError(f"no answer within the {self._renew_deadline:g}s renew deadline")
        return task.result()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _micro_time(moment: datetime) -> str:
    """``moment`` as Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
