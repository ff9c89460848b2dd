"""``lockstep check``: can lockstep run on this cluster, and is it installed?

Three checks, each one line with a mark: the Kubernetes version is one lockstep
supports; which of Flux's kinds the cluster serves; the current user may do what
the engine does (asked with SelfSubjectAccessReviews: read and watch everything,
apply anywhere, write the status of lockstep's kinds, hold a Lease). Exit 0 when
all pass, 1 when one fails; ``--pre`` skips the kinds check, for before
``lockstep install``.

The kinds check lists the kinds served and reconciled, those served but not
reconciled by lockstep yet (Flux's controllers may reconcile them), and the
absent ones, whose CRD is not installed (a warning: lockstep runs with any
subset, and starts a kind's controller once its CRD appears). It fails when a
CRD is not Established or when no kind lockstep reconciles is served.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Annotated

import typer

from lockstep.api.kinds import KINDS, RECONCILED_KINDS, KindInfo
from lockstep.cli.context import console, state
from lockstep.kube import KubeClient, KubeError
from lockstep.runtime.served import CRD_API_VERSION, CRD_KIND, is_established, served_by

MINIMUM_VERSION = (1, 30)

# (verb, group, resource): what the engine does, asked for all namespaces.
PERMISSIONS = (
    ("list", "*", "*"),
    ("watch", "*", "*"),
    ("patch", "*", "*"),
    ("delete", "*", "*"),
    *(
        ("patch", info.group, f"{info.plural}/status")
        for info in RECONCILED_KINDS
        if info.status_subresource
    ),
    ("create", "coordination.k8s.io", "leases"),
    ("create", "", "events"),
)


@dataclass(frozen=True)
class Result:
    passed: bool
    message: str
    warning: bool = False
    """Worth knowing, but not a failure."""


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
        console.print(f"{_mark(result)} {result.message}")
    if not all(result.passed for result in results):
        raise typer.Exit(1)
    console.print("[green]✓[/] all checks passed")


def _mark(result: Result) -> str:
    if not result.passed:
        return "[red]✗[/]"
    return "[yellow]![/]" if result.warning else "[green]✓[/]"


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
    try:
        crds = await kube.list(CRD_API_VERSION, CRD_KIND)
    except KubeError as error:
        return [Result(False, f"cannot list the CustomResourceDefinitions: {error.message}")]
    pending = sorted(
        crd["metadata"]["name"]
        for crd in crds
        if crd["metadata"]["name"] in {info.crd_name for info in KINDS} and not is_established(crd)
    )
    if pending:
        return [
            Result(False, f"CRD {pending[0]} is not Established; kubectl describe crd {pending[0]}")
        ]
    return kinds_report({pair for crd in crds for pair in served_by(crd)})


def kinds_report(served: set[tuple[str, str]]) -> list[Result]:
    """What the cluster serves of Flux's kinds, given the ``(apiVersion, kind)`` pairs it serves."""
    present = [info for info in KINDS if (info.api_version, info.kind) in served]
    absent = [info for info in KINDS if info not in present]
    reconciled = [info for info in present if info.reconciled]
    if not reconciled:
        return [Result(False, "no kind lockstep reconciles is served; run lockstep install --crds")]
    results = [Result(True, f"served and reconciled: {_kinds(reconciled)}")]
    only_served = [info for info in present if not info.reconciled]
    if only_served:
        results.append(
            Result(True, f"served, not reconciled by lockstep yet: {_kinds(only_served)}")
        )
    if absent:
        results.append(
            Result(
                True,
                f"absent (no CRD serves them): {_kinds(absent)}; lockstep runs without them "
                "and starts a kind's controller once its CRD is installed (lockstep install --crds)",
                warning=True,
            )
        )
    else:
        results.append(Result(True, f"{len(KINDS)} CRDs installed and Established"))
    return results


def _kinds(infos: list[KindInfo]) -> str:
    return ", ".join(info.kind for info in infos)


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
