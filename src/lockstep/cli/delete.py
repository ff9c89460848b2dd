"""``lockstep delete``: remove an object of any kind lockstep serves, and wait until it is gone.

Nothing is asked. A Kustomization carries lockstep's finalizer, through which the
engine prunes what it applied (per ``spec.prune`` and ``deletionPolicy``) before
the API server removes it; a HelmRelease's finalizer uninstalls its Helm release.
The command waits for that, so when it returns 0 the objects are really gone. If no engine is running, the wait ends at ``--timeout``
with exit 1.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer

from lockstep.api.meta import duration_seconds
from lockstep.cli.context import UserError, console, state
from lockstep.cli.objects import (
    FLUX_KINDS,
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_RELEASE,
    HELM_REPOSITORY,
    KUSTOMIZATION,
    OCI_REPOSITORY,
    FluxKind,
    NamespaceOption,
    fetch,
    namespace_or_default,
)
from lockstep.cli.verbs import NameArgument, described, register_per_kind
from lockstep.cli.waiting import TimedOut, TimeoutOption, wait_until_gone
from lockstep.kube import KubeClient

delete_app = typer.Typer(help="Delete an object lockstep reconciles.", no_args_is_help=True)

DELETE_SUMMARIES = {
    GIT_REPOSITORY.kind: "Delete a GitRepository and its artifact.",
    OCI_REPOSITORY.kind: "Delete an OCIRepository and its artifact.",
    HELM_REPOSITORY.kind: "Delete a HelmRepository and its index artifact.",
    HELM_CHART.kind: "Delete a HelmChart and its chart artifact.",
    KUSTOMIZATION.kind: "Delete a Kustomization; with prune enabled, what it applied goes too.",
    HELM_RELEASE.kind: "Delete a HelmRelease; its Helm release is uninstalled.",
}


def _delete_command(kind: FluxKind) -> Callable[..., None]:
    def delete(
        ctx: typer.Context,
        name: NameArgument,
        namespace: NamespaceOption = None,
        timeout: TimeoutOption = "5m",
    ) -> None:
        _delete(ctx, kind, name, namespace, timeout)

    described(delete, DELETE_SUMMARIES.get(kind.kind, f"Delete a {kind.kind}."), kind, "delete")
    return delete


register_per_kind(delete_app, "delete", FLUX_KINDS, _delete_command)


def _delete(
    ctx: typer.Context, kind: FluxKind, name: str, namespace: str | None, timeout: str
) -> None:
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    asyncio.run(_delete_and_wait(cli.kube_client(), kind, name, namespace, timeout))
    console.print(f"[green]✓[/] {kind.noun} {name} in namespace {namespace} deleted")


async def _delete_and_wait(
    kube: KubeClient, kind: FluxKind, name: str, namespace: str, within: str
) -> None:
    ref = kind.ref(name, namespace)
    async with kube:
        await fetch(kube, kind, name, namespace)
        await kube.delete(ref)
        try:
            with console.status(f"waiting for lockstep to finalize {kind.noun} {name}"):
                await wait_until_gone(lambda: kube.get(ref), duration_seconds(within))
        except TimedOut as error:
            raise UserError(
                f"{kind.noun} {name} in namespace {namespace} is still being deleted after {within}",
                hint="lockstep run removes its finalizer; is it running?",
            ) from error
