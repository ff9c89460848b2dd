"""``lockstep get``: the status of sources, Kustomizations, HelmReleases, Receivers and image
automation objects, as ``flux get`` shows it.

One row per object (:class:`~lockstep.cli.output.StatusRow`): name, revision
(or the column ``flux get`` shows in its place for the kind), suspended, ready,
message and age, as a table or as data for scripts
(``-o json|yaml``). ``--watch`` lists, then follows the API watch from the
listing's resourceVersion (relisting when it expires) until Ctrl-C: in a
terminal the table is redrawn in place; otherwise each change is printed as it
comes, one row per line, or one JSON object per line with ``-o json``.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from lockstep.cli.context import console, error_console, state
from lockstep.cli.objects import (
    FLUX_KINDS,
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_RELEASE,
    HELM_REPOSITORY,
    IMAGE_KINDS,
    IMAGE_POLICY,
    IMAGE_REPOSITORY,
    IMAGE_UPDATE_AUTOMATION,
    KUSTOMIZATION,
    OCI_REPOSITORY,
    RECEIVER,
    SOURCE_KINDS,
    AllNamespacesOption,
    FluxKind,
    NamespaceOption,
    ensure_served,
    name_of,
    namespace_or_default,
    not_found,
)
from lockstep.cli.output import (
    DEFAULT_WEBHOOK_BASE_URL,
    OutputFormat,
    OutputOption,
    StatusRow,
    data_text,
    print_table,
    status_row,
    status_table,
)
from lockstep.kube import Expired, KubeClient, KubeObject, WatchEvent

get_app = typer.Typer(help="Show the status of lockstep's objects.", no_args_is_help=True)
sources_app = typer.Typer(help="Show the status of sources.", no_args_is_help=True)
get_app.add_typer(sources_app, name="sources")
get_app.add_typer(sources_app, name="source", hidden=True)
images_app = typer.Typer(help="Show the status of image automation objects.", no_args_is_help=True)
get_app.add_typer(images_app, name="images")
get_app.add_typer(images_app, name="image", hidden=True)

NameArgument = Annotated[
    str | None, typer.Argument(help="Show only the object with this name.", show_default=False)
]
WatchOption = Annotated[
    bool, typer.Option("--watch", "-w", help="Keep showing changes until Ctrl-C.")
]
WebhookBaseUrlOption = Annotated[
    str,
    typer.Option(
        "--webhook-base-url",
        help="Where lockstep's webhook server is reached; the receivers' paths are joined to it.",
    ),
]

RowKey = tuple[str, str, str]


@dataclass(frozen=True)
class Query:
    """What to show, and how."""

    kinds: tuple[FluxKind, ...]
    name: str | None
    namespace: str | None
    """``None`` for every namespace."""
    output: OutputFormat
    webhook_base_url: str = DEFAULT_WEBHOOK_BASE_URL

    def row(self, obj: KubeObject) -> StatusRow:
        return status_row(obj, webhook_base_url=self.webhook_base_url)

    def wanted(self, obj: KubeObject) -> bool:
        return self.name is None or name_of(obj) == self.name


def _kind_command(
    app: typer.Typer, names: tuple[str, ...], kind: FluxKind, summary: str, example: str
) -> None:
    """Register ``get <names[0]>`` (the other names hidden aliases) for one kind."""

    def command(
        ctx: typer.Context,
        name: NameArgument = None,
        namespace: NamespaceOption = None,
        all_namespaces: AllNamespacesOption = False,
        watch: WatchOption = False,
        output: OutputOption = OutputFormat.TABLE,
    ) -> None:
        _get(ctx, (kind,), name, namespace, all_namespaces, watch, output)

    command.__doc__ = f"{summary}\n\nExample:\n\n  {example}\n"
    command.__name__ = f"get_{names[0].replace('-', '_')}"
    for index, alias in enumerate(names):
        app.command(alias, hidden=index > 0)(command)


_kind_command(
    sources_app,
    ("git",),
    GIT_REPOSITORY,
    "Show GitRepositories: the revision of their artifact and whether they are Ready.",
    "lockstep get sources git -A",
)
_kind_command(
    sources_app,
    ("oci",),
    OCI_REPOSITORY,
    "Show OCIRepositories: the revision of their artifact and whether they are Ready.",
    "lockstep get sources oci -n flux-system -o json",
)
_kind_command(
    sources_app,
    ("helm",),
    HELM_REPOSITORY,
    "Show HelmRepositories: the revision of their index and whether they are Ready.",
    "lockstep get sources helm -A",
)
_kind_command(
    sources_app,
    ("chart",),
    HELM_CHART,
    "Show HelmCharts: the chart version they stored and whether they are Ready.",
    "lockstep get sources chart -n flux-system",
)
_kind_command(
    images_app,
    ("repository",),
    IMAGE_REPOSITORY,
    "Show ImageRepositories: when their tags were last scanned and whether they are Ready.",
    "lockstep get images repository -A",
)
_kind_command(
    images_app,
    ("policy",),
    IMAGE_POLICY,
    "Show ImagePolicies: the image each one elected and whether they are Ready.",
    "lockstep get images policy -n flux-system",
)
_kind_command(
    images_app,
    ("update",),
    IMAGE_UPDATE_AUTOMATION,
    "Show ImageUpdateAutomations: when each one last ran and whether they are Ready.",
    "lockstep get images update -n flux-system --watch",
)
_kind_command(
    get_app,
    ("kustomizations", "kustomization", "ks"),
    KUSTOMIZATION,
    "Show Kustomizations: the revision they applied and whether they are Ready (alias: ks).",
    "lockstep get ks -A --watch",
)
_kind_command(
    get_app,
    ("helmreleases", "helmrelease", "hr"),
    HELM_RELEASE,
    "Show HelmReleases: the chart version they released and whether they are Ready (alias: hr).",
    "lockstep get hr -A",
)


@sources_app.command("all")
def get_sources(
    ctx: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
    watch: WatchOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show every source: Git, OCI and Helm repositories, and HelmCharts.

    Example:

      lockstep get sources all -A
    """
    _get(ctx, SOURCE_KINDS, None, namespace, all_namespaces, watch, output)


@images_app.command("all")
def get_images(
    ctx: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
    watch: WatchOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show every ImageRepository, ImagePolicy and ImageUpdateAutomation.

    Example:

      lockstep get images all -A
    """
    _get(ctx, IMAGE_KINDS, None, namespace, all_namespaces, watch, output)


@get_app.command("receivers")
@get_app.command("receiver", hidden=True)
def get_receivers(
    ctx: typer.Context,
    name: NameArgument = None,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
    watch: WatchOption = False,
    output: OutputOption = OutputFormat.TABLE,
    webhook_base_url: WebhookBaseUrlOption = DEFAULT_WEBHOOK_BASE_URL,
) -> None:
    """Show Receivers and the URL of each one's webhook.

    Example:

      lockstep get receivers -n flux-system --webhook-base-url https://hooks.example.com
    """
    _get(ctx, (RECEIVER,), name, namespace, all_namespaces, watch, output, webhook_base_url)


@get_app.command("all")
def get_all(
    ctx: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
    watch: WatchOption = False,
    output: OutputOption = OutputFormat.TABLE,
    webhook_base_url: WebhookBaseUrlOption = DEFAULT_WEBHOOK_BASE_URL,
) -> None:
    """Show every source, image automation object, Kustomization, HelmRelease and Receiver.

    Example:

      lockstep get all -n flux-system
    """
    _get(ctx, FLUX_KINDS, None, namespace, all_namespaces, watch, output, webhook_base_url)


def _get(
    ctx: typer.Context,
    kinds: tuple[FluxKind, ...],
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    watch: bool,
    output: OutputFormat,
    webhook_base_url: str = DEFAULT_WEBHOOK_BASE_URL,
) -> None:
    cli = state(ctx)
    where = None if all_namespaces else namespace_or_default(cli, namespace)
    query = Query(kinds, name, where, output, webhook_base_url)
    try:
        asyncio.run(show_status(cli.kube_client(), query, watch))
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends.
        raise typer.Exit(0) from None


async def show_status(kube: KubeClient, query: Query, watch: bool) -> None:
    """Print the rows the query selects; with ``watch``, keep printing their changes."""
    async with kube:
        versions: dict[FluxKind, str] = {}
        rows: dict[RowKey, StatusRow] = {}
        for kind in query.kinds:
            await ensure_served(kube, kind)
            items, versions[kind] = await kube.list_with_version(
                kind.api_version, kind.kind, namespace=query.namespace
            )
            rows.update((row.key, row) for row in map(query.row, filter(query.wanted, items)))
        if not watch:
            _print_once(query, list(rows.values()))
            return
        view = _view(query, rows)
        with view:
            await asyncio.gather(
                *(
                    _follow(kube, kind, query.namespace, version, view.change)
                    for kind, version in versions.items()
                )
            )


def _print_once(query: Query, rows: list[StatusRow]) -> None:
    if query.name is not None and not rows:
        raise not_found(query.kinds[0], query.name, query.namespace)
    if query.output != OutputFormat.TABLE:
        typer.echo(data_text([row.data() for row in _ordered(query, rows)], query.output), nl=False)
        return
    if rows:
        print_table(render_tables(query, rows, datetime.now(UTC)))
        return
    where = "in any namespace" if query.namespace is None else f"in namespace {query.namespace}"
    error_console.print(f"no {' or '.join(k.kind for k in query.kinds)} objects found {where}")


def _ordered(query: Query, rows: Iterable[StatusRow]) -> list[StatusRow]:
    order = {kind.kind: index for index, kind in enumerate(query.kinds)}
    return sorted(rows, key=lambda row: (order.get(row.kind, 0), row.namespace, row.name))


def render_tables(query: Query, rows: Iterable[StatusRow], now: datetime) -> RenderableType:
    """One table per kind that has rows, blank lines between; names carry the kind when
    several kinds are shown, as in ``flux get all``."""
    several = len(query.kinds) > 1
    tables: list[RenderableType] = []
    ordered = _ordered(query, rows)
    for kind in query.kinds:
        of_kind = [row for row in ordered if row.kind == kind.kind]
        if of_kind:
            if tables:
                tables.append(Text(""))
            tables.append(
                status_table(
                    of_kind, now=now, all_namespaces=query.namespace is None, kind_prefix=several
                )
            )
    return Group(*tables)


async def _follow(
    kube: KubeClient,
    kind: FluxKind,
    namespace: str | None,
    version: str,
    on_change: Callable[[WatchEvent], None],
) -> None:
    """Pass every change of ``kind`` to ``on_change``, forever; after a 410 Gone the
    objects are listed again and passed on as modified."""
    while True:
        try:
            async for event in kube.watch(
                kind.api_version, kind.kind, resource_version=version, namespace=namespace
            ):
                version = event.resource_version or version
                if event.type != "BOOKMARK":
                    on_change(event)
        except Expired:
            items, version = await kube.list_with_version(
                kind.api_version, kind.kind, namespace=namespace
            )
            for item in items:
                on_change(WatchEvent("MODIFIED", item))


class _View(ABC):
    """Shows the rows of a watch; ``change`` takes each event."""

    def __init__(self, query: Query, rows: dict[RowKey, StatusRow]) -> None:
        self.query = query
        self.rows = rows

    def __enter__(self) -> _View:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def change(self, event: WatchEvent) -> None:
        if not self.query.wanted(event.object):
            return
        row = self.query.row(event.object)
        if event.type == "DELETED":
            self.rows.pop(row.key, None)
        elif self.rows.get(row.key) == row:
            # Most modifications are status rewrites that change nothing shown.
            return
        else:
            self.rows[row.key] = row
        self.show(event.type, row)

    @abstractmethod
    def show(self, event_type: str, row: StatusRow) -> None: ...


class _LiveTable(_View):
    """In a terminal: the whole table, redrawn in place (ages too, once a second)."""

    def __init__(self, query: Query, rows: dict[RowKey, StatusRow]) -> None:
        super().__init__(query, rows)
        self.live = Live(get_renderable=self._render, console=console, refresh_per_second=1)

    def _render(self) -> RenderableType:
        if not self.rows:
            return Text("nothing yet; waiting for changes (Ctrl-C to stop)", style="dim")
        return render_tables(self.query, self.rows.values(), datetime.now(UTC))

    def __enter__(self) -> _View:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def show(self, event_type: str, row: StatusRow) -> None:
        self.live.refresh()


class _StreamedRows(_View):
    """Not in a terminal: the table once, then one line per change."""

    def __enter__(self) -> _View:
        if self.rows:
            print_table(render_tables(self.query, self.rows.values(), datetime.now(UTC)))
        return self

    def show(self, event_type: str, row: StatusRow) -> None:
        if event_type == "DELETED":
            row = dataclasses.replace(row, ready="Deleted", message="deleted")
        several = len(self.query.kinds) > 1
        print_table(
            status_table(
                [row],
                now=datetime.now(UTC),
                all_namespaces=self.query.namespace is None,
                kind_prefix=several,
                header=False,
            )
        )


class _StreamedData(_View):
    """``-o json`` (one object per line) or ``-o yaml`` (one document per change)."""

    def __enter__(self) -> _View:
        for row in _ordered(self.query, self.rows.values()):
            self.show("ADDED", row)
        return self

    def show(self, event_type: str, row: StatusRow) -> None:
        data = {"event": event_type, **row.data()}
        if self.query.output == OutputFormat.JSON:
            typer.echo(json.dumps(data))
        else:
            typer.echo("---\n" + data_text(data, OutputFormat.YAML), nl=False)


def _view(query: Query, rows: dict[RowKey, StatusRow]) -> _View:
    if query.output != OutputFormat.TABLE:
        return _StreamedData(query, rows)
    if console.is_terminal:
        return _LiveTable(query, rows)
    return _StreamedRows(query, rows)
