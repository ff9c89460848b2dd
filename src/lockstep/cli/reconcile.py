"""``lockstep reconcile``, ``suspend`` and ``resume``: ask the engine to act now, or to stop.

A reconcile request sets the annotation ``reconcile.fluxcd.io/requestedAt`` to the
current time; the engine reconciles the object and copies the value to
``status.lastHandledReconcileAt``, which is how the command knows the verdict it
then reads (see :mod:`lockstep.cli.waiting`) is the answer to its own request.
Exit codes: 0 Ready, 1 failed or not settled within ``--timeout``, 2 for an
object that does not exist. What the command prints on success is what ``flux``
prints for the kind: the revision fetched or applied, the number of tags an
image scan found, the commit an image update pushed. ``resume`` clears
``spec.suspend`` and makes the same request in one patch; ``suspend`` only sets
``spec.suspend``.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from lockstep.api.helm import HelmRelease
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION, duration_seconds
from lockstep.cli.context import UserError, console, state
from lockstep.cli.events import event_time, is_about, lockstep_events
from lockstep.cli.objects import (
    FLUX_KINDS,
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_RELEASE,
    HELM_REPOSITORY,
    IMAGE_POLICY,
    IMAGE_REPOSITORY,
    IMAGE_UPDATE_AUTOMATION,
    KUSTOMIZATION,
    OCI_REPOSITORY,
    RECEIVER,
    FluxKind,
    NamespaceOption,
    fetch,
    is_suspended,
    namespace_or_default,
    source_kind,
)
from lockstep.cli.output import helm_release_revision, parse_timestamp
from lockstep.cli.verbs import NameArgument, described, register_per_kind
from lockstep.cli.waiting import TimedOut, TimeoutOption, wait_until_settled
from lockstep.kube import Invalid, KubeClient, KubeObject, ObjectRef

reconcile_app = typer.Typer(
    help="Ask lockstep to reconcile an object now and wait for the result.", no_args_is_help=True
)
suspend_app = typer.Typer(help="Stop lockstep from reconciling an object.", no_args_is_help=True)
resume_app = typer.Typer(
    help="Let lockstep reconcile a suspended object again, and wait for the result.",
    no_args_is_help=True,
)

ANNOTATION_POINTER = "/metadata/annotations/" + RECONCILE_REQUEST_ANNOTATION.replace("/", "~1")
REQUEST_ATTEMPTS = 3
EVENT_WAIT_SECONDS = 1.0
"""How long to look for the Event listing a reconciliation's changes: the engine
records it just before the status that ends the wait, and a list may lag a moment."""
EVENT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Target:
    kind: FluxKind
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind.noun} {self.name} in namespace {self.namespace}"

    @property
    def events_hint(self) -> str:
        return f"lockstep events --for {self.kind.kind}/{self.name} -n {self.namespace}"


RECONCILE_SUMMARIES = {
    GIT_REPOSITORY.kind: "Fetch a GitRepository now; print the revision it stored.",
    OCI_REPOSITORY.kind: "Pull an OCIRepository now; print the revision it stored.",
    KUSTOMIZATION.kind: (
        "Apply a Kustomization now; print the applied revision and what changed."
        " Exits 0 when it is Ready, 1 with the engine's message when it fails."
    ),
    HELM_REPOSITORY.kind: "Fetch a HelmRepository's index now; print the revision it stored.",
    HELM_CHART.kind: "Fetch and package a HelmChart now; print the chart version it stored.",
    HELM_RELEASE.kind: (
        "Install or upgrade a HelmRelease now; print the chart version released."
        " With --with-source its HelmChart, and the chart's source, are reconciled first."
    ),
    IMAGE_REPOSITORY.kind: "Scan an ImageRepository's tags now; print how many the scan found.",
    IMAGE_POLICY.kind: "Elect an ImagePolicy's image now; print the image it elected.",
    IMAGE_UPDATE_AUTOMATION.kind: (
        "Run an ImageUpdateAutomation now; print the commit it pushed, or that there was none."
    ),
}


def _reconcile_command(kind: FluxKind) -> Callable[..., None]:
    if kind.has_source:

        def reconcile_with_source(
            ctx: typer.Context,
            name: NameArgument,
            namespace: NamespaceOption = None,
            with_source: Annotated[
                bool, typer.Option("--with-source", help="Reconcile the source first.")
            ] = False,
            timeout: TimeoutOption = "5m",
        ) -> None:
            operation = _reconcile_with_source(timeout) if with_source else _reconcile(timeout)
            _run(ctx, kind, name, namespace, operation)

        command: Callable[..., None] = reconcile_with_source
    else:

        def reconcile(
            ctx: typer.Context,
            name: NameArgument,
            namespace: NamespaceOption = None,
            timeout: TimeoutOption = "5m",
        ) -> None:
            _run(ctx, kind, name, namespace, _reconcile(timeout))

        command = reconcile
    summary = RECONCILE_SUMMARIES.get(kind.kind, f"Reconcile a {kind.kind} now.")
    described(command, summary, kind, "reconcile")
    return command


def _suspend_command(kind: FluxKind) -> Callable[..., None]:
    def suspend(ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = None) -> None:
        _run(ctx, kind, name, namespace, _suspend)

    described(suspend, f"Stop reconciling a {kind.kind} until it is resumed.", kind, "suspend")
    return suspend


def _resume_command(kind: FluxKind) -> Callable[..., None]:
    def resume(
        ctx: typer.Context,
        name: NameArgument,
        namespace: NamespaceOption = None,
        timeout: TimeoutOption = "5m",
    ) -> None:
        _run(ctx, kind, name, namespace, _reconcile(timeout, resume=True))

    summary = f"Resume a suspended {kind.kind} and wait until it is reconciled."
    described(resume, summary, kind, "resume")
    return resume


register_per_kind(reconcile_app, "reconcile", FLUX_KINDS, _reconcile_command)
register_per_kind(suspend_app, "suspend", FLUX_KINDS, _suspend_command)
register_per_kind(resume_app, "resume", FLUX_KINDS, _resume_command)


Operation = Callable[[KubeClient, Target], Awaitable[None]]


def _run(
    ctx: typer.Context, kind: FluxKind, name: str, namespace: str | None, operation: Operation
) -> None:
    cli = state(ctx)
    target = Target(kind, name, namespace_or_default(cli, namespace))

    async def main(kube: KubeClient) -> None:
        async with kube:
            await operation(kube, target)

    asyncio.run(main(cli.kube_client()))


def _reconcile(timeout: str, *, resume: bool = False) -> Operation:
    async def operation(kube: KubeClient, target: Target) -> None:
        await _request_and_wait(kube, target, timeout, resume=resume)

    return operation


def _reconcile_with_source(timeout: str) -> Operation:
    async def operation(kube: KubeClient, target: Target) -> None:
        obj = await fetch(kube, target.kind, target.name, target.namespace)
        if is_suspended(obj):
            raise _suspended(target)
        # The source's new revision may be applied before the object's own request lands;
        # its changes still answer this command, so they are looked for from the first
        # source's request on.
        first_requested_at: str | None = None
        for source in await _sources_of(kube, target, obj):
            requested_at = await _request_and_wait(kube, source, timeout, resume=False)
            first_requested_at = first_requested_at or requested_at
        await _request_and_wait(
            kube, target, timeout, resume=False, changes_from=first_requested_at
        )

    return operation


async def _sources_of(kube: KubeClient, target: Target, obj: KubeObject) -> list[Target]:
    """The sources ``--with-source`` reconciles before ``obj``, in order: a Kustomization's
    ``sourceRef``; a HelmRelease's chart object, after the HelmChart's own source."""
    if target.kind is not HELM_RELEASE:
        return [_source_target(obj.get("spec") or {}, target.namespace)]
    chart = HelmRelease.model_validate(obj).chart_reference()
    chart_target = Target(source_kind(chart.kind), chart.name, chart.namespace)
    if chart_target.kind is not HELM_CHART:
        return [chart_target]
    chart_obj = await fetch(kube, HELM_CHART, chart.name, chart.namespace)
    return [_source_target(chart_obj.get("spec") or {}, chart.namespace), chart_target]


def _source_target(spec: KubeObject, namespace: str) -> Target:
    source_ref = spec.get("sourceRef") or {}
    return Target(
        source_kind(str(source_ref.get("kind", ""))),
        str(source_ref.get("name", "")),
        str(source_ref.get("namespace") or namespace),
    )


async def _suspend(kube: KubeClient, target: Target) -> None:
    await fetch(kube, target.kind, target.name, target.namespace)
    ref = target.kind.ref(target.name, target.namespace)
    await kube.json_patch(ref, [{"op": "add", "path": "/spec/suspend", "value": True}])
    console.print(f"[green]✓[/] {target} suspended")


async def _request_and_wait(
    kube: KubeClient,
    target: Target,
    within: str,
    *,
    resume: bool,
    changes_from: str | None = None,
) -> str:
    """Request a reconciliation of ``target``, wait for its answer and print it; the
    changes printed are those recorded from ``changes_from`` (default: this request) on.
    Returns the request's time."""
    obj = await fetch(kube, target.kind, target.name, target.namespace)
    if is_suspended(obj) and not resume:
        raise _suspended(target)
    requested_at = await request_reconcile(kube, obj, resume=resume)
    verb = "resumed" if resume else "reconciled"
    if _is_static(obj):
        # An OCI HelmRepository has no index: the engine only keeps it, and never reports
        # it Ready; flux prints the same and succeeds.
        console.print(
            f"[green]✓[/] {target.kind.noun} {target.name} {verb}: "
            "reconciliation not supported by the object"
        )
        return requested_at
    ref = target.kind.ref(target.name, target.namespace)
    try:
        with console.status(f"waiting for {target} to reconcile"):
            verdict = await wait_until_settled(
                lambda: kube.get(ref), duration_seconds(within), requested_at=requested_at
            )
    except TimedOut as error:
        raise UserError(
            f"{target} was not reconciled within {within}",
            hint=f"is lockstep run running? {target.events_hint}",
        ) from error
    if not verdict.ready:
        raise UserError(f"{target} failed: {escape(verdict.message)}", hint=target.events_hint)
    summary = outcome(verdict.object, before=obj)
    console.print(f"[green]✓[/] {target.kind.noun} {target.name} {verb}: {escape(summary)}")
    if target.kind is KUSTOMIZATION:
        for change in await _changes(kube, target, changes_from or requested_at):
            console.print(f"  {escape(change)}")
    return requested_at


def _is_static(obj: KubeObject) -> bool:
    """Whether the engine keeps ``obj`` without reconciling it: an OCI HelmRepository."""
    return obj.get("kind") == HELM_REPOSITORY.kind and (obj.get("spec") or {}).get("type") == "oci"


def _suspended(target: Target) -> UserError:
    return UserError(
        f"{target} is suspended",
        hint=f"resume it: lockstep resume {target.kind.command} {target.name} -n {target.namespace}",
    )


def outcome(obj: KubeObject, *, before: KubeObject | None = None) -> str:
    """What an object settled on, as a phrase: ``applied revision main@sha1:…``,
    ``scan fetched 12 tags``; ``before`` is the object as read before the request, which
    tells whether an image update's last pushed commit is new."""
    status = obj.get("status") or {}
    kind = obj.get("kind")
    if kind == KUSTOMIZATION.kind:
        return f"applied revision {status.get('lastAppliedRevision') or '(none)'}"
    if kind == HELM_RELEASE.kind:
        return f"applied revision {helm_release_revision(status) or '(none)'}"
    if kind == IMAGE_REPOSITORY.kind:
        return f"scan fetched {(status.get('lastScanResult') or {}).get('tagCount', 0)} tags"
    if kind == IMAGE_POLICY.kind:
        ref = status.get("latestRef") or {}
        image = f"{ref.get('name')}:{ref.get('tag')}" if ref else status.get("latestImage")
        return f"elected image {image or '(none)'}"
    if kind == RECEIVER.kind:
        return f"serving {status.get('webhookPath') or '(no webhook path yet)'}"
    if kind == IMAGE_UPDATE_AUTOMATION.kind:
        # Comparing commits rather than times needs no agreement between clocks.
        pushed = status.get("lastPushCommit")
        previous = ((before or {}).get("status") or {}).get("lastPushCommit")
        return (
            f"pushed commit {pushed}" if pushed and pushed != previous else "repository up-to-date"
        )
    return f"fetched revision {(status.get('artifact') or {}).get('revision') or '(none)'}"


def now_rfc3339() -> str:
    """The current time as RFC 3339 with microseconds, so two requests in one second differ."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def request_operations(obj: KubeObject, requested_at: str, *, resume: bool) -> list[KubeObject]:
    """The JSON patch that requests a reconciliation (and clears ``spec.suspend`` to resume).

    Without annotations the whole map is added, guarded by the resourceVersion read:
    adding the map replaces one that a concurrent writer may just have created.
    """
    metadata = obj.get("metadata") or {}
    operations: list[KubeObject] = []
    if resume:
        operations.append({"op": "add", "path": "/spec/suspend", "value": False})
    if metadata.get("annotations"):
        operations.append({"op": "add", "path": ANNOTATION_POINTER, "value": requested_at})
        return operations
    return [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": metadata.get("resourceVersion"),
        },
        *operations,
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {RECONCILE_REQUEST_ANNOTATION: requested_at},
        },
    ]


async def request_reconcile(kube: KubeClient, obj: KubeObject, *, resume: bool = False) -> str:
    """Annotate ``obj`` with a new reconcile request; the value the engine will echo back."""
    requested_at = now_rfc3339()
    ref = ObjectRef.of(obj)
    attempts = REQUEST_ATTEMPTS
    while True:
        try:
            await kube.json_patch(ref, request_operations(obj, requested_at, resume=resume))
            return requested_at
        except Invalid:
            # Most likely the resourceVersion test: the object changed since it was read.
            attempts -= 1
            if attempts == 0:
                raise
            obj = await kube.get(ref)


def changes_since(events: list[KubeObject], target: Target, requested_at: str) -> list[str] | None:
    """The objects the reconciliation answering ``requested_at`` changed, as the engine's
    ReconciliationSucceeded Event lists them; ``None`` when there is no such Event."""
    requested = parse_timestamp(requested_at)
    # Event times have whole seconds: an Event of the same second may answer the request.
    since = requested.replace(microsecond=0) if requested else datetime.min.replace(tzinfo=UTC)
    answering = [
        event
        for event in events
        if is_about(event, target.kind.kind, target.name)
        and event.get("reason") == "ReconciliationSucceeded"
        and (event_time(event) or since) >= since
    ]
    return str(answering[-1].get("message", "")).split(", ") if answering else None


async def _changes(kube: KubeClient, target: Target, requested_at: str) -> list[str]:
    """What the reconciliation changed; empty when nothing did (the engine records no Event)."""
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while True:
        events = await lockstep_events(kube, target.namespace)
        changes = changes_since(events, target, requested_at)
        if changes is not None:
            return changes
        if time.monotonic() >= deadline:
            return []
        await asyncio.sleep(EVENT_POLL_SECONDS)
