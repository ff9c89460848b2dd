"""``lockstep install``: put lockstep's custom resource definitions on a cluster.

The CRDs come from :func:`lockstep.api.crds.crd_manifests`, generated from the
typed models; they are server-side applied with lockstep's field manager, then
the command waits until the API server reports each one Established.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer

from lockstep.api.crds import crd_manifests, crds_yaml
from lockstep.cli.context import UserError, console, state
from lockstep.kube import KubeClient, ObjectRef

ESTABLISHED_TIMEOUT_SECONDS = 60.0


def install(
    ctx: typer.Context,
    crds: Annotated[
        bool, typer.Option("--crds", help="Install the custom resource definitions.")
    ] = False,
    export: Annotated[
        bool, typer.Option("--export", help="Print the manifests as YAML instead of applying them.")
    ] = False,
) -> None:
    """Install lockstep's CRDs (Flux-compatible APIs) on the current cluster.

    Examples:

      lockstep install --crds

      lockstep install --crds --export > crds.yaml
    """
    if not crds:
        raise UserError(
            "lockstep install currently installs only the CRDs",
            hint="run lockstep install --crds",
        )
    if export:
        typer.echo(crds_yaml(), nl=False)
        return
    manifests = crd_manifests()
    asyncio.run(_install(state(ctx).kube_client(), manifests))
    console.print(f"[green]✓[/] {len(manifests)} CRDs installed and established")


async def _install(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    async with kube:
        await apply_crds(kube, manifests)


async def apply_crds(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    """Server-side apply the CRDs, then wait until each is Established."""
    for manifest in manifests:
        await kube.apply(manifest)
        console.print(f"[dim]•[/] {manifest['metadata']['name']} applied")
    pending = {manifest["metadata"]["name"] for manifest in manifests}
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_SECONDS
    while pending:
        for name in sorted(pending):
            crd = await kube.get(
                ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            )
            if _established(crd):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise UserError(
                f"CustomResourceDefinition {sorted(pending)[0]} is not Established after "
                f"{ESTABLISHED_TIMEOUT_SECONDS:.0f}s",
                hint="kubectl describe crd " + sorted(pending)[0],
            )
        if pending:
            await asyncio.sleep(0.2)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
