"""``lockstep events``: the Kubernetes Events recorded about lockstep's objects, oldest first.

The engine records an Event on every transition that matters (a new artifact, a
failure, a recovery, what a reconciliation changed; see
:mod:`lockstep.runtime.events`); this lists them for the Flux kinds, optionally
for one object. ``reconcile`` reads the newest ReconciliationSucceeded Event here
to say what a reconciliation changed.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from lockstep.api.kinds import KINDS
from lockstep.cli.context import UserError, error_console, state
from lockstep.cli.objects import (
    USAGE_ERROR,
    AllNamespacesOption,
    FluxKind,
    NamespaceOption,
    fetch,
    flux_kind_named,
    namespace_or_default,
)
from lockstep.cli.output import age, parse_timestamp, print_table
from lockstep.kube import KubeClient, KubeObject

SERVED = {(info.group, info.kind) for info in KINDS}

ForOption = Annotated[
    str | None,
    typer.Option(
        "--for",
        help="Only the events about this object, as Kind/name: Kustomization/apps, ks/apps.",
    ),
]


def events(
    ctx: typer.Context,
    for_object: ForOption = None,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
) -> None:
    """List the events lockstep recorded about its objects, oldest first.

    Example:

      lockstep events --for Kustomization/apps -n flux-system
    """
    cli = state(ctx)
    target = _parse_for(for_object) if for_object else None
    where = None if all_namespaces else namespace_or_default(cli, namespace)
    found = asyncio.run(_events(cli.kube_client(), where, target))
    if not found:
        error_console.print(
            f"no events found {'anywhere' if where is None else f'in namespace {where}'}"
        )
        return
    print_table(events_table(found, now=datetime.now(UTC), all_namespaces=where is None))


def _parse_for(value: str) -> tuple[FluxKind, str]:
    word, _, name = value.partition("/")
    kind = flux_kind_named(word)
    if kind is None or not name:
        raise UserError(
            f'--for "{value}" does not name a lockstep object',
            hint="write it as Kind/name, e.g. --for Kustomization/apps or --for GitRepository/repo",
            code=USAGE_ERROR,
        )
    return kind, name


async def _events(
    kube: KubeClient, namespace: str | None, target: tuple[FluxKind, str] | None
) -> list[KubeObject]:
    async with kube:
        if target is not None and namespace is not None:
            await fetch(kube, target[0], target[1], namespace)
        found = await lockstep_events(kube, namespace)
    if target is None:
        return found
    kind, name = target
    return [event for event in found if is_about(event, kind.kind, name)]


async def lockstep_events(kube: KubeClient, namespace: str | None) -> list[KubeObject]:
    """The Events about objects of lockstep's kinds in ``namespace`` (``None``: all), oldest first."""
    listed = await kube.list("v1", "Event", namespace=namespace)
    return sorted((event for event in listed if is_about_served_kind(event)), key=_sort_key)


def is_about_served_kind(event: Mapping[str, Any]) -> bool:
    involved = event.get("involvedObject") or {}
    group = str(involved.get("apiVersion", "")).rpartition("/")[0]
    return (group, involved.get("kind")) in SERVED


def is_about(event: Mapping[str, Any], kind: str, name: str) -> bool:
    involved = event.get("involvedObject") or {}
    return bool(involved.get("kind") == kind and involved.get("name") == name)


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When the event last happened, from whichever timestamp its writer filled in."""
    for value in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        when = parse_timestamp(str(value)) if value else None
        if when is not None:
            return when
    return None


def _sort_key(event: Mapping[str, Any]) -> datetime:
    return event_time(event) or datetime.min.replace(tzinfo=UTC)


def events_table(
    found: Sequence[Mapping[str, Any]], *, now: datetime, all_namespaces: bool
) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    if all_namespaces:
        table.add_column("NAMESPACE", no_wrap=True)
    for column in ("LAST SEEN", "TYPE", "REASON", "OBJECT"):
        table.add_column(column, no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    for event in found:
        involved = event.get("involvedObject") or {}
        kind = str(event.get("type", ""))
        cells = [
            Text(age(event_time(event), now)),
            Text(kind, style="red" if kind == "Warning" else ""),
            Text(str(event.get("reason", ""))),
            Text(f"{involved.get('kind')}/{involved.get('name')}"),
            Text(str(event.get("message", ""))),
        ]
        namespace = str((event.get("metadata") or {}).get("namespace", ""))
        table.add_row(*([Text(namespace), *cells] if all_namespaces else cells))
    return table
