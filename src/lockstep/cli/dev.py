"""``lockstep dev``: the local control plane and sandbox.

Prints progress while the control plane builds (first run only) and starts;
errors from the sandbox become one-line :class:`UserError` messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lockstep.cli.context import UserError, console
from lockstep.cli.demo import run_demo
from lockstep.dev.cluster import (
    DEFAULT_NAME,
    DEFAULT_PORT,
    ClusterError,
    ClusterStatus,
    LocalCluster,
)
from lockstep.dev.toolchain import ToolchainError, ensure_binaries

app = typer.Typer(help="The local sandbox: a real Kubernetes control plane on this machine.")
cluster_app = typer.Typer(
    help=(
        "Manage the local control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler and kwok simulated nodes).\n\n"
        "Example:\n\n"
        "  lockstep dev cluster up && export KUBECONFIG=$(lockstep dev cluster kubeconfig)"
    ),
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

NameOption = Annotated[str, typer.Option("--name", help="Name of the local cluster.")]
BuildProgress = Callable[[str, int, int], None]


@contextmanager
def build_progress() -> Iterator[BuildProgress]:
    """A progress bar for the control plane build; it shows only while Go compiles."""
    with Progress(
        TextColumn("[bold]building the control plane[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(package: str, done: int, total: int) -> None:
            bar.update(task, description=package[-50:], completed=done, total=total)

        yield update


def start_cluster(cluster: LocalCluster) -> ClusterStatus:
    """Bring ``cluster`` up, showing the build's progress and each step."""

    def step(message: str) -> None:
        console.print(f"[dim]•[/] {message}")

    with build_progress() as building:
        try:
            return cluster.up(step, building)
        except (ClusterError, ToolchainError) as error:
            raise UserError(str(error), hint="lockstep dev cluster down, then up again") from error


@cluster_app.command("up")
def cluster_up(
    name: NameOption = DEFAULT_NAME,
    port: Annotated[
        int | None,
        typer.Option(
            help=f"API server port on 127.0.0.1 (0 picks a free one); default {DEFAULT_PORT} "
            "for the default cluster, a free one for a cluster named otherwise.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the local control plane, building it on first use; safe to run again.

    Example: lockstep dev cluster up

    Example (a second cluster beside it): lockstep dev cluster up --name staging
    """
    if port is None:
        port = DEFAULT_PORT if name == DEFAULT_NAME else 0
    cluster = LocalCluster(name, port=port)
    status = start_cluster(cluster)
    console.print(
        f"[green]✓[/] cluster [bold]{status.name}[/] is up: Kubernetes {status.kubernetes_version} "
        f"at {status.api_server}, {status.ready_nodes} node(s) Ready"
    )
    console.print(f"export KUBECONFIG={cluster.kubeconfig}")


@cluster_app.command("down")
def cluster_down(name: NameOption = DEFAULT_NAME) -> None:
    """Stop the local control plane and delete its data.

    Example: lockstep dev cluster down
    """
    try:
        removed = LocalCluster(name).down()
    except (ClusterError, ToolchainError) as error:
        raise UserError(str(error)) from error
    console.print(f"[green]✓[/] cluster {name} deleted" if removed else f"no cluster named {name}")


@cluster_app.command("status")
def cluster_status(name: NameOption = DEFAULT_NAME) -> None:
    """Show whether the local control plane runs, with its version, address and nodes.

    Exits 1 when the cluster is not running.

    Example: lockstep dev cluster status
    """
    cluster = LocalCluster(name)
    status = cluster.status()
    if status.running:
        state = "[green]running[/]"
    else:
        state = f"[red]{status.problem or ('stopped' if status.exists else 'not created')}[/]"
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("cluster", name)
    table.add_row("state", state)
    if status.running:
        table.add_row("kubernetes", status.kubernetes_version)
        table.add_row("api server", status.api_server)
        table.add_row("nodes ready", str(status.ready_nodes))
        table.add_row("kubeconfig", str(cluster.kubeconfig))
    console.print(table)
    if not status.running:
        raise typer.Exit(1)


@cluster_app.command("kubeconfig")
def cluster_kubeconfig(
    name: NameOption = DEFAULT_NAME,
    inline: Annotated[
        bool,
        typer.Option(
            "--inline",
            help="Print the kubeconfig itself, certificates included, instead of its path "
            "(for a kubeconfig Secret of a Kustomization on another cluster).",
        ),
    ] = False,
) -> None:
    """Print the path of the local cluster's kubeconfig, or with --inline the kubeconfig.

    Example: export KUBECONFIG=$(lockstep dev cluster kubeconfig)

    Example: lockstep dev cluster kubeconfig --name staging --inline > staging.yaml &&
    kubectl create secret generic staging-kubeconfig --from-file=value=staging.yaml
    """
    cluster = LocalCluster(name)
    if not cluster.kubeconfig.is_file():
        raise UserError(f"cluster {name} has no kubeconfig yet", hint="lockstep dev cluster up")
    if not inline:
        typer.echo(str(cluster.kubeconfig))
        return
    try:
        typer.echo(cluster.portable_kubeconfig(), nl=False)
    except (ClusterError, OSError) as error:
        raise UserError(str(error), hint=f"lockstep dev cluster up --name {name}") from error


@cluster_app.command("build")
def cluster_build() -> None:
    """Build the control plane binaries from the pinned Go modules (cached after the first run).

    Example: lockstep dev cluster build
    """
    with build_progress() as building:
        try:
            binaries = ensure_binaries(building)
        except ToolchainError as error:
            raise UserError(str(error)) from error
    console.print(
        f"[green]✓[/] Kubernetes {binaries.kubernetes_version} binaries in {binaries.directory}"
    )


@app.command("demo")
def demo(
    name: NameOption = DEFAULT_NAME,
    port: Annotated[
        int, typer.Option(help="API server port on 127.0.0.1 (0 picks a free one).")
    ] = DEFAULT_PORT,
    exit_when_ready: Annotated[
        bool, typer.Option("--exit-when-ready", help="Stop once every Kustomization is Ready.")
    ] = False,
) -> None:
    """Run the GitOps loop on the local sandbox: Git repository, CRDs, engine, Kustomizations.

    Example: lockstep dev demo
    """
    cluster = LocalCluster(name, port=port)
    start_cluster(cluster)
    run_demo(cluster, exit_when_ready=exit_when_ready)
