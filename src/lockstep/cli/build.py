"""``lockstep build kustomization`` and ``lockstep diff kustomization``: a local folder
rendered exactly as the controller renders it, printed or compared with the cluster.

Both read the Kustomization from the cluster (or ``--kustomization-file``), read the
postBuild variables and decryption keys it names, and render ``--path`` through
:func:`lockstep.controllers.kustomize.build.render_objects`, the controller's own
code path, with the owner labels the controller sets. The folder is built as the
artifact of its Git repository (the nearest enclosing folder with ``.git``), so
overlays may use ``../base`` inside the repository, as they do in the cluster.

``diff`` then asks the apply engine what applying would do
(:func:`lockstep.apply.diff_all`, the planning the controller's apply runs, with the
controller's options): objects to create, objects that change (a coloured unified
diff; kubectl's fields taken over), objects recreated because an immutable field
changes (``spec.force``), objects skipped as their annotations ask, and inventory
objects that would be pruned. An object the apply would refuse (an immutable
field without ``spec.force``) is an error naming it. A Kustomization with
``spec.kubeConfig`` is compared with the cluster of its kubeconfig Secret
(:mod:`lockstep.cli.clusters`), never with the one it lives on; postBuild
variables and keys are still read where it lives, as the engine reads them.
Secret values are masked in every output. Exit codes: 0 no changes, 1 changes, 2 or more an error, so it can
gate a pull request.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape

from lockstep.api.kustomize import Kustomization
from lockstep.apply import Action, InventoryEntry, ObjectDiff, diff_all, stale_entries
from lockstep.cli.clusters import target_cluster
from lockstep.cli.context import UserError, console, error_console, state
from lockstep.cli.objects import namespace_or_default
from lockstep.controllers.kustomize.build import render_objects
from lockstep.controllers.kustomize.inputs import BuildInputs, InputUnavailable, build_inputs
from lockstep.controllers.kustomize.kustomization import API_VERSION, KIND, apply_options
from lockstep.controllers.shell import Failure
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError

build_app = typer.Typer(
    help="Render a Kustomization from a local folder, or a HelmRelease from its chart.",
    no_args_is_help=True,
)
diff_app = typer.Typer(
    help="Compare a local folder with what a Kustomization applied, or a HelmRelease's chart"
    " with its release.",
    no_args_is_help=True,
)

MASK = "***"
DIFF_ERROR = 2
"""Exit code of ``diff`` when it cannot tell (1 means: there are changes)."""

NameArgument = Annotated[str, typer.Argument(help="Name of the Kustomization.")]
PathOption = Annotated[
    Path,
    typer.Option(
        "--path", exists=True, file_okay=False, help="Local folder to build instead of spec.path."
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Namespace of the Kustomization (default: the context's)."
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--kustomization-file",
        exists=True,
        dir_okay=False,
        help="Read the Kustomization from this YAML file instead of the cluster.",
    ),
]


@dataclass(frozen=True)
class Rendered:
    kustomization: Kustomization
    objects: list[KubeObject]


@build_app.command("kustomization")
def build_kustomization_command(
    ctx: typer.Context,
    name: NameArgument,
    path: PathOption,
    namespace: NamespaceOption = None,
    kustomization_file: FileOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Do not read the cluster (needs --kustomization-file; no substituteFrom, no keys).",
        ),
    ] = False,
) -> None:
    """Print the objects a Kustomization would apply from a local folder (Secret values masked).

    Example:

      lockstep build kustomization apps -n flux-system --path ./clusters/staging/apps
    """
    if dry_run and kustomization_file is None:
        raise UserError("--dry-run needs --kustomization-file", hint="or leave out --dry-run")
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    rendered = asyncio.run(
        _render_command(cli.kube_client(), name, namespace, path, kustomization_file, dry_run)
    )
    typer.echo(
        yaml.safe_dump_all([masked(obj) for obj in rendered.objects], sort_keys=False), nl=False
    )


@diff_app.command("kustomization")
def diff_kustomization_command(
    ctx: typer.Context,
    name: NameArgument,
    path: PathOption,
    namespace: NamespaceOption = None,
    kustomization_file: FileOption = None,
) -> None:
    """Show what applying a local folder would change in the cluster; exit 1 when it would.

    Example:

      lockstep diff kustomization apps -n flux-system --path ./apps || echo "changes"
    """
    cli = state(ctx)
    try:
        changed = asyncio.run(
            _diff_command(
                cli.engine_client(),
                name,
                namespace_or_default(cli, namespace),
                path,
                kustomization_file,
            )
        )
    except (UserError, KubeError) as error:
        hint = error.hint if isinstance(error, UserError) else ""
        raise UserError(str(error), hint=hint, code=DIFF_ERROR) from error
    raise typer.Exit(1 if changed else 0)


async def _render_command(
    kube: KubeClient,
    name: str,
    namespace: str,
    path: Path,
    kustomization_file: Path | None,
    dry_run: bool,
) -> Rendered:
    async with kube:
        return await _render(kube, name, namespace, path, kustomization_file, dry_run)


async def _render(
    kube: KubeClient,
    name: str,
    namespace: str,
    path: Path,
    kustomization_file: Path | None,
    dry_run: bool,
) -> Rendered:
    kustomization = (
        _from_file(kustomization_file, name)
        if kustomization_file
        else await _from_cluster(kube, name, namespace)
    )
    # A Kustomization read from a file without a namespace is the one in --namespace.
    kustomization.metadata.namespace = kustomization.metadata.namespace or namespace
    try:
        inputs = BuildInputs() if dry_run else await build_inputs(kube, kustomization)
    except InputUnavailable as error:
        raise UserError(f"{KIND} {namespace}/{name}: {error}") from error
    try:
        objects = await asyncio.to_thread(_render_folder, kustomization, path, inputs)
    except RenderError as error:
        raise UserError(f"{KIND} {namespace}/{name}: {error}") from error
    owner = apply_options(kustomization).owner
    return Rendered(kustomization, [owner.mark(obj) for obj in objects])


async def _diff_command(
    kube: KubeClient, name: str, namespace: str, path: Path, kustomization_file: Path | None
) -> bool:
    async with kube:
        rendered = await _render(kube, name, namespace, path, kustomization_file, False)
        kustomization = rendered.kustomization
        try:
            options = apply_options(kustomization)
        except Failure as error:
            raise UserError(str(error)) from error
        stale: list[InventoryEntry] = []
        if kustomization.spec.prune:
            status = kustomization.status
            old = [
                InventoryEntry(e.id, e.version)
                for e in (status.inventory.entries if status and status.inventory else [])
            ]
            stale = stale_entries(
                old, [InventoryEntry.of(ObjectRef.of(o)) for o in rendered.objects]
            )
        async with target_cluster(kube, kustomization.model_dump(exclude_none=True)) as cluster:
            if cluster.remote:
                error_console.print(f"[dim]comparing with the cluster of {cluster.target}[/]")
            diff = await diff_all(cluster.client, rendered.objects, options, stale)
        for entry in diff.objects:
            print_entry(entry)
        if diff.failures:
            raise UserError(
                "; ".join(diff.failures),
                hint="diff applies nothing; the Kustomization's apply would fail the same way",
            )
        return diff.changes


def print_entry(entry: ObjectDiff) -> None:
    subject = escape(str(entry.ref))
    note = f" ({escape(entry.note)})" if entry.note else ""
    if entry.recreated:
        console.print(f"[yellow]► {subject} would be recreated{note}[/]")
    elif entry.action is Action.CREATED:
        console.print(f"[green]► {subject} created{note}[/]")
    elif entry.action is Action.DELETED:
        console.print(f"[red]► {subject} deleted[/]")
    elif entry.action is Action.SKIPPED:
        console.print(f"[dim]► {subject} skipped{note}[/]")
    elif entry.action is Action.CONFIGURED:
        console.print(f"[yellow]► {subject} drifted{note}[/]")
        _print_changes(entry.live or {}, entry.merged or {})


def _print_changes(live: KubeObject, merged: KubeObject) -> None:
    # Only the merged side says "(changed)": marked on both, a changed Secret value would
    # read the same before and after, and the diff would not show it.
    before = _yaml(masked(live))
    after = _yaml(masked(merged, live))
    for line in difflib.unified_diff(before, after, "live", "merged", lineterm=""):
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        console.print(f"[{colour}]{escape(line)}[/]")


async def _from_cluster(kube: KubeClient, name: str, namespace: str) -> Kustomization:
    try:
        obj = await kube.get(ObjectRef(API_VERSION, KIND, name, namespace))
    except NotFound as error:
        raise UserError(
            f"{KIND} {name} not found in namespace {namespace}",
            hint="pass -n NAMESPACE, or --kustomization-file FILE",
        ) from error
    return Kustomization.model_validate(obj)


def _from_file(file: Path, name: str) -> Kustomization:
    try:
        documents = [d for d in yaml.safe_load_all(file.read_text()) if d]
    except yaml.YAMLError as error:
        raise UserError(f"{file}: not YAML: {error}") from error
    for document in documents:
        if document.get("kind") == KIND and (document.get("metadata") or {}).get("name") == name:
            try:
                return Kustomization.model_validate(document)
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(part) for part in problem["loc"])
                raise UserError(
                    f"{file}: {KIND} {name} is invalid at {where}: {problem['msg']}"
                ) from error
    raise UserError(f"{file} has no {KIND} named {name}")


def _render_folder(
    kustomization: Kustomization, path: Path, inputs: BuildInputs
) -> list[KubeObject]:
    root = _repository_root(path)
    folder = "./" + str(path.resolve().relative_to(root))
    return render_objects(kustomization, root, folder, inputs).objects


def _repository_root(path: Path) -> Path:
    """The nearest folder holding ``.git`` at or above ``path``; ``path`` itself if none."""
    resolved = path.resolve()
    for folder in (resolved, *resolved.parents):
        if (folder / ".git").exists():
            return folder
    return resolved


def masked(obj: Mapping[str, Any], other: Mapping[str, Any] | None = None) -> KubeObject:
    """``obj`` with Secret values replaced; a value that differs from ``other``'s says so."""
    masked: KubeObject = dict(obj)
    if obj.get("kind") != "Secret":
        return masked
    for field in ("data", "stringData"):
        values = obj.get(field)
        if not isinstance(values, Mapping):
            continue
        theirs = (other or {}).get(field) or {}
        masked[field] = {
            key: MASK if other is None or theirs.get(key) == value else f"{MASK} (changed)"
            for key, value in values.items()
        }
    return masked


def _yaml(obj: Mapping[str, Any]) -> list[str]:
    return yaml.safe_dump(dict(obj), sort_keys=True).splitlines()
