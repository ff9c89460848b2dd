"""The ``lockstep`` command: global options, error handling, and the sub-commands.

Each group of verbs lives in its own module and registers itself on :data:`app`
here. Every error a user can cause ends as one line on stderr and a non-zero
exit code; tracebacks only with ``--verbose``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lockstep import __version__
from lockstep.cli import (
    argo,
    artifact,
    bootstrap,
    build,
    check,
    cluster,
    dev,
    helm,
    images,
    install,
    keys,
    logs,
    stats,
    uninstall,
    version,
)
from lockstep.cli import run as run_command
from lockstep.cli.context import CliState, UserError, console, error_console
from lockstep.cli.create import create_app
from lockstep.cli.delete import delete_app
from lockstep.cli.events import events
from lockstep.cli.export import export_app
from lockstep.cli.get import get_app
from lockstep.cli.reconcile import reconcile_app, resume_app, suspend_app
from lockstep.cli.trace import trace
from lockstep.cli.tree import tree_app
from lockstep.kube import KubeError

app = typer.Typer(
    name="lockstep",
    help=(
        "lockstep keeps Kubernetes clusters in lockstep with Git and OCI registries.\n\n"
        "Examples:\n\n"
        "  lockstep dev cluster up      # start the local control plane\n\n"
        "  lockstep install             # CRDs, RBAC and the engine on this cluster\n\n"
        "  lockstep run                 # run the controllers against the current context\n\n"
        "  lockstep get all -A          # what lockstep reconciles, and how it is doing"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(dev.app, name="dev")
app.command(name="install")(install.install)
app.command(name="check")(check.check)
app.command(name="stats")(stats.stats)
app.command(name="uninstall")(uninstall.uninstall)
app.command(name="version")(version.version)
app.add_typer(bootstrap.app, name="bootstrap")
app.add_typer(build.build_app, name="build")
app.add_typer(build.diff_app, name="diff")
for verb_app, command in (
    (build.build_app, helm.build_helmrelease),
    (build.diff_app, helm.diff_helmrelease),
    (tree_app, helm.tree_helmrelease),
):
    verb_app.command("helmrelease")(command)
    verb_app.command("hr", hidden=True)(command)
app.command(name="run")(run_command.run)
app.add_typer(get_app, name="get")
app.add_typer(tree_app, name="tree")
app.command(name="events")(events)
app.command(name="logs")(logs.logs)
app.command(name="trace")(trace)
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(suspend_app, name="suspend")
app.add_typer(resume_app, name="resume")
app.add_typer(create_app, name="create")
app.add_typer(delete_app, name="delete")
app.add_typer(export_app, name="export")
app.add_typer(artifact.push_app, name="push")
app.add_typer(artifact.pull_app, name="pull")
app.add_typer(artifact.tag_app, name="tag")
app.add_typer(artifact.list_app, name="list")
app.add_typer(keys.generate_app, name="generate")
app.add_typer(images.image_app, name="image")
app.add_typer(argo.application_app, name="app")
app.add_typer(argo.project_app, name="proj")
app.add_typer(cluster.cluster_app, name="cluster")


def _print_version(value: bool) -> None:
    if value:
        console.print(f"lockstep {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(envvar="KUBECONFIG", help="Path to the kubeconfig file to use."),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="The kubeconfig context to use.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """lockstep: a GitOps engine that serves the Flux toolkit APIs."""
    ctx.obj = CliState(kubeconfig=kubeconfig, context=context, verbose=verbose)


def run() -> None:
    """Entry point of the console script."""
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    try:
        app()
    except (UserError, KubeError) as error:
        if verbose:
            raise
        error_console.print(f"[bold red]error:[/] {error}")
        if isinstance(error, UserError) and error.hint:
            error_console.print(f"[dim]hint: {error.hint}[/]")
        sys.exit(error.code if isinstance(error, UserError) else 1)
