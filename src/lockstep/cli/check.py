"""``lockstep check``: can lockstep run on this cluster, and is it installed?

Three checks, each one line with a mark: the Kubernetes version is one lockstep
supports; every CRD lockstep serves is installed and Established; the current
user may do what the engine does (asked with SelfSubjectAccessReviews: read and
watch everything, apply anywhere, write the status of lockstep's kinds, hold a
Lease). Exit 0 when all pass, 1 when one fails; ``--pre`` skips the CRD check,
for before ``lockstep install``.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Annotated

import typer

from lockstep.api.crds import crd_manifests
from lockstep.cli.context import console, state
from lockstep.kube import KubeClient, KubeError, NotFound, ObjectRef

MINIMUM_VERSION = (1, 30)

# (verb, group, resource): what the engine does, asked for all namespaces.
PERMISSIONS = (
    ("list", "*", "*"),
    ("watch", "*", "*"),
    ("patch", "*", "*"),
    ("delete", "*", "*"),
    ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations/status"),
    ("patch", "source.toolkit.fluxcd.io", "gitrepositories/status"),
    ("create", "coordination.k8s.io", "leases"),
    ("create", "", "events"),
)


@dataclass(frozen=True)
class Result:
    passed: bool
    message: str


def check(
    ctx: typer.Context,
    pre: Annotated[
        bool, typer.Option("--pre", help="Only the checks that apply before lockstep install.")
    ] = False,
) -> None:
    """Check the cluster: Kubernetes version, lockstep's CRDs, and permissions.

    Examples:

      lockstep check --pre    # before lockstep install

      lockstep check
    """
    results = asyncio.run(_check(state(ctx).kube_client(), pre))
    for result in results:
        mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
        console.print(f"{mark} {result.message}")
    if not all(result.passed for result in results):
        raise typer.Exit(1)
    console.print("[green]✓[/] all checks passed")


async def _check(kube: KubeClient, pre: bool) -> list[Result]:
    async with kube:
        results = [await _version(kube)]
        if not pre:
            results += await _crds(kube)
        results.append(await _permissions(kube))
        return results


async def _version(kube: KubeClient) -> Result:
    version = await kube.server_version()
    found = re.match(r"v?(\d+)\.(\d+)", version)
    supported = ".".join(map(str, MINIMUM_VERSION))
    if found and (int(found[1]), int(found[2])) >= MINIMUM_VERSION:
        return Result(True, f"Kubernetes {version} (>= {supported})")
    return Result(False, f"Kubernetes {version} is older than {supported}; upgrade the cluster")


async def _crds(kube: KubeClient) -> list[Result]:
    missing, pending = [], []
    for manifest in crd_manifests():
        name = manifest["metadata"]["name"]
        try:
            crd = await kube.get(
                ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            )
        except NotFound:
            missing.append(name)
            continue
        conditions = (crd.get("status") or {}).get("conditions") or []
        if not any(
            c.get("type") == "Established" and c.get("status") == "True" for c in conditions
        ):
            pending.append(name)
    if missing:
        return [
            Result(
                False,
                f"CRD {missing[0]} (and {len(missing) - 1} more) not installed; run lockstep install",
            )
        ]
    if pending:
        return [
            Result(False, f"CRD {pending[0]} is not Established; kubectl describe crd {pending[0]}")
        ]
    return [Result(True, f"{len(crd_manifests())} CRDs installed and Established")]


async def _permissions(kube: KubeClient) -> Result:
    for verb, group, resource in PERMISSIONS:
        plural, _, subresource = resource.partition("/")
        try:
            allowed = await kube.may(verb, group, plural, subresource)
        except KubeError as error:
            return Result(False, f"cannot ask the API server about permissions: {error.message}")
        if not allowed:
            shown = f"{group}/{resource}" if group not in ("", "*") else resource
            return Result(
                False, f"not allowed to {verb} {shown}; lockstep needs cluster-admin rights"
            )
    return Result(True, "permissions: read, watch, apply and delete everywhere")
