"""``lockstep app diff``: what the next sync of an Argo CD Application would write, as a
unified diff per object of the live object and the server's dry run of the rendered
one; exit 1 when there are differences, 0 when there are none, as ``argocd app diff``.

The comparison is the reconciler's (:mod:`lockstep.controllers.argo.application`, step
4), made from the CLI:

1. the artifacts the engine fetched for the sources: the ``status.artifact`` of the Flux
   source objects it keeps for them (:mod:`lockstep.controllers.argo.sources`, with the
   credentials of Argo CD's repository Secrets), downloaded from the engine's artifact
   server and checked against their digests;
2. rendered by :func:`~lockstep.controllers.argo.render.render_source` with the
   destination cluster's versions, put in the destination namespace; hooks are not
   compared, as the reconciler does not compare them;
3. the fields ``spec.ignoreDifferences`` and argocd-cm's rules ignore, built from
   :mod:`lockstep.controllers.argo.ignore` as the reconciler builds them, left out;
4. planned by the apply engine's server-side dry run under the Application's owner
   (:func:`lockstep.apply.diff_all`: the tracking id, Argo CD's field manager), with the
   objects its status lists that it no longer renders, and that still carry its tracking
   id, shown as deletions (what a sync with prune deletes).

Each change is printed as ``lockstep diff kustomization`` prints it
(:func:`lockstep.cli.build.print_entry`), Secret values masked. The destination is the
local cluster or one of Argo CD's cluster Secrets (:mod:`lockstep.controllers.argo.clusters`).

``--revision`` compares with the source at another revision: the engine fetches it
through the same source objects a sync of that revision makes (they are kept, as the
engine keeps them), and the command waits up to :data:`FETCH_TIMEOUT_SECONDS` for it.
``--local`` renders a folder of this machine in place of the source's path (one source
only), ``--local-repo-root`` being the root of its repository (by default the nearest
folder at or above it that holds ``.git``), so a Kustomize overlay may use ``../base``.

Called by ``lockstep app diff`` (:mod:`lockstep.cli.argo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lockstep.api.argo import Application, ApplicationSource
from lockstep.api.meta import Artifact
from lockstep.apply import (
    ApplyOptions,
    InventoryEntry,
    SetDiff,
    diff_all,
    with_default_namespace,
)
from lockstep.cli.build import print_entry
from lockstep.cli.context import UserError, error_console
from lockstep.controllers.argo.clusters import (
    ClusterSecretError,
    DestinationError,
    resolve_destination,
)
from lockstep.controllers.argo.ignore import (
    IgnoreDifferencesError,
    ignore_rules_of,
    parse_system_rules,
)
from lockstep.controllers.argo.owner import application_owner
from lockstep.controllers.argo.render import RenderContext, render_source
from lockstep.controllers.argo.repositories import KNOWN_HOSTS_CONFIGMAP, RepositoryCredentialsError
from lockstep.controllers.argo.sources import (
    SourceObjects,
    application_source_objects,
    apply_source_object,
)
from lockstep.controllers.argo.syncplan import hook_of, parse_sync_options
from lockstep.controllers.argo.tracking import app_instance_name
from lockstep.kube import Forbidden, KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
from lockstep.runtime.clusters import ClusterUnavailable, target_client
from lockstep.sources.artifact_fetch import fetch_artifact
from lockstep.sources.errors import SourceError

ARGOCD_CM = "argocd-cm"
SOURCE_INTERVAL = "180s"
"""The check interval of source objects ``--revision`` creates: the engine's default."""
FETCH_TIMEOUT_SECONDS = 120.0
"""How long ``--revision`` waits for the engine to fetch the sources at that revision."""
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class DiffRequest:
    """What ``lockstep app diff`` compares: the Application as read, in the control-plane
    namespace ``control_plane``, at ``revision`` (its target revisions when empty), or
    with the folder ``local`` of the repository at ``local_repo_root``."""

    application: KubeObject
    control_plane: str
    revision: str = ""
    local: Path | None = None
    local_repo_root: Path | None = None


async def diff_application(kube: KubeClient, request: DiffRequest) -> bool:
    """Print what the next sync would write; whether it would write anything. Raises
    :class:`UserError` naming the Application when it cannot tell."""
    app = Application.model_validate(request.application)
    what = f"Application {app.metadata.namespace}/{app.metadata.name}"
    try:
        diff = await _diff(kube, app, request)
    except (RenderError, SourceError, OSError, IgnoreDifferencesError) as error:
        raise UserError(f"{what}: {' '.join(str(error).split())}") from error
    except (DestinationError, ClusterSecretError, ClusterUnavailable) as error:
        raise UserError(f"{what}: destination: {error}") from error
    except RepositoryCredentialsError as error:
        raise UserError(f"{what}: {error}") from error
    for entry in diff.objects:
        print_entry(entry)
    if diff.failures:
        raise UserError(
            f"{what}: " + "; ".join(diff.failures),
            hint="diff applies nothing; the Application's sync would fail the same way",
        )
    return diff.changes


async def _diff(kube: KubeClient, app: Application, request: DiffRequest) -> SetDiff:
    namespace = app.metadata.namespace or ""
    secrets = await _secrets(kube, request.control_plane)
    destination = app.spec.destination
    cluster = resolve_destination(destination.server, destination.name, secrets)
    target_namespace = destination.namespace or namespace or "default"
    sources = _sources(app, request)
    artifacts = [
        None if request.local else await _artifact(kube, app, source, secrets, request)
        for source in sources
    ]
    settings = await _config_map(kube, request.control_plane, ARGOCD_CM)
    async with target_client(kube, cluster.target) as target:
        if not cluster.target.local:
            error_console.print(f"[dim]comparing with cluster {cluster.name} ({cluster.server})[/]")
        version = await target.server_version()
        api_versions = tuple(await target.api_versions())
        context = RenderContext(app.metadata.name, target_namespace, version or None, api_versions)
        objects = await asyncio.to_thread(_render, sources, artifacts, context, request)
        objects = await with_default_namespace(target, objects, target_namespace)
        resources = [o for o in objects if hook_of(o) is None]
        tracking = app_instance_name(app.metadata.name, namespace, request.control_plane)
        options = ApplyOptions(
            owner=application_owner(
                tracking, target_namespace, parse_sync_options(app.spec.sync_options)
            ),
            ignore_rules=await ignore_rules_of(
                target,
                resources,
                app.spec.ignore_differences,
                parse_system_rules((settings or {}).get("data") or {}),
            ),
        )
        return await diff_all(target, resources, options, _no_longer_rendered(app, resources))


def _sources(app: Application, request: DiffRequest) -> list[ApplicationSource]:
    """The Application's sources, at ``--revision`` or with ``--local``'s folder."""
    sources = list(app.spec.effective_sources())
    if not sources:
        raise UserError("spec.source or spec.sources is required")
    if (request.revision or request.local) and len(sources) > 1:
        raise UserError(
            "--revision and --local compare one source, and this Application has "
            f"{len(sources)}; leave them out to compare its target revisions"
        )
    if request.revision:
        return [sources[0].model_copy(update={"target_revision": request.revision})]
    if request.local is not None:
        if sources[0].chart:
            raise UserError("--local renders a folder, and the source is a Helm chart")
        root = _repository_root(request.local, request.local_repo_root)
        path = str(request.local.resolve().relative_to(root)) or "."
        return [sources[0].model_copy(update={"path": path})]
    return sources


def _repository_root(local: Path, given: Path | None) -> Path:
    folder = local.resolve()
    if given is not None:
        root = given.resolve()
        if not folder.is_relative_to(root):
            raise UserError(f"--local {local} is not inside --local-repo-root {given}")
        return root
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


async def _secrets(kube: KubeClient, namespace: str) -> list[KubeObject]:
    """The Secrets of Argo CD's namespace (clusters and repositories); none when they
    cannot be read, so an Application of public sources on this cluster still compares."""
    try:
        return await kube.list("v1", "Secret", namespace=namespace)
    except Forbidden:
        return []


async def _config_map(kube: KubeClient, namespace: str, name: str) -> KubeObject | None:
    try:
        return await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))
    except (NotFound, Forbidden):
        return None


async def _artifact(
    kube: KubeClient,
    app: Application,
    source: ApplicationSource,
    secrets: Sequence[KubeObject],
    request: DiffRequest,
) -> Artifact:
    """The artifact the engine fetched for ``source``; with ``--revision``, its source
    objects applied first and the fetch waited for."""
    objects = application_source_objects(
        source,
        app.metadata.namespace or "",
        SOURCE_INTERVAL,
        project=app.spec.project or "default",
        secrets=secrets,
        known_hosts=await _config_map(kube, request.control_plane, KNOWN_HOSTS_CONFIGMAP),
    )
    if request.revision:
        for manifest in objects.manifests:
            await apply_source_object(kube, objects, manifest)
    deadline = time.monotonic() + (FETCH_TIMEOUT_SECONDS if request.revision else 0)
    while True:
        artifact, problem = await _read_artifact(kube, objects)
        if artifact is not None:
            return artifact
        if time.monotonic() >= deadline:
            raise UserError(f"source {source.repo_url}: {problem}")
        await asyncio.sleep(POLL_SECONDS)


async def _read_artifact(kube: KubeClient, objects: SourceObjects) -> tuple[Artifact | None, str]:
    """The artifact of ``objects``, or why there is none."""
    ref = ObjectRef.of(objects.manifests[-1])
    try:
        raw = await kube.get(ref)
    except NotFound:
        return None, f"{ref} does not exist yet; is lockstep run running?"
    status = raw.get("status") or {}
    if status.get("artifact"):
        return Artifact.model_validate(status["artifact"]), ""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            return None, f"{ref} failed: {condition.get('message') or ''}"
    return None, f"{ref} has not fetched it yet; is lockstep run running?"


def _render(
    sources: Sequence[ApplicationSource],
    artifacts: Sequence[Artifact | None],
    context: RenderContext,
    request: DiffRequest,
) -> list[KubeObject]:
    """Every source rendered as the reconciler renders it, each artifact unpacked in a
    temporary folder (``--local``: the repository on this machine)."""
    with contextlib.ExitStack() as stack:
        roots = []
        for artifact in artifacts:
            if artifact is None:
                assert request.local is not None
                roots.append(_repository_root(request.local, request.local_repo_root))
                continue
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lockstep-")))
            fetch_artifact(artifact.url, artifact.digest, folder)
            roots.append(folder)
        refs = {s.ref: root for s, root in zip(sources, roots, strict=True) if s.ref}
        context = replace(context, refs=refs)
        objects: list[KubeObject] = []
        for source, root in zip(sources, roots, strict=True):
            if source.ref and not source.path and not source.chart:
                continue  # a source of values files only
            objects.extend(render_source(source, root, context).objects)
        return objects


def _no_longer_rendered(app: Application, resources: Sequence[KubeObject]) -> list[InventoryEntry]:
    """The objects the status lists (hooks aside) that the sources no longer render: a
    sync with prune deletes those that still carry the Application's tracking id."""
    wanted = {InventoryEntry.of(ObjectRef.of(o)).id for o in resources}
    stale = []
    for resource in app.status.resources if app.status else []:
        if resource.hook or not resource.kind or not resource.name or not resource.version:
            continue
        group = f"{resource.group}/" if resource.group else ""
        ref = ObjectRef(
            f"{group}{resource.version}", resource.kind, resource.name, resource.namespace or ""
        )
        entry = InventoryEntry.of(ref)
        if entry.id not in wanted:
            stale.append(entry)
    return stale
