"""Helm's hooks and tests, run as Helm v4 runs them, for the HelmRelease reconciler.

A chart's hooks are objects Helm creates around an action rather than as part of the
release: ``pre-install`` before the objects are applied, ``post-install`` after they are
ready, and so on for upgrade, rollback and delete; ``test`` hooks are what ``helm
test`` runs. :func:`run_hooks` runs the hooks of one event and :func:`run_tests` the
tests, with what Helm v4.3.2 does in ``pkg/action/hooks.go`` (``execHook``), its
waiter (``pkg/kube/statuswait.go``, ``internal/statusreaders``) and
``pkg/action/release_testing.go``:

- the hooks of the event run one after the other, by weight then name, the release's
  order kept between equals (``hookByWeight``, a stable sort);
- a hook without a delete policy gets ``before-hook-creation``; with it, the object
  of that name is deleted first and waited for until it is gone;
- the object is created (server-side applied, as Helm 4 creates it, here by the apply
  engine under the release's owner; a namespaced object that names no namespace goes
  to the release's), its ``last_run`` marked ``Running``, then waited for: a Job
  until its ``Complete`` or ``Failed`` condition is True, a Pod until its phase is
  ``Succeeded`` or ``Failed``, anything else is done once created. Each hook has the
  whole ``timeout`` to itself, as each of Helm's waits has (0: Helm's 30 seconds);
- the first hook that fails stops the event: its ``last_run`` says ``Failed``, it is
  deleted if it has ``hook-failed``, the hooks that succeeded before it are deleted
  if they have ``hook-succeeded``, and :class:`HookFailed` is raised. A hook the API
  server refused to create deletes nothing, as in Helm. When all succeed, those with
  ``hook-succeeded`` are deleted, the last one first;
- a CustomResourceDefinition is never deleted (its custom objects would go with it);
- tests are the ``test`` hooks left after the filters (Flux's ``spec.test.filters``
  become Helm's ``name`` and ``!name`` filters: the excluded left out, then, when any
  test is named, only those), run the same way; the first failing test stops the
  others, as in Helm. :class:`TestResult` says how each went, in the shape of Flux's
  ``status.history[].testHooks``.

``records`` is the release's list of hooks (:attr:`storage.Release.hooks`); each run
updates its hook's entry (by name, kind and path) in place with Helm's ``last_run``, so
the caller stores the revision afterwards. Helm also stores the release while a hook
is ``Running``; the caller decides whether to write that intermediate state.

Errors: a hook that fails, cannot be created, cannot be deleted as its policy says,
or names a kind the API server does not serve raises :class:`HookFailed`, whose message
names the event, the hook (``Kind/name``) and why, on one line. Any other error of the
API server while waiting (unreachable, forbidden) is :mod:`lockstep.kube`'s, left for
the reconciler to retry; the hook's record then still says ``Running``, as Helm's does
after a crash.

Helm's uninstall leaves hook objects in the cluster (only the ``pre-delete`` and
``post-delete`` hooks run, by these same rules), so nothing here deletes them.

Waiting watches the object (labels of its own as the selector, from the
resourceVersion the create answered) instead of reading it in a loop; a watch that
ends or expires is resumed after one read. Deletions are awaited with the apply
engine's :func:`~lockstep.apply.wait.wait_until_deleted`.

Called by :mod:`lockstep.controllers.helm.install`: the hooks of every action
(rollbacks and uninstalls too, for :mod:`lockstep.controllers.helm.remediation`) and
the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from lockstep.api.helm import ReleaseTestFilter, ReleaseTestRun
from lockstep.apply import ApplyError, ApplyOptions, Owner, apply_all
from lockstep.apply.wait import wait_until_deleted
from lockstep.controllers.helm.storage import HookPhase, hook_record, hook_run
from lockstep.kube import Expired, KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.helm import Hook

TEST_EVENT = "test"
BEFORE_HOOK_CREATION = "before-hook-creation"
HOOK_SUCCEEDED = "hook-succeeded"
HOOK_FAILED = "hook-failed"

HELM_DEFAULT_TIMEOUT = 30.0
"""The time each hook has when none is given (0), as Helm's status watcher gives it."""

DELETE_POLL_SECONDS = 0.25
"""How often a deleted hook object is looked for while it goes away."""

_NEVER_DELETED = frozenset({"CustomResourceDefinition"})
_WAITED = {("batch", "Job"), ("", "Pod")}
"""The kinds whose completion is waited for: Helm's hook status readers."""
_GONE = "it was deleted before it completed"


class HookFailed(Exception):
    """A hook could not be created, failed, or did not complete in time; the message
    names the hook, the event and why, on one line."""

    def __init__(self, message: str, *, hook: Hook, event: str) -> None:
        super().__init__(message)
        self.hook = hook
        self.event = event


@dataclass(frozen=True)
class TestRun:
    """How one test hook ran."""

    __test__ = False  # a result, not a test case: pytest must not collect it

    name: str
    phase: HookPhase
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class TestResult:
    """What ``helm test`` did: the tests that ran, in order, those the filters left
    out, and the failure that stopped them (empty when all passed)."""

    __test__ = False  # a result, not a test case: pytest must not collect it

    runs: tuple[TestRun, ...]
    skipped: tuple[str, ...]
    failure: str

    @property
    def succeeded(self) -> bool:
        return not self.failure

    @property
    def passed(self) -> list[str]:
        return [run.name for run in self.runs if run.phase == HookPhase.SUCCEEDED]

    @property
    def failed(self) -> list[str]:
        return [run.name for run in self.runs if run.phase == HookPhase.FAILED]

    def test_hooks(self) -> dict[str, ReleaseTestRun]:
        """The runs as Flux records them in ``status.history[].testHooks``."""
        return {
            run.name: ReleaseTestRun(
                last_started=run.started_at, last_completed=run.completed_at, phase=str(run.phase)
            )
            for run in self.runs
        }


async def run_hooks(
    kube: KubeClient,
    hooks: Sequence[Hook],
    event: str,
    *,
    namespace: str,
    owner: Owner,
    timeout: float,  # noqa: ASYNC109 - per hook, as Helm's: not a limit on the whole call
    records: list[dict[str, Any]],
) -> None:
    """Run the hooks of ``event`` among ``hooks`` in Helm's order, in the release
    ``namespace``; raise :class:`HookFailed` at the first that fails."""
    await _run_in_order(
        kube, hooks_in_order(hooks, event), event, namespace, owner, timeout, records
    )


async def run_tests(
    kube: KubeClient,
    hooks: Sequence[Hook],
    *,
    namespace: str,
    owner: Owner,
    timeout: float,  # noqa: ASYNC109 - per test, as Helm's: not a limit on the whole call
    records: list[dict[str, Any]],
    filters: Sequence[ReleaseTestFilter] = (),
) -> TestResult:
    """Run the release's tests that ``filters`` select, as ``helm test`` does; a failed
    test is reported in the result, not raised."""
    selected, skipped = select_tests(hooks_in_order(hooks, TEST_EVENT), filters)
    failure = ""
    try:
        await _run_in_order(kube, selected, TEST_EVENT, namespace, owner, timeout, records)
    except HookFailed as error:
        failure = str(error)
    runs = [run for hook in selected if (run := _test_run(hook, records)) is not None]
    return TestResult(tuple(runs), tuple(hook.name for hook in skipped), failure)


def hooks_in_order(hooks: Sequence[Hook], event: str) -> list[Hook]:
    """The hooks of ``event`` in the order Helm runs them: by weight, then name, the
    given order kept between equals."""
    return sorted((hook for hook in hooks if event in hook.events), key=_weight_then_name)


def select_tests(
    tests: Sequence[Hook], filters: Sequence[ReleaseTestFilter]
) -> tuple[list[Hook], list[Hook]]:
    """The tests to run and those left out, as Helm applies Flux's filters: excluded
    names first, then, when some test is named, only the named ones."""
    excluded = {wanted.name for wanted in filters if wanted.exclude}
    included = {wanted.name for wanted in filters if not wanted.exclude}
    selected = [hook for hook in tests if hook.name not in excluded]
    if included:
        selected = [hook for hook in selected if hook.name in included]
    return selected, [hook for hook in tests if hook not in selected]


def _weight_then_name(hook: Hook) -> tuple[int, str]:
    return (hook.weight, hook.name)


# --- one event ------------------------------------------------------------------


@dataclass(frozen=True)
class _Running:
    """A hook and the object it stands for, namespace resolved."""

    hook: Hook
    obj: KubeObject
    ref: ObjectRef
    event: str

    @property
    def policies(self) -> tuple[str, ...]:
        return self.hook.delete_policies or (BEFORE_HOOK_CREATION,)

    def failed(self, why: str) -> HookFailed:
        return HookFailed(
            f"{self.event} hook {self.hook.kind}/{self.hook.name} failed: {why}",
            hook=self.hook,
            event=self.event,
        )


async def _run_in_order(
    kube: KubeClient,
    hooks: Sequence[Hook],
    event: str,
    namespace: str,
    owner: Owner,
    within: float,
    records: list[dict[str, Any]],
) -> None:
    within = within if within > 0 else HELM_DEFAULT_TIMEOUT
    succeeded: list[_Running] = []
    for hook in hooks:
        running = await _resolve(kube, hook, event, namespace)
        if BEFORE_HOOK_CREATION in running.policies:
            await _delete(kube, running, BEFORE_HOOK_CREATION, within)
        started = datetime.now(UTC)
        _record(records, hook, HookPhase.RUNNING, started)
        try:
            live = await _create(kube, running, owner)
        except ApplyError as error:
            # As Helm: a hook that could not be created deletes nothing.
            _record(records, hook, HookPhase.FAILED, started, datetime.now(UTC))
            raise running.failed(_one_line(str(error))) from error
        why = await _completion_within(kube, running.ref, live, within)
        if why is None:
            _record(records, hook, HookPhase.SUCCEEDED, started, datetime.now(UTC))
            succeeded.append(running)
            continue
        _record(records, hook, HookPhase.FAILED, started, datetime.now(UTC))
        cleanup = [(running, HOOK_FAILED)] if HOOK_FAILED in running.policies else []
        cleanup += [(done, HOOK_SUCCEEDED) for done in succeeded if HOOK_SUCCEEDED in done.policies]
        raise running.failed(why + await _delete_after_failure(kube, cleanup, within))
    for done in reversed(succeeded):
        if HOOK_SUCCEEDED in done.policies:
            await _delete(kube, done, HOOK_SUCCEEDED, within)


async def _resolve(kube: KubeClient, hook: Hook, event: str, namespace: str) -> _Running:
    """The hook's object, in the release namespace when it is namespaced and names none."""
    try:
        obj = yaml.safe_load(hook.manifest)
    except yaml.YAMLError as error:
        raise HookFailed(
            f"{event} hook {hook.path}: its manifest is not YAML: {_one_line(str(error))}",
            hook=hook,
            event=event,
        ) from error
    if not isinstance(obj, dict):
        raise HookFailed(f"{event} hook {hook.path} holds no object", hook=hook, event=event)
    metadata = obj.setdefault("metadata", {})
    if not metadata.get("namespace"):
        try:
            info = await kube.resource_info(str(obj.get("apiVersion", "")), hook.kind)
        except NotFound as error:
            raise HookFailed(
                f"{event} hook {hook.kind}/{hook.name} failed: {error.message}",
                hook=hook,
                event=event,
            ) from error
        if info.namespaced:
            metadata["namespace"] = namespace
    return _Running(hook, obj, ObjectRef.of(obj), event)


async def _create(kube: KubeClient, running: _Running, owner: Owner) -> KubeObject | None:
    """Create (server-side apply) the hook's object; the copy the API server answered."""
    changeset = await apply_all(kube, [running.obj], ApplyOptions(owner=owner))
    return changeset.observed.get(running.ref)


async def _completion_within(
    kube: KubeClient, ref: ObjectRef, live: KubeObject | None, within: float
) -> str | None:
    """``None`` once ``ref`` has completed well (at once for kinds not waited for), else
    why not: it failed, or ``within`` seconds passed."""
    if (ref.api_version.rpartition("/")[0], ref.kind) not in _WAITED:
        return None
    try:
        async with asyncio.timeout(within):
            return await _completion(kube, ref, live)
    except TimeoutError:
        return f"did not complete within {go_duration(within)}"


async def _completion(kube: KubeClient, ref: ObjectRef, live: KubeObject | None) -> str | None:
    """Wait until the Job or Pod ``ref`` has completed: ``None`` when it succeeded, else
    why it failed. Watched from the resourceVersion of the copy in hand; when the watch
    ends, expires or loses the object (its labels changed), it is read again."""
    uid = ((live or {}).get("metadata") or {}).get("uid")
    current = live
    while True:
        if current is None:
            try:
                current = await kube.get(ref)
            except NotFound:
                return _GONE
        seen = (current.get("metadata") or {}).get("uid")
        if uid is not None and seen != uid:
            return _GONE
        uid = seen
        outcome = _outcome(ref.kind, current)
        if not isinstance(outcome, _Pending):
            return outcome
        try:
            current = await _watch_until_complete(kube, ref, current)
        except Expired:
            current = None


async def _watch_until_complete(
    kube: KubeClient, ref: ObjectRef, current: KubeObject
) -> KubeObject | None:
    """The first copy of ``current`` the watch shows complete; ``None`` when the watch
    ends first or the object leaves it (deleted, or no longer matching its labels)."""
    metadata = current.get("metadata") or {}
    async for change in kube.watch(
        ref.api_version,
        ref.kind,
        resource_version=str(metadata.get("resourceVersion", "")),
        namespace=ref.namespace,
        labels=metadata.get("labels") or None,
    ):
        changed = change.object.get("metadata") or {}
        if change.type == "BOOKMARK" or changed.get("name") != ref.name:
            continue
        if change.type == "DELETED" or changed.get("uid") != metadata.get("uid"):
            return None
        if not isinstance(_outcome(ref.kind, change.object), _Pending):
            return change.object
    return None


class _Pending:
    """Not complete yet."""


_PENDING = _Pending()


def _outcome(kind: str, obj: Mapping[str, Any]) -> str | _Pending | None:
    """``None`` when ``obj`` (a Job or Pod) succeeded, why it failed, or pending."""
    status = obj.get("status") or {}
    if kind == "Job":
        for condition in status.get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Complete":
                return None
            if condition.get("type") == "Failed":
                return _job_failure(condition)
        return _PENDING
    phase = status.get("phase")
    if phase == "Succeeded":
        return None
    if phase == "Failed":
        return _pod_failure(status)
    return _PENDING


def _job_failure(condition: Mapping[str, Any]) -> str:
    reason, message = condition.get("reason") or "", condition.get("message") or ""
    if reason and message:
        return f"Job failed ({reason}): {_one_line(message)}"
    return f"Job failed: {_one_line(message or reason or 'no reason given')}"


def _pod_failure(status: Mapping[str, Any]) -> str:
    message = status.get("message") or status.get("reason") or ""
    if not message:
        for container in status.get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("exitCode"):
                reason = terminated.get("reason") or "Error"
                message = (
                    f"container {container.get('name')} exited with "
                    f"{terminated['exitCode']} ({reason})"
                )
                break
    return f"Pod failed: {_one_line(message)}" if message else "Pod failed"


# --- deletion -------------------------------------------------------------------


async def _delete(kube: KubeClient, running: _Running, policy: str, within: float) -> None:
    """Delete the hook's object as ``policy`` says and wait until it is gone; raise
    :class:`HookFailed` when it cannot be deleted or stays."""
    why = await _deleted(kube, running.ref, within)
    if why:
        raise running.failed(f"could not delete it ({policy}): {why}")


async def _delete_after_failure(
    kube: KubeClient, cleanup: Sequence[tuple[_Running, str]], within: float
) -> str:
    """Delete what the policies say after a failure; what could not be deleted, to add
    to the failure's message (empty when all went)."""
    problems = ""
    for running, policy in cleanup:
        why = await _deleted(kube, running.ref, within)
        if why:
            problems += f"; could not delete {running.ref} ({policy}): {why}"
    return problems


async def _deleted(kube: KubeClient, ref: ObjectRef, within: float) -> str:
    """Delete ``ref`` (never a CRD) and wait until it is gone; empty when it is, else why not."""
    if ref.kind in _NEVER_DELETED:
        return ""
    try:
        live = await kube.get(ref)
        uid = str((live.get("metadata") or {}).get("uid", ""))
        await kube.delete_instance(ref, uid)
        return await wait_until_deleted(kube, ref, uid, within=within, interval=DELETE_POLL_SECONDS)
    except NotFound:
        return ""
    except KubeError as error:
        return error.message


# --- records --------------------------------------------------------------------


def _record(
    records: list[dict[str, Any]],
    hook: Hook,
    phase: HookPhase,
    started_at: datetime,
    completed_at: datetime | None = None,
) -> None:
    """Set the ``last_run`` of ``hook``'s entry in ``records``, adding the entry when the
    release has none for it."""
    index = _record_index(records, hook)
    if index is None:
        records.append(hook_record(hook))
        index = len(records) - 1
    records[index] = hook_run(records[index], phase, started_at, completed_at)


def _record_index(records: Sequence[Mapping[str, Any]], hook: Hook) -> int | None:
    for index, record in enumerate(records):
        if (record.get("name"), record.get("kind"), record.get("path")) == (
            hook.name,
            hook.kind,
            hook.path,
        ):
            return index
    return None


def _test_run(hook: Hook, records: Sequence[Mapping[str, Any]]) -> TestRun | None:
    """How ``hook`` last ran, from its record; ``None`` when it did not run."""
    index = _record_index(records, hook)
    last_run = (records[index].get("last_run") or {}) if index is not None else {}
    if not last_run.get("started_at"):
        return None
    completed = last_run.get("completed_at")
    return TestRun(
        name=hook.name,
        phase=HookPhase(last_run.get("phase") or HookPhase.UNKNOWN),
        started_at=datetime.fromisoformat(last_run["started_at"]),
        completed_at=datetime.fromisoformat(completed) if completed else None,
    )


# --- text -----------------------------------------------------------------------


def go_duration(seconds: float) -> str:
    """``seconds`` as a short Go-style duration: ``5m``, ``1m30s``, ``2s``, ``1.5s``."""
    if seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value)


def _one_line(text: str) -> str:
    return " ".join(text.split())
