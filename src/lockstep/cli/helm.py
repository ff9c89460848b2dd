"""``lockstep build helmrelease``, ``diff helmrelease`` and ``tree helmrelease``: a Helm
release as the engine would make it now, compared with the cluster, or as it was made.

``build`` and ``diff`` render the HelmRelease read from the cluster through
:func:`lockstep.controllers.helm.preview.preview`, the reconciler's own steps: the chart
of its HelmChart's artifact, its values composed from the cluster, Helm's engine at the
next revision (an upgrade when a revision is deployed, else an install). ``build``
prints the release manifest's objects with the marks the engine's apply sets; CRDs of
the chart's ``crds/`` are not part of a release manifest and are not printed. ``diff``
asks the apply engine what installing or upgrading would do
(:func:`lockstep.apply.diff_all` under the HelmRelease's owner): the objects created
or changed, the chart's CRDs its ``crds`` policy would create, the target namespace
``install.createNamespace`` would create, and the objects of the deployed revision an
upgrade deletes. Secret values are masked as ``lockstep diff kustomization`` masks
them, and exit codes are the same: 0 no changes, 1 changes, 2 an error.

``tree`` prints the objects of the deployed revision, read from the release's stored
manifest (Helm's Secrets in the storage namespace).

Registered on the ``build``, ``diff`` and ``tree`` commands by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import yaml

from lockstep.api.helm import HelmRelease
from lockstep.apply import ApplyOptions, diff_all, helm_release_owner, with_default_namespace
from lockstep.cli.build import DIFF_ERROR, masked, print_entry
from lockstep.cli.clusters import target_cluster
from lockstep.cli.context import UserError, state
from lockstep.cli.objects import (
    HELM_RELEASE,
    NamespaceOption,
    condition,
    fetch,
    namespace_or_default,
)
from lockstep.cli.output import print_table
from lockstep.cli.tree import InventoryNode, render_tree
from lockstep.controllers.helm.preview import (
    Preview,
    PreviewUnavailable,
    chart_artifact,
    preview,
    stored_objects,
)
from lockstep.controllers.helm.storage import ReleaseStorage
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

NameArgument = Annotated[str, typer.Argument(help="Name of the HelmRelease.")]


def build_helmrelease(
    ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = None
) -> None:
    """Print the objects a HelmRelease would release now (Secret values masked) (alias: hr).

    Example:

      lockstep build helmrelease podinfo -n apps
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    objects = asyncio.run(_build(cli.kube_client(), name, namespace))
    typer.echo(yaml.safe_dump_all([masked(obj) for obj in objects], sort_keys=False), nl=False)


def diff_helmrelease(
    ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = None
) -> None:
    """Show what installing or upgrading a HelmRelease now would change; exit 1 when it would
    (alias: hr).

    Example:

      lockstep diff helmrelease podinfo -n apps || echo "changes"
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    try:
        changed = asyncio.run(_diff(cli.engine_client(), name, namespace))
    except (UserError, KubeError) as error:
        hint = error.hint if isinstance(error, UserError) else ""
        raise UserError(str(error), hint=hint, code=DIFF_ERROR) from error
    raise typer.Exit(1 if changed else 0)


def tree_helmrelease(
    ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = None
) -> None:
    """Print the objects of a HelmRelease's deployed release (alias: hr).

    Example:

      lockstep tree helmrelease podinfo -n apps
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    print_table(render_tree(asyncio.run(_tree(cli.kube_client(), name, namespace))))


async def _build(kube: KubeClient, name: str, namespace: str) -> list[KubeObject]:
    async with kube:
        obj = await fetch(kube, HELM_RELEASE, name, namespace)
        release = _model(obj)
        async with target_cluster(kube, obj) as cluster:
            rendered = await _preview(kube, release, cluster.client)
    owner = _options(release).owner
    return [owner.mark(obj) for obj in rendered.objects]


async def _diff(kube: KubeClient, name: str, namespace: str) -> bool:
    async with kube:
        obj = await fetch(kube, HELM_RELEASE, name, namespace)
        release = _model(obj)
        async with target_cluster(kube, obj) as cluster:
            target = cluster.client
            rendered = await _preview(kube, release, target)
            objects = [
                *await _namespace_to_create(target, release, rendered),
                *await _crds_to_apply(target, release, rendered),
                *rendered.objects,
            ]
            diff = await diff_all(target, objects, _options(release), rendered.stale)
    for entry in diff.objects:
        print_entry(entry)
    if diff.failures:
        raise UserError(
            "; ".join(diff.failures),
            hint="diff applies nothing; the HelmRelease's install or upgrade would fail the same way",
        )
    return diff.changes


async def _tree(kube: KubeClient, name: str, namespace: str) -> InventoryNode:
    async with kube:
        obj = await fetch(kube, HELM_RELEASE, name, namespace)
        release = _model(obj)
        ready = condition(obj, "Ready")
        root = InventoryNode(
            ObjectRef.of(obj), ready=str(ready.get("status")) if ready else "Unknown"
        )
        async with target_cluster(kube, obj) as cluster:
            storage = ReleaseStorage(cluster.client, release.storage_namespace())
            deployed = await storage.deployed(release.release_name())
            if deployed is None:
                root.note = "no deployed release"
                return root
            try:
                stored = stored_objects(deployed)
            except PreviewUnavailable as error:
                hint = f"lockstep get hr {name} -n {namespace}"
                raise UserError(str(error), hint=hint) from error
            objects = await with_default_namespace(
                cluster.client, stored, release.release_namespace()
            )
    root.children = [InventoryNode(ObjectRef.of(o)) for o in objects]
    return root


def _model(obj: KubeObject) -> HelmRelease:
    try:
        return HelmRelease.model_validate(obj)
    except ValueError as error:
        raise UserError(
            f"HelmRelease {ObjectRef.of(obj)} is invalid: {str(error).splitlines()[0]}",
            hint="fix its spec: lockstep export helmrelease NAME shows it",
        ) from error


async def _preview(kube: KubeClient, release: HelmRelease, target: KubeClient) -> Preview:
    try:
        return await preview(kube, release, await chart_artifact(kube, release), target)
    except PreviewUnavailable as error:
        raise UserError(
            str(error),
            hint=f"lockstep get hr {release.metadata.name} -n {release.metadata.namespace}",
        ) from error


def _options(release: HelmRelease) -> ApplyOptions:
    """The apply options of the reconciler's install and upgrade."""
    owner = helm_release_owner(
        release.metadata.name,
        release.metadata.namespace or "",
        release.release_name(),
        release.release_namespace(),
    )
    return ApplyOptions(owner=owner, recreate_immutable=release.upgrade_force())


async def _namespace_to_create(
    kube: KubeClient, release: HelmRelease, rendered: Preview
) -> list[KubeObject]:
    """The target namespace, when an install would create it."""
    namespace: KubeObject = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": release.release_namespace()},
    }
    if rendered.upgrade or not release.create_namespace() or await _exists(kube, namespace):
        return []
    return [namespace]


async def _crds_to_apply(
    kube: KubeClient, release: HelmRelease, rendered: Preview
) -> list[KubeObject]:
    """The chart's CRDs the action's ``crds`` policy applies: none with ``Skip``, those
    that do not exist yet with ``Create``, all with ``CreateReplace``."""
    policy = release.crds_policy("upgrade" if rendered.upgrade else "install")
    if policy == "Skip":
        return []
    crds = rendered.crds
    if policy == "CreateReplace":
        return crds
    return [crd for crd in crds if not await _exists(kube, crd)]


async def _exists(kube: KubeClient, obj: KubeObject) -> bool:
    try:
        await kube.get(ObjectRef.of(obj))
    except NotFound:
        return False
    return True
