"""``lockstep uninstall``: take lockstep off a cluster and leave what it applied running.

In this order, so that nothing reconciled is lost: the engine's Deployment,
ServiceAccount and ClusterRoleBinding (what ``lockstep install`` labelled
``app.kubernetes.io/part-of=lockstep``) are deleted, so no engine re-adds a
finalizer; the finalizers of every object of lockstep's kinds are removed, so
deleting them prunes nothing; then the CRDs go, and with them those objects;
CRDs without lockstep's ``lockstep.io/reconciled`` label were installed by another
tool (Argo CD's own) and are left, with their objects; then the namespace, unless
``--keep-namespace``. The workloads a Kustomization
applied stay as they are. An engine started elsewhere with ``lockstep run``
must be stopped first. ``--dry-run`` lists what would be deleted and changes
nothing; without ``--silent`` the command asks first.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Annotated

import typer

from lockstep.api.crds import crd_manifests
from lockstep.api.kinds import RECONCILED_LABEL
from lockstep.cli.components import DEFAULT_NAMESPACE, LABELS
from lockstep.cli.context import UserError, console, state
from lockstep.cli.objects import USAGE_ERROR
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

PART_OF = {"app.kubernetes.io/part-of": LABELS["app.kubernetes.io/part-of"]}
ENGINE_POD = {"app.kubernetes.io/name": LABELS["app.kubernetes.io/name"]}
ENGINE_KINDS = (
    ("apps/v1", "Deployment", True),
    ("v1", "ServiceAccount", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
)
"""What ``lockstep install`` creates besides CRDs and the namespace: (apiVersion, kind, namespaced)."""

GONE_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.5


@dataclass
class Removal:
    """What an uninstall deletes, in order."""

    engine: list[ObjectRef] = field(default_factory=list)
    finalized: list[ObjectRef] = field(default_factory=list)
    """Objects of lockstep's kinds whose finalizers are removed."""
    crds: list[ObjectRef] = field(default_factory=list)
    namespace: ObjectRef | None = None

    def lines(self) -> list[str]:
        described = [f"delete {ref}" for ref in self.engine]
        described += [f"remove the finalizers of {ref}" for ref in self.finalized]
        described += [f"delete {ref}" for ref in self.crds]
        if self.namespace is not None:
            described.append(f"delete {self.namespace}")
        return described


def uninstall(
    ctx: typer.Context,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of the engine.")
    ] = DEFAULT_NAMESPACE,
    keep_namespace: Annotated[
        bool, typer.Option("--keep-namespace", help="Leave the engine's namespace in place.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; change nothing.")
    ] = False,
    silent: Annotated[bool, typer.Option("--silent", "-s", help="Do not ask first.")] = False,
) -> None:
    """Remove lockstep's engine, CRDs and namespace; what it applied keeps running.

    Examples:

      lockstep uninstall --dry-run

      lockstep uninstall --keep-namespace --silent
    """
    cli = state(ctx)
    removal = asyncio.run(_plan(cli.kube_client(), namespace, keep_namespace))
    if dry_run or not silent:
        for line in removal.lines():
            console.print(f"  {line}", markup=False, highlight=False)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    if not silent:
        if not sys.stdin.isatty():
            raise UserError(
                "lockstep uninstall asks before deleting, and there is no terminal to ask in",
                hint="add --silent to uninstall without asking",
                code=USAGE_ERROR,
            )
        typer.confirm("Uninstall lockstep from this cluster?", abort=True)
    asyncio.run(_uninstall(cli.kube_client(), removal))
    console.print("[green]✓[/] lockstep uninstalled; the objects it applied are left in place")


async def _plan(kube: KubeClient, namespace: str, keep_namespace: bool) -> Removal:
    removal = Removal()
    async with kube:
        for api_version, kind, namespaced in ENGINE_KINDS:
            found = await kube.list(
                api_version, kind, namespace=namespace if namespaced else None, labels=PART_OF
            )
            removal.engine.extend(_ref(api_version, kind, obj) for obj in found)
        for crd in crd_manifests():
            ref = ObjectRef(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            )
            try:
                live = await kube.get(ref)
            except NotFound:
                continue
            if RECONCILED_LABEL not in ((live.get("metadata") or {}).get("labels") or {}):
                # Installed by another tool (Argo CD's own CRDs): its objects are not ours.
                continue
            removal.crds.append(ref)
            removal.finalized.extend(await _finalized(kube, crd))
        if not keep_namespace:
            ns_ref = ObjectRef("v1", "Namespace", namespace)
            try:
                await kube.get(ns_ref)
                removal.namespace = ns_ref
            except NotFound:
                pass
    return removal


async def _finalized(kube: KubeClient, crd: KubeObject) -> list[ObjectRef]:
    """Objects of the CRD's kind, in every served version's storage, that carry finalizers."""
    spec = crd["spec"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    api_version = f"{spec['group']}/{storage}"
    try:
        objects = await kube.list(api_version, spec["names"]["kind"])
    except NotFound:
        return []
    kind = spec["names"]["kind"]
    return [
        _ref(api_version, kind, obj)
        for obj in objects
        if (obj.get("metadata") or {}).get("finalizers")
    ]


def _ref(api_version: str, kind: str, obj: KubeObject) -> ObjectRef:
    metadata = obj.get("metadata") or {}
    return ObjectRef(api_version, kind, str(metadata["name"]), str(metadata.get("namespace") or ""))


async def _uninstall(kube: KubeClient, removal: Removal) -> None:
    async with kube:
        for ref in removal.engine:
            await _delete(kube, ref)
        await _wait_engine_stopped(kube, removal)
        for ref in removal.finalized:
            try:
                await kube.json_patch(ref, [{"op": "remove", "path": "/metadata/finalizers"}])
            except NotFound:
                continue
        for ref in removal.crds:
            await _delete(kube, ref)
        for ref in removal.crds:
            await _wait_gone(kube, ref)
        if removal.namespace is not None:
            await _delete(kube, removal.namespace)
            await _wait_gone(kube, removal.namespace)


async def _wait_engine_stopped(kube: KubeClient, removal: Removal) -> None:
    """Wait until the engine's Pods are gone: a running engine would add finalizers back."""
    for namespace in sorted({ref.namespace for ref in removal.engine if ref.kind == "Deployment"}):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GONE_TIMEOUT_SECONDS
        while await kube.list("v1", "Pod", namespace=namespace, labels=ENGINE_POD):
            if loop.time() >= deadline:
                raise UserError(
                    f"the engine's Pods in namespace {namespace} are still running"
                    f" {GONE_TIMEOUT_SECONDS:.0f} s after its Deployment was deleted",
                    hint=f"kubectl -n {namespace} get pods -l app.kubernetes.io/name=lockstep",
                )
            await asyncio.sleep(POLL_SECONDS)


async def _delete(kube: KubeClient, ref: ObjectRef) -> None:
    try:
        await kube.delete(ref)
    except NotFound:
        return


async def _wait_gone(kube: KubeClient, ref: ObjectRef) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GONE_TIMEOUT_SECONDS
    while loop.time() < deadline:
        try:
            await kube.get(ref)
        except NotFound:
            return
        await asyncio.sleep(POLL_SECONDS)
    raise UserError(
        f"{ref} is still there {GONE_TIMEOUT_SECONDS:.0f} s after its deletion",
        hint=f"kubectl get {ref.kind.lower()} {ref.name} -o yaml shows what holds it (finalizers)",
    )
