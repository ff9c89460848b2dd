"""``lockstep app`` and ``lockstep proj``: Argo CD's verbs on the Applications and
AppProjects the engine reconciles, talking to the API server only (there is no Argo CD
server to log in to).

``app sync`` asks for a sync as ``argocd app sync`` does, by writing the Application's
``operation`` (who asked: the kubeconfig context's user); the engine consumes it, and the
command waits until ``status.operationState`` shows a sync that started after the request
and ended, then prints what it did to each object. ``app delete`` deletes with or
without Argo CD's resources finalizer, through which the engine deletes what it deployed
before the Application goes. ``app diff`` prints what the next sync would write
(:mod:`lockstep.cli.argo_diff`). ``app create`` and ``app set`` take ``argocd app create``'s
flags; ``--values`` names values files in the source, as in Argo CD. The objects they
build, the patches they send, what they print and the states they wait for are pure
functions in :mod:`lockstep.cli.argo_objects`; this module holds the commands and their
requests to the API server.

Applications and AppProjects live in Argo CD's namespace, ``argocd``, unless ``-n``
says otherwise. Every error is one line naming the object and what to do.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from lightkube import ConfigError, KubeConfig
from rich.markup import escape

from lockstep.api import kinds
from lockstep.api.argo import Application
from lockstep.api.meta import duration_seconds
from lockstep.cli.argo_diff import DiffRequest, diff_application
from lockstep.cli.argo_objects import (
    ApplicationRow,
    Awaited,
    ProjectRow,
    SpecFlags,
    SyncPolicyChoice,
    application_row,
    application_view,
    applications_table,
    awaited,
    finalizer_patch,
    finished_sync,
    history_table,
    last_seen,
    new_application,
    operation_state,
    project_row,
    project_view,
    projects_table,
    reached,
    rollback_patch,
    sync_request,
    sync_results_table,
    sync_summary,
    unchanged_since,
    version,
    with_flags,
)
from lockstep.cli.build import DIFF_ERROR
from lockstep.cli.context import CliState, UserError, console, error_console, state
from lockstep.cli.create import build, export_yaml
from lockstep.cli.objects import USAGE_ERROR, AllNamespacesOption, FluxKind, ensure_served
from lockstep.cli.output import OutputFormat, OutputOption, data_text, print_table
from lockstep.cli.waiting import POLL_SECONDS, TimedOut, TimeoutOption, wait_until_gone
from lockstep.controllers.argo.application import CONTROL_PLANE_NAMESPACE
from lockstep.controllers.argo.clusters import IN_CLUSTER_SERVER
from lockstep.kube import Invalid, KubeClient, KubeError, KubeObject, NotFound

T = TypeVar("T")

APPLICATION = FluxKind(kinds.APPLICATION.kind, kinds.APPLICATION.api_version, "app", "app list")
APP_PROJECT = FluxKind(kinds.APP_PROJECT.kind, kinds.APP_PROJECT.api_version, "proj", "proj list")
DEFAULT_USER = "lockstep"
"""Who asked for a sync when the kubeconfig context names no user."""
SET_ATTEMPTS = 3
"""How often ``app set`` reads and patches again when the Application changed meanwhile."""

application_app = typer.Typer(
    help="Argo CD Applications: list, show, sync, wait for, create, change and delete them.",
    no_args_is_help=True,
)
project_app = typer.Typer(help="Argo CD AppProjects: list and show them.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="Name of the Application.")]
NamespaceOption = Annotated[
    str,
    typer.Option("--namespace", "-n", help="Namespace of the object; Argo CD's own when omitted."),
]


RepoOption = Annotated[str | None, typer.Option("--repo", help="URL of the Git repository.")]
PathOption = Annotated[str | None, typer.Option("--path", help="Directory in the repository.")]
RevisionOption = Annotated[
    str | None,
    typer.Option("--revision", help="Branch, tag or commit to deploy; HEAD when omitted."),
]
DestServerOption = Annotated[
    str | None,
    typer.Option(
        "--dest-server",
        help=f"API server of the destination cluster ({IN_CLUSTER_SERVER}: this one, else "
        "one added with lockstep cluster add).",
    ),
]
DestNameOption = Annotated[
    str | None,
    typer.Option(
        "--dest-name",
        help="Name of the destination cluster (in-cluster: this one, else one added with "
        "lockstep cluster add).",
    ),
]
DestNamespaceOption = Annotated[
    str | None,
    typer.Option("--dest-namespace", help="Namespace of the objects that name none."),
]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="AppProject the Application belongs to.")
]
SyncPolicyOption = Annotated[
    SyncPolicyChoice | None,
    typer.Option("--sync-policy", help="automated: sync on every change; none: when asked."),
]
AutoPruneOption = Annotated[
    bool | None,
    typer.Option(
        "--auto-prune/--no-auto-prune", help="Automated syncs delete what left the source."
    ),
]
SelfHealOption = Annotated[
    bool | None,
    typer.Option("--self-heal/--no-self-heal", help="Automated syncs also repair drift."),
]
SyncOptionOption = Annotated[
    list[str] | None,
    typer.Option("--sync-option", help="Sync option as Name=value, e.g. CreateNamespace=true."),
]
HelmSetOption = Annotated[
    list[str] | None, typer.Option("--helm-set", help="Helm value as key=value; repeat it.")
]
ValuesOption = Annotated[
    list[str] | None,
    typer.Option("--values", help="Helm values file, as a path in the source; repeat it."),
]


# --- app list, get, history ------------------------------------------------------------


@application_app.command("list")
def list_applications(
    ctx: typer.Context,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    all_namespaces: AllNamespacesOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List Applications: sync status, health, revision and project.

    Example:

      lockstep app list -A
    """
    where = None if all_namespaces else namespace
    items = _run(state(ctx), lambda kube: _list(kube, APPLICATION, where))
    rows = [application_row(obj) for obj in items]
    _print_rows("Application", rows, where, output, applications_table)


@application_app.command("get")
def get_application(
    ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE
) -> None:
    """Show an Application: source, destination, sync, health, last sync, its objects.

    Example:

      lockstep app get guestbook
    """
    obj = _run(state(ctx), lambda kube: _fetch(kube, APPLICATION, name, namespace))
    print_table(application_view(obj))


@application_app.command("history")
def application_history(
    ctx: typer.Context, name: NameArgument, namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE
) -> None:
    """Show an Application's past syncs: ID, date, revision, who asked.

    Example:

      lockstep app history guestbook
    """
    obj = _run(state(ctx), lambda kube: _fetch(kube, APPLICATION, name, namespace))
    if not (obj.get("status") or {}).get("history"):
        error_console.print(f"Application {namespace}/{name} has not been synced yet")
        return
    print_table(history_table(obj))


@application_app.command("diff")
def diff_application_command(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision", help="Compare the source at this branch, tag or commit instead."
        ),
    ] = None,
    local: Annotated[
        Path | None,
        typer.Option(
            "--local",
            exists=True,
            file_okay=False,
            help="Compare this local folder instead of the source's path.",
        ),
    ] = None,
    local_repo_root: Annotated[
        Path | None,
        typer.Option(
            "--local-repo-root",
            exists=True,
            file_okay=False,
            help="Root of --local's repository (default: the nearest folder holding .git).",
        ),
    ] = None,
) -> None:
    """Show what the next sync of an Application would change; exit 1 when it would.

    The engine's own comparison (a server-side dry run, ignoreDifferences honoured) as a
    unified diff per object, Secret values masked; exit 0 when in sync, 2 on an error.

    Examples:

      lockstep app diff guestbook || echo "out of sync"

      lockstep app diff guestbook --local ./guestbook
    """
    if revision and local:
        raise UserError("give --revision or --local, not both", code=USAGE_ERROR)
    if local_repo_root and not local:
        raise UserError("--local-repo-root needs --local", code=USAGE_ERROR)
    cli = state(ctx)

    async def compare(kube: KubeClient) -> bool:
        obj = await _fetch(kube, APPLICATION, name, namespace)
        request = DiffRequest(obj, CONTROL_PLANE_NAMESPACE, revision or "", local, local_repo_root)
        return await diff_application(kube, request)

    try:
        changed = asyncio.run(_in_session(cli.engine_client(), compare))
    except (UserError, KubeError) as error:
        hint = error.hint if isinstance(error, UserError) else ""
        raise UserError(str(error), hint=hint, code=DIFF_ERROR) from error
    raise typer.Exit(1 if changed else 0)


# --- app sync, wait --------------------------------------------------------------------


@application_app.command("sync")
def sync_application(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the objects that left the source.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--async", help="Ask for the sync and return without waiting.")
    ] = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Sync an Application now and show what was done; exit 1 when the sync fails.

    Waits until the engine has run the sync, unless --async.

    Examples:

      lockstep app sync guestbook --prune

      lockstep app sync guestbook -n apps --async
    """
    cli = state(ctx)
    user = kubeconfig_user(cli)
    _run(cli, lambda kube: _sync(kube, name, namespace, prune, user, None if no_wait else timeout))


@application_app.command("rollback")
def rollback_application(
    ctx: typer.Context,
    name: NameArgument,
    history_id: Annotated[
        int, typer.Argument(help="The ID of the history entry to go back to.", show_default=False)
    ],
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    no_wait: Annotated[
        bool, typer.Option("--async", help="Ask for the rollback and return without waiting.")
    ] = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Sync an Application to the revision of a history entry, as argocd app rollback.

    Its automated sync is turned off first, as Argo CD does, or it would sync the target
    revision again at once; turn it back on with lockstep app set --sync-policy automated.

    Example:

      lockstep app history guestbook

      lockstep app rollback guestbook 3
    """
    cli = state(ctx)
    user = kubeconfig_user(cli)
    _run(
        cli,
        lambda kube: _rollback(
            kube, name, namespace, history_id, user, None if no_wait else timeout
        ),
    )


@application_app.command("wait")
def wait_application(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    sync: Annotated[bool, typer.Option("--sync", help="Wait until it is Synced.")] = False,
    health: Annotated[bool, typer.Option("--health", help="Wait until it is Healthy.")] = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Wait until an Application is Synced and/or Healthy (both without a flag).

    A requested sync that has not run yet is waited for too.

    Example:

      lockstep app wait guestbook --health --timeout 2m
    """
    wanted = awaited(sync, health)
    _run(state(ctx), lambda kube: _wait(kube, name, namespace, wanted, timeout))
    console.print(f"[green]✓[/] Application {namespace}/{name} is {wanted}")


# --- app create, set, delete -----------------------------------------------------------


@application_app.command("create")
def create_application(
    ctx: typer.Context,
    name: NameArgument,
    repo: Annotated[str, typer.Option("--repo", help="URL of the Git repository.")],
    path: Annotated[str, typer.Option("--path", help="Directory in the repository.")],
    dest_namespace: Annotated[
        str, typer.Option("--dest-namespace", help="Namespace of the objects that name none.")
    ],
    revision: RevisionOption = None,
    dest_server: DestServerOption = None,
    dest_name: DestNameOption = None,
    project: ProjectOption = None,
    sync_policy: SyncPolicyOption = None,
    auto_prune: AutoPruneOption = None,
    self_heal: SelfHealOption = None,
    sync_option: SyncOptionOption = None,
    helm_set: HelmSetOption = None,
    values: ValuesOption = None,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    export: Annotated[
        bool, typer.Option("--export", help="Print the Application as YAML instead of applying it.")
    ] = False,
) -> None:
    """Create or update an Application, or print it with --export.

    Examples:

      lockstep app create guestbook --repo https://github.com/argoproj/argocd-example-apps --path guestbook --dest-namespace default

      lockstep app create web -n apps --repo https://git.example/web.git --path chart --dest-namespace web --sync-policy automated --auto-prune --helm-set replicas=2 --export
    """
    flags = SpecFlags(
        repo, path, revision, dest_server, dest_name, dest_namespace, project, sync_policy,
        auto_prune, self_heal, tuple(sync_option or ()), tuple(helm_set or ()), tuple(values or ()),
    )  # fmt: skip
    model = new_application(name, namespace, flags)
    if export:
        typer.echo(export_yaml(model), nl=False)
        return
    created = _run(state(ctx), lambda kube: _apply(kube, model))
    what = f"Application {namespace}/{name}"
    console.print(f"[green]✓[/] {what} {'created' if created else 'updated'}")


@application_app.command("set")
def set_application(
    ctx: typer.Context,
    name: NameArgument,
    repo: RepoOption = None,
    path: PathOption = None,
    revision: RevisionOption = None,
    dest_server: DestServerOption = None,
    dest_name: DestNameOption = None,
    dest_namespace: DestNamespaceOption = None,
    project: ProjectOption = None,
    sync_policy: SyncPolicyOption = None,
    auto_prune: AutoPruneOption = None,
    self_heal: SelfHealOption = None,
    sync_option: SyncOptionOption = None,
    helm_set: HelmSetOption = None,
    values: ValuesOption = None,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
) -> None:
    """Change what the flags give of an Application, and nothing else.

    Example:

      lockstep app set guestbook --revision v2 --sync-policy automated --self-heal
    """
    flags = SpecFlags(
        repo, path, revision, dest_server, dest_name, dest_namespace, project, sync_policy,
        auto_prune, self_heal, tuple(sync_option or ()), tuple(helm_set or ()), tuple(values or ()),
    )  # fmt: skip
    what = f"Application {namespace}/{name}"
    if not flags.given():
        raise UserError(f"{what}: nothing to change; give a flag, see --help", code=USAGE_ERROR)
    changed = _run(state(ctx), lambda kube: _set(kube, name, namespace, flags))
    console.print(f"[green]✓[/] {what} {'updated' if changed else 'unchanged'}")


@application_app.command("delete")
def delete_application(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    cascade: Annotated[
        bool,
        typer.Option(
            "--cascade/--no-cascade",
            help="Delete the objects the Application deployed too, or leave them in place.",
        ),
    ] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Delete an Application and, unless --no-cascade, the objects it deployed.

    Asks first, unless --yes; waits until the engine has deleted them and the Application.

    Examples:

      lockstep app delete guestbook

      lockstep app delete guestbook --no-cascade --yes
    """
    what = f"Application {namespace}/{name}"
    if not yes and not sys.stdin.isatty():
        raise UserError(
            f"lockstep app delete asks before deleting {what}, and there is no terminal to "
            "ask in; add --yes",
            code=USAGE_ERROR,
        )
    cli = state(ctx)
    _run(cli, lambda kube: _fetch(kube, APPLICATION, name, namespace))
    if not yes:
        objects = "and every object it deployed" if cascade else "(its objects are kept)"
        typer.confirm(f"Delete {what} {objects}?", abort=True)
    _run(cli, lambda kube: _delete(kube, name, namespace, cascade, timeout))
    kept = "" if cascade else "; the objects it deployed are left in place"
    console.print(f"[green]✓[/] {what} deleted{kept}")


# --- proj list, get --------------------------------------------------------------------


@project_app.command("list")
def list_projects(
    ctx: typer.Context,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    all_namespaces: AllNamespacesOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List AppProjects: description, how many destinations and source repositories.

    Example:

      lockstep proj list
    """
    where = None if all_namespaces else namespace
    items = _run(state(ctx), lambda kube: _list(kube, APP_PROJECT, where))
    _print_rows("AppProject", [project_row(obj) for obj in items], where, output, projects_table)


@project_app.command("get")
def get_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the AppProject.")],
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
) -> None:
    """Show an AppProject: the repositories, destinations and kinds it allows.

    Example:

      lockstep proj get default
    """
    print_table(
        project_view(_run(state(ctx), lambda kube: _fetch(kube, APP_PROJECT, name, namespace)))
    )


# --- talking to the cluster ------------------------------------------------------------


def _run(cli: CliState, action: Callable[[KubeClient], Awaitable[T]]) -> T:
    return asyncio.run(_in_session(cli.kube_client(), action))


async def _in_session(kube: KubeClient, action: Callable[[KubeClient], Awaitable[T]]) -> T:
    async with kube:
        return await action(kube)


def kubeconfig_user(cli: CliState) -> str:
    """The user of the kubeconfig context in use, which ``argocd`` would show as who
    asked for a sync; ``lockstep`` when there is none."""
    try:
        kubeconfig = (
            KubeConfig.from_file(cli.kubeconfig) if cli.kubeconfig else KubeConfig.from_env()
        )
        config = kubeconfig.get(context_name=cli.context)
    except (ConfigError, OSError):
        return DEFAULT_USER
    return (config.context.user if config else None) or DEFAULT_USER


async def _list(kube: KubeClient, kind: FluxKind, namespace: str | None) -> list[KubeObject]:
    await ensure_served(kube, kind)
    items = await kube.list(kind.api_version, kind.kind, namespace=namespace)
    return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def _print_rows(
    kind: str,
    rows: list[ApplicationRow] | list[ProjectRow],
    namespace: str | None,
    output: OutputFormat,
    table: Callable[..., Any],
) -> None:
    if output != OutputFormat.TABLE:
        typer.echo(data_text([row.data() for row in rows], output), nl=False)
    elif rows:
        print_table(table(rows, all_namespaces=namespace is None))
    else:
        where = "in any namespace" if namespace is None else f"in namespace {namespace}"
        error_console.print(f"no {kind} found {where}")


async def _fetch(kube: KubeClient, kind: FluxKind, name: str, namespace: str) -> KubeObject:
    await ensure_served(kube, kind)
    try:
        return await kube.get(kind.ref(name, namespace))
    except NotFound as error:
        raise UserError(
            f"{kind.kind} {namespace}/{name} not found; pick its namespace with -n, or list "
            f"them all: lockstep {kind.get_command} -A",
            code=USAGE_ERROR,
        ) from error


async def _apply(kube: KubeClient, model: Application) -> bool:
    """Apply the Application; whether it was created (else updated)."""
    await ensure_served(kube, APPLICATION)
    ref = APPLICATION.ref(model.metadata.name, model.metadata.namespace or "")
    try:
        await kube.get(ref)
        existed = True
    except NotFound:
        existed = False
    await kube.apply(model.to_manifest())
    return not existed


async def _set(kube: KubeClient, name: str, namespace: str, flags: SpecFlags) -> bool:
    """Patch the spec with the flags' changes; whether it changed. The patch holds only
    while the Application is as read, so a change made meanwhile is never undone: it is
    read and patched again."""
    what = f"Application {namespace}/{name}"
    for _ in range(SET_ATTEMPTS):
        live = await _fetch(kube, APPLICATION, name, namespace)
        spec = with_flags(what, live.get("spec") or {}, flags)
        build(Application, name, namespace, spec)
        if spec == live.get("spec"):
            return False
        try:
            await kube.json_patch(
                APPLICATION.ref(name, namespace),
                [unchanged_since(live), {"op": "replace", "path": "/spec", "value": spec}],
            )
            return True
        except Invalid as error:
            current = await _fetch(kube, APPLICATION, name, namespace)
            if version(current) == version(live):
                raise UserError(
                    f"{what} cannot be changed so: {error}", code=USAGE_ERROR
                ) from error
    raise UserError(f"{what} kept changing while it was being set; run the command again")


async def _sync(
    kube: KubeClient, name: str, namespace: str, prune: bool, user: str, within: str | None
) -> None:
    obj = await _fetch(kube, APPLICATION, name, namespace)
    request = [{"op": "add", "path": "/operation", "value": sync_request(prune, user)}]
    await _run_sync(kube, obj, request, within)


async def _rollback(
    kube: KubeClient, name: str, namespace: str, entry_id: int, user: str, within: str | None
) -> None:
    obj = await _fetch(kube, APPLICATION, name, namespace)
    history = (obj.get("status") or {}).get("history") or []
    entry = next((e for e in history if e.get("id") == entry_id), None)
    if entry is None:
        ids = ", ".join(str(e.get("id")) for e in history) or "none"
        raise UserError(
            f"Application {namespace}/{name} has no history entry {entry_id} (it has {ids}); "
            f"see lockstep app history {name} -n {namespace}"
        )
    await _run_sync(kube, obj, rollback_patch(obj, entry, user), within)


async def _run_sync(
    kube: KubeClient, obj: KubeObject, patch: list[dict[str, Any]], within: str | None
) -> None:
    """Write ``patch``, which asks for a sync, then (``within`` a duration) wait until the
    engine has run it and show what it did; a sync that did not succeed is a UserError."""
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    what = f"Application {namespace}/{name}"
    if obj.get("operation"):
        raise UserError(
            f"{what} already has a sync requested; wait for it: lockstep app wait {name} -n {namespace}"
        )
    before = operation_state(obj)
    ref = APPLICATION.ref(name, namespace)
    await kube.json_patch(ref, patch)
    console.print(f"[green]✓[/] sync of {what} requested")
    if within is None:
        return
    try:
        with console.status(f"waiting for lockstep to sync {what}"):
            outcome = await poll(
                lambda: kube.get(ref), lambda o: finished_sync(o, before), duration_seconds(within)
            )
    except TimedOut as error:
        seen = last_seen(error.last or {})
        raise UserError(
            f"{what}: the sync has not finished after {within} ({escape(seen)}); is lockstep run "
            f"running? see lockstep app get {name} -n {namespace}"
        ) from error
    console.print(sync_summary(obj, outcome), markup=False)
    print_table(sync_results_table(outcome))
    if outcome.get("phase") != "Succeeded":
        raise UserError(
            f"{what}: sync {outcome.get('phase')}: {escape(str(outcome.get('message') or ''))}; "
            f"see lockstep app get {name} -n {namespace}"
        )


async def _wait(kube: KubeClient, name: str, namespace: str, wanted: Awaited, within: str) -> None:
    ref = APPLICATION.ref(name, namespace)
    await _fetch(kube, APPLICATION, name, namespace)
    what = f"Application {namespace}/{name}"
    try:
        with console.status(f"waiting for {what} to be {wanted}"):
            await poll(
                lambda: kube.get(ref),
                lambda o: True if reached(o, wanted) else None,
                duration_seconds(within),
            )
    except TimedOut as error:
        raise UserError(
            f"{what} is not {wanted} after {within}; last seen: {escape(last_seen(error.last or {}))}"
        ) from error


async def _delete(kube: KubeClient, name: str, namespace: str, cascade: bool, within: str) -> None:
    what = f"Application {namespace}/{name}"
    ref = APPLICATION.ref(name, namespace)
    obj = await _fetch(kube, APPLICATION, name, namespace)
    patch = finalizer_patch(obj, cascade)
    if patch:
        await kube.json_patch(ref, patch)
    await kube.delete(ref)
    try:
        with console.status(f"waiting for lockstep to delete {what}"):
            await wait_until_gone(lambda: kube.get(ref), duration_seconds(within))
    except TimedOut as error:
        raise UserError(
            f"{what} is still being deleted after {within}: lockstep run deletes what it "
            f"deployed, then removes its finalizer; is it running?"
        ) from error


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def poll(
    read: Callable[[], Awaitable[KubeObject]],
    done: Callable[[KubeObject], T | None],
    timeout_seconds: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Read the object until ``done`` gives a value; :class:`TimedOut` with the last object
    read after ``timeout_seconds``."""
    deadline = clock() + timeout_seconds
    while True:
        obj = await read()
        value = done(obj)
        if value is not None:
            return value
        if clock() >= deadline:
            raise TimedOut(obj)
        await sleep(POLL_SECONDS)
