"""``lockstep trace``: where an object in the cluster comes from.

Objects lockstep applies carry the owner labels ``kustomize.toolkit.fluxcd.io/name``
and ``/namespace`` of their Kustomization; from there the chain continues to the
Kustomization's source. The report shows each link with its revision and Ready
condition, and says when the object is missing from the Kustomization's
inventory (left behind by a Kustomization that no longer declares it).

An object that a Kustomization with ``spec.kubeConfig`` applied is on the cluster
of its kubeconfig Secret, while the Kustomization is on this one. When the object
is not here (or here but not lockstep's), the Kustomizations with a kubeConfig
whose inventory lists it are asked, and the object is read on their cluster
(:mod:`lockstep.cli.clusters`); the report names that cluster. A kubeconfig
Secret that cannot be used is an error naming it (exit 2).

A kind is given as lockstep's own kinds and common built-in ones are spelled
(``deployment``, ``cm``, ``ks``) or fully as ``group/version/Kind``; other kinds
are looked up in the API server's APIServices by their exact Kind.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from lockstep.apply import inventory_id
from lockstep.apply.owners import KUSTOMIZATION_NAME_LABEL as OWNER_NAME_LABEL
from lockstep.apply.owners import KUSTOMIZATION_NAMESPACE_LABEL as OWNER_NAMESPACE_LABEL
from lockstep.cli.clusters import target_cluster
from lockstep.cli.context import UserError, state
from lockstep.cli.objects import (
    KUSTOMIZATION,
    USAGE_ERROR,
    NamespaceOption,
    condition,
    kind_named,
    namespace_or_default,
    source_kind,
)
from lockstep.cli.output import print_table
from lockstep.kube import Forbidden, KubeClient, KubeObject, NotFound, ObjectRef

KindArgument = Annotated[
    str,
    typer.Argument(
        help="Kind of the object: deployment, cm, ks, or group/version/Kind such as apps/v1/Deployment."
    ),
]


@dataclass(frozen=True)
class Trace:
    """The chain from an object to the source it was built from."""

    object: KubeObject
    kustomization: KubeObject
    source_ref: ObjectRef
    source: KubeObject | None
    """``None`` when the Kustomization's source does not exist."""
    cluster: str = ""
    """The cluster the object is on when it is not the Kustomization's: its name."""

    @property
    def in_inventory(self) -> bool:
        return inventory_id(ObjectRef.of(self.object)) in _inventory_ids(self.kustomization)


def trace(
    ctx: typer.Context,
    kind: KindArgument,
    name: Annotated[str, typer.Argument(help="Name of the object.")],
    namespace: NamespaceOption = None,
) -> None:
    """Show which Kustomization applied an object, from which source and revision.

    Examples:

      lockstep trace deployment web -n apps

      lockstep trace apps/v1/Deployment web -n apps
    """
    cli = state(ctx)
    found = asyncio.run(_trace(cli.kube_client(), kind, name, namespace_or_default(cli, namespace)))
    print_table(trace_report(found))


async def _trace(kube: KubeClient, word: str, name: str, namespace: str) -> Trace:
    async with kube:
        api_version, kind = await resolve_kind(kube, word)
        try:
            info = await kube.resource_info(api_version, kind)
        except NotFound as error:
            raise UserError(
                f"the cluster serves no kind {kind} in {api_version}",
                hint="check the spelling; kubectl api-resources lists the kinds",
                code=USAGE_ERROR,
            ) from error
        ref = ObjectRef(api_version, kind, name, namespace if info.namespaced else "")
        try:
            obj: KubeObject | None = await kube.get(ref)
        except NotFound:
            obj = None
        owner_name, owner_namespace = _owner(obj or {})
        if not owner_name:
            remote = await _trace_remote(kube, ref)
            if remote is not None:
                return remote
        if obj is None:
            where = f" in namespace {namespace}" if info.namespaced else ""
            raise UserError(
                f"{kind} {name} not found{where}",
                hint="pick the namespace with -n",
                code=USAGE_ERROR,
            )
        if not owner_name:
            raise UserError(
                f"{_described(ref)} is not managed by lockstep",
                hint=f"objects applied by a Kustomization carry the label {OWNER_NAME_LABEL}",
            )
        try:
            kustomization = await kube.get(KUSTOMIZATION.ref(owner_name, owner_namespace))
        except NotFound as error:
            raise UserError(
                f"{_described(ref)} was applied by Kustomization {owner_namespace}/{owner_name}, "
                "which no longer exists",
                hint="it was left behind (prune off or deletionPolicy Orphan); delete it if unused",
            ) from error
        source_ref, source = await _source(kube, kustomization)
        return Trace(obj, kustomization, source_ref, source)


async def _trace_remote(kube: KubeClient, ref: ObjectRef) -> Trace | None:
    """The trace of the object at ``ref`` on the cluster of a Kustomization with a
    kubeConfig whose inventory lists it; ``None`` when there is none."""
    wanted = inventory_id(ref)
    try:
        kustomizations = await kube.list(KUSTOMIZATION.api_version, KUSTOMIZATION.kind)
    except (NotFound, Forbidden):
        # Not served here, or not listable by this user: the object is simply not found.
        return None
    for kustomization in kustomizations:
        if not (kustomization.get("spec") or {}).get("kubeConfig"):
            continue
        if wanted not in _inventory_ids(kustomization):
            continue
        async with target_cluster(kube, kustomization) as cluster:
            try:
                obj = await cluster.client.get(ref)
            except NotFound:
                continue
        source_ref, source = await _source(kube, kustomization)
        return Trace(obj, kustomization, source_ref, source, cluster=str(cluster.target))
    return None


async def _source(
    kube: KubeClient, kustomization: Mapping[str, Any]
) -> tuple[ObjectRef, KubeObject | None]:
    source_ref = _source_ref(kustomization)
    try:
        return source_ref, await kube.get(source_ref)
    except NotFound:
        return source_ref, None


def _inventory_ids(kustomization: Mapping[str, Any]) -> set[str]:
    entries = ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []
    return {str(entry.get("id")) for entry in entries}


async def resolve_kind(kube: KubeClient, word: str) -> tuple[str, str]:
    """``(apiVersion, kind)`` of the kind ``word`` names."""
    if "/" in word:
        api_version, _, kind = word.rpartition("/")
        return api_version, kind
    return kind_named(word) or await _discover_kind(kube, word)


async def _discover_kind(kube: KubeClient, word: str) -> tuple[str, str]:
    """Look ``word`` up as a Kind in every group-version the API server serves, preferred first."""
    services = await kube.list("apiregistration.k8s.io/v1", "APIService")
    ranked = sorted(
        (service.get("spec") or {} for service in services),
        key=lambda spec: (
            -int(spec.get("groupPriorityMinimum") or 0),
            str(spec.get("group") or ""),
            -int(spec.get("versionPriority") or 0),
        ),
    )
    spellings = dict.fromkeys((word, word[:1].upper() + word[1:]))
    for spec in ranked:
        group, version = spec.get("group") or "", spec.get("version") or ""
        api_version = f"{group}/{version}" if group else str(version)
        for spelling in spellings:
            try:
                info = await kube.resource_info(api_version, spelling)
            except NotFound:
                continue
            return api_version, info.kind
    raise UserError(
        f'the cluster serves no kind "{word}"',
        hint="spell the kind as group/version/Kind, as in: lockstep trace apps/v1/Deployment web",
        code=USAGE_ERROR,
    )


def _owner(obj: Mapping[str, Any]) -> tuple[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(OWNER_NAME_LABEL) or ""), str(labels.get(OWNER_NAMESPACE_LABEL) or "")


def _source_ref(kustomization: Mapping[str, Any]) -> ObjectRef:
    ref = (kustomization.get("spec") or {}).get("sourceRef") or {}
    kind = source_kind(str(ref.get("kind", "")))
    namespace = ref.get("namespace") or (kustomization.get("metadata") or {}).get("namespace")
    return kind.ref(str(ref.get("name", "")), str(namespace or ""))


def _described(ref: ObjectRef) -> str:
    return f"{ref.kind} {ref.name}" + (f" in namespace {ref.namespace}" if ref.namespace else "")


def trace_report(found: Trace) -> Table:
    """The chain as a two-column grid: each link, then its details indented."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Object", Text(str(ObjectRef.of(found.object))))
    if found.cluster:
        grid.add_row("  Cluster", Text(f"the cluster of {found.cluster}"))
    if not found.in_inventory:
        grid.add_row("", Text("not in the Kustomization's inventory: left behind?", style="yellow"))
    spec = found.kustomization.get("spec") or {}
    status = found.kustomization.get("status") or {}
    grid.add_row("Kustomization", Text(str(ObjectRef.of(found.kustomization))))
    grid.add_row("  Path", Text(str(spec.get("path") or "./")))
    grid.add_row("  Revision", Text(str(status.get("lastAppliedRevision") or "(none applied)")))
    grid.add_row("  Ready", _ready(found.kustomization))
    grid.add_row("Source", Text(str(found.source_ref)))
    if found.source is None:
        grid.add_row("", Text("not found", style="red"))
        return grid
    artifact = (found.source.get("status") or {}).get("artifact") or {}
    grid.add_row("  URL", Text(str((found.source.get("spec") or {}).get("url", ""))))
    grid.add_row("  Revision", Text(str(artifact.get("revision") or "(no artifact)")))
    grid.add_row("  Ready", _ready(found.source))
    return grid


def _ready(obj: Mapping[str, Any]) -> Text:
    ready = condition(obj, "Ready")
    if ready is None:
        return Text("Unknown: waiting to be reconciled", style="yellow")
    status = str(ready.get("status"))
    style = {"True": "green", "False": "red"}.get(status, "yellow")
    return Text(f"{status}: {ready.get('message', '')}", style=style)
