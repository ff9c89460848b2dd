"""``lockstep tree kustomization``: the objects a Kustomization applied, as a tree.

The objects come from the inventory in the Kustomization's status, in the order
they were applied; Kustomizations among them are read and expanded in turn, so
a cluster's whole tree shows from its root Kustomization. A Kustomization that
appears twice (two parents declare it) is expanded once.

A Kustomization with ``spec.kubeConfig`` applied its objects to the cluster of its
kubeconfig Secret: its nested Kustomizations are read there
(:mod:`lockstep.cli.clusters`), and its line names that cluster. The root's
Secret being unusable is an error (exit 2); a nested one's is noted on its line.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, cast

import typer
from rich.text import Text
from rich.tree import Tree

from lockstep.apply import parse_inventory_id
from lockstep.cli.clusters import target_cluster
from lockstep.cli.context import UserError, state
from lockstep.cli.objects import (
    KUSTOMIZATION,
    NamespaceOption,
    condition,
    fetch,
    namespace_or_default,
)
from lockstep.cli.output import print_table
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

tree_app = typer.Typer(help="Show what lockstep applied, as a tree.", no_args_is_help=True)

KUSTOMIZE_GROUP = KUSTOMIZATION.api_version.rpartition("/")[0]


class ObjectReader(Protocol):
    """What building the tree needs of a client: reading one object."""

    async def get(self, ref: ObjectRef) -> KubeObject: ...


@dataclass
class InventoryNode:
    """One applied object; a Kustomization carries its own inventory as children."""

    ref: ObjectRef
    children: list[InventoryNode] = field(default_factory=list)
    ready: str | None = None
    """Kustomizations only: the status of their Ready condition."""
    note: str = ""
    """Why a Kustomization is not expanded: not found, already shown, cluster unusable."""
    cluster: str = ""
    """Kustomizations applying to another cluster: that cluster's name."""


ClusterOf = Callable[[ObjectReader, KubeObject], Awaitable[tuple[ObjectReader, str]]]
"""The reader of the cluster a Kustomization applies to, and that cluster's name (empty:
the cluster the Kustomization is on); raises :class:`UserError` when it cannot be used."""


@tree_app.command("kustomization")
@tree_app.command("ks", hidden=True)
def tree_kustomization(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the Kustomization.")],
    namespace: NamespaceOption = None,
) -> None:
    """Print the objects a Kustomization applied, nested Kustomizations expanded (alias: ks).

    Example:

      lockstep tree kustomization flux-system -n flux-system
    """
    cli = state(ctx)
    root = asyncio.run(_load(cli.kube_client(), name, namespace_or_default(cli, namespace)))
    print_table(render_tree(root))


async def _load(kube: KubeClient, name: str, namespace: str) -> InventoryNode:
    async with kube, contextlib.AsyncExitStack() as clusters:

        async def cluster_of(reader: ObjectReader, obj: KubeObject) -> tuple[ObjectReader, str]:
            if not (obj.get("spec") or {}).get("kubeConfig"):
                return reader, ""
            # Every reader handed out here is a client: the root's, or one made below.
            cluster = await clusters.enter_async_context(
                target_cluster(cast(KubeClient, reader), obj)
            )
            return cluster.client, str(cluster.target) if cluster.remote else ""

        obj = await fetch(kube, KUSTOMIZATION, name, namespace)
        return await load_tree(kube, obj, cluster_of=cluster_of)


def inventory_refs(obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The objects in a Kustomization's ``status.inventory``, in apply order."""
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []
    try:
        return [parse_inventory_id(str(entry.get("id")), str(entry.get("v"))) for entry in entries]
    except ValueError as error:
        raise UserError(
            f"Kustomization {ObjectRef.of(obj)} has an unreadable inventory: {error}",
            hint="the next successful reconciliation rewrites it: lockstep reconcile ks",
        ) from error


def _identity(ref: ObjectRef, cluster: str) -> tuple[str, str, str, str]:
    return (cluster, ref.kind, ref.namespace, ref.name)


def _is_kustomization(ref: ObjectRef) -> bool:
    return ref.kind == KUSTOMIZATION.kind and ref.api_version.startswith(f"{KUSTOMIZE_GROUP}/")


async def load_tree(
    reader: ObjectReader,
    obj: KubeObject,
    shown: set[tuple[str, str, str, str]] | None = None,
    *,
    cluster_of: ClusterOf | None = None,
    here: str = "",
) -> InventoryNode:
    """The tree of ``obj``'s inventory, reading nested Kustomizations through ``reader``
    (the client of the cluster ``here`` names, empty for the first one), or through the
    reader ``cluster_of`` gives for the cluster ``obj`` applies to."""
    shown = shown if shown is not None else set()
    ref = ObjectRef.of(obj)
    shown.add(_identity(ref, here))
    ready = condition(obj, "Ready")
    node = InventoryNode(ref, ready=str(ready.get("status")) if ready else "Unknown")
    children_cluster = here
    if cluster_of is not None:
        reader, node.cluster = await cluster_of(reader, obj)
        children_cluster = node.cluster or here
    for child in inventory_refs(obj):
        if not _is_kustomization(child):
            node.children.append(InventoryNode(child))
        elif _identity(child, children_cluster) in shown:
            node.children.append(InventoryNode(child, note="shown above"))
        else:
            try:
                nested = await reader.get(child)
                branch = await load_tree(
                    reader, nested, shown, cluster_of=cluster_of, here=children_cluster
                )
            except NotFound:
                branch = InventoryNode(child, note="not found")
            except UserError as error:
                branch = InventoryNode(child, note=str(error))
            node.children.append(branch)
    return node


def render_tree(root: InventoryNode) -> Tree:
    tree = Tree(_label(root))
    _add_children(tree, root)
    return tree


def _add_children(branch: Tree, node: InventoryNode) -> None:
    for child in node.children:
        _add_children(branch.add(_label(child)), child)


def _label(node: InventoryNode) -> Text:
    label = Text(str(node.ref))
    if node.cluster:
        label.append(f" → the cluster of {node.cluster}", style="cyan")
    if node.note:
        label.append(f" ({node.note})", style="dim")
    elif node.ready == "True":
        label.append(" ✓ Ready", style="green")
    elif node.ready is not None:
        label.append(f" ✗ Ready={node.ready}", style="red")
    return label
