"""``lockstep stats``: how many objects of each kind there are, how they are doing, and
the storage their artifacts take — ``flux stats`` for a quick look at a whole cluster.

Per kind: RECONCILERS (objects), RUNNING (not suspended), FAILING (Ready=False),
SUSPENDED, and STORAGE (the sum of ``status.artifact.size`` for kinds that store
artifacts). Kinds the cluster does not serve are left out.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import typer
from rich.table import Table

from lockstep.cli.context import state
from lockstep.cli.objects import (
    FLUX_KINDS,
    AllNamespacesOption,
    FluxKind,
    NamespaceOption,
    condition,
    is_suspended,
    namespace_or_default,
)
from lockstep.cli.output import print_table
from lockstep.kube import KubeClient, KubeObject, NotFound

STORING_KINDS = ("GitRepository", "OCIRepository")


@dataclass(frozen=True)
class KindStats:
    kind: str
    reconcilers: int
    running: int
    failing: int
    suspended: int
    storage_bytes: int | None
    """``None`` for kinds that store no artifact."""


def kind_stats(kind: str, objects: Iterable[KubeObject]) -> KindStats:
    listed = list(objects)
    suspended = sum(1 for obj in listed if is_suspended(obj))
    failing = sum(1 for obj in listed if (condition(obj, "Ready") or {}).get("status") == "False")
    storage = None
    if kind in STORING_KINDS:
        storage = sum(
            int(((obj.get("status") or {}).get("artifact") or {}).get("size") or 0)
            for obj in listed
        )
    return KindStats(kind, len(listed), len(listed) - suspended, failing, suspended, storage)


def human_size(size: int | None) -> str:
    """``1.5 MiB``; ``-`` for kinds that store nothing."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def stats(
    ctx: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
) -> None:
    """Count the objects of each kind: running, failing, suspended, and artifact storage.

    Example:

      lockstep stats -A
    """
    cli = state(ctx)
    where = None if all_namespaces else namespace_or_default(cli, namespace)

    async def main(kube: KubeClient) -> list[KindStats]:
        async with kube:
            return [row for kind in FLUX_KINDS if (row := await _stats(kube, kind, where))]

    rows = asyncio.run(main(cli.kube_client()))
    table = Table(box=None, pad_edge=False)
    for column in ("RECONCILERS", "RUNNING", "FAILING", "SUSPENDED", "STORAGE"):
        table.add_column(column, justify="left" if column == "RECONCILERS" else "right")
    for row in rows:
        table.add_row(
            row.kind,
            str(row.running),
            str(row.failing),
            str(row.suspended),
            human_size(row.storage_bytes),
        )
    print_table(table)


async def _stats(kube: KubeClient, kind: FluxKind, namespace: str | None) -> KindStats | None:
    try:
        objects = await kube.list(kind.api_version, kind.kind, namespace=namespace)
    except NotFound:
        return None
    return kind_stats(kind.kind, objects)
