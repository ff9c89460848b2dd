"""``lockstep install``: put lockstep on a cluster.

The CRDs come from :func:`lockstep.api.crds.crd_manifests`, generated from the
typed models, and the engine's manifests from :mod:`lockstep.cli.components`;
they are server-side applied with lockstep's field manager, the CRDs first, and
the command waits until the API server reports each CRD Established and lists
its objects, so that any command run next finds the kinds served.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer

from lockstep.api.crds import crd_manifests, manifests_yaml
from lockstep.cli.components import DEFAULT_IMAGE, DEFAULT_NAMESPACE, all_manifests
from lockstep.cli.context import UserError, console, state
from lockstep.kube import KubeClient, NotFound, ObjectRef, ServerError

ESTABLISHED_TIMEOUT_SECONDS = 60.0


def install(
    ctx: typer.Context,
    crds: Annotated[
        bool, typer.Option("--crds", help="Install only the custom resource definitions.")
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of the engine.")
    ] = DEFAULT_NAMESPACE,
    image: Annotated[str, typer.Option(help="Container image of the engine.")] = DEFAULT_IMAGE,
    export: Annotated[
        bool, typer.Option("--export", help="Print the manifests as YAML instead of applying them.")
    ] = False,
) -> None:
    """Install lockstep on the current cluster: CRDs, namespace, RBAC and the engine.

    The CRDs serve the Flux-compatible APIs; the engine runs as a Deployment.

    Examples:

      lockstep install

      lockstep install --crds

      lockstep install --image registry.example.com/lockstep:1.0 --export > lockstep.yaml
    """
    manifests = crd_manifests() if crds else all_manifests(namespace, image)
    if export:
        typer.echo(manifests_yaml(manifests), nl=False)
        return
    asyncio.run(_install(state(ctx).kube_client(), manifests))
    if crds:
        console.print(f"[green]✓[/] {len(manifests)} CRDs installed and established")
    else:
        console.print(f"[green]✓[/] lockstep installed in namespace {namespace}")


async def _install(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    async with kube:
        await apply_manifests(kube, manifests)


async def apply_manifests(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    """The CRDs first (waiting until they are Established), then everything else."""
    crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
    await apply_crds(kube, crds)
    for manifest in manifests:
        if manifest["kind"] != "CustomResourceDefinition":
            await kube.apply(manifest)
            console.print(f"[dim]•[/] {manifest['kind']} {manifest['metadata']['name']} applied")


async def apply_crds(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    """Server-side apply the CRDs, then wait until each is Established and served."""
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
            if _established(crd) and await _listed(kube, crd):
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


async def _listed(kube: KubeClient, crd: dict[str, Any]) -> bool:
    """Whether the API server lists objects of the CRD's kind. For a few seconds after a CRD
    is Established (or changed), lists may still be refused with 429 "storage is
    (re)initializing", which a command run right after the install would fail with."""
    spec = crd["spec"]
    version = next(version["name"] for version in spec["versions"] if version.get("storage"))
    try:
        await kube.list(f"{spec['group']}/{version}", spec["names"]["kind"])
    except (NotFound, ServerError):
        return False
    return True
