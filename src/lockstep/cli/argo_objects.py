"""The pure half of ``lockstep app`` and ``lockstep proj``: the Application built from
flags, the patches sent to the engine, what is printed, and the states waited for, as
functions of objects as the API server returns them (dicts), unit-tested without a
cluster.

``app create`` and ``app set`` share :func:`with_flags`: a spec with what the flags give
changed and the rest kept, as ``argocd app set`` changes an Application. A sync is asked
for with an ``operation`` (:func:`sync_request`), and a cascading delete with Argo CD's
resources finalizer on the Application (:func:`finalizer_patch`); both patches hold only
while the object is as read (a ``test`` of its resourceVersion) where a lost update
would matter.

An Application is shown from Argo CD's status as the reconciler writes it
(:mod:`lockstep.controllers.argo.application`): ``status.sync``, ``status.health``,
``status.resources`` (one entry per object, with its sync status and health),
``status.operationState`` (the last sync: phase, message, what it did to each object,
when it started) and ``status.history`` (one entry per successful sync).

Two states are waited for: a sync that the command requested has finished
(:func:`finished_sync`: ``operation`` was consumed and ``operationState`` differs from
the one seen before the request, in a final phase), and an Application that is Synced
and/or Healthy with no operation pending (:func:`reached`).

Used by :mod:`lockstep.cli.argo`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lockstep.api.argo import (
    DEFAULT_PROJECT,
    Application,
    HealthStatusCode,
    OperationPhase,
    SyncStatusCode,
)
from lockstep.cli.context import UserError
from lockstep.cli.create import build
from lockstep.cli.objects import USAGE_ERROR, name_of, namespace_of
from lockstep.cli.output import parse_timestamp
from lockstep.controllers.argo.application import BACKGROUND_FINALIZER, RESOURCES_FINALIZER
from lockstep.controllers.argo.clusters import IN_CLUSTER_SERVER

FINAL_PHASES = (OperationPhase.SUCCEEDED, OperationPhase.FAILED, OperationPhase.ERROR)
"""The phases of an operation that has ended."""
NONE = "<none>"

_STYLES = {
    SyncStatusCode.SYNCED: "green",
    SyncStatusCode.OUT_OF_SYNC: "yellow",
    HealthStatusCode.HEALTHY: "green",
    HealthStatusCode.PROGRESSING: "cyan",
    HealthStatusCode.DEGRADED: "red",
    HealthStatusCode.MISSING: "yellow",
    OperationPhase.SUCCEEDED: "green",
    OperationPhase.FAILED: "red",
    OperationPhase.ERROR: "red",
    "SyncFailed": "red",
    "Pruned": "yellow",
}


def _status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("spec") or {})


def qualified_name(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, as Argo CD names Applications outside its own namespace."""
    return f"{namespace_of(obj)}/{name_of(obj)}"


def short_revision(revision: str) -> str:
    """A commit SHA shortened to 7 characters, as ``git log --oneline``; other revisions
    (a chart version, a tag) as they are."""
    is_sha = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    return revision[:7] if is_sha else revision


def _styled(value: str) -> Text:
    return Text(value, style=_STYLES.get(value, ""))


def _table(*headers: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold" if header == "MESSAGE" else "ellipsis")
    return table


# --- an Application from flags -----------------------------------------------


class SyncPolicyChoice(StrEnum):
    """`--sync-policy`: whether the Application syncs by itself on every change."""

    AUTOMATED = "automated"
    NONE = "none"


@dataclass(frozen=True)
class SpecFlags:
    """The flags of ``app create`` and ``app set``; ``None`` (or empty) when not given."""

    repo: str | None = None
    path: str | None = None
    revision: str | None = None
    dest_server: str | None = None
    dest_name: str | None = None
    dest_namespace: str | None = None
    project: str | None = None
    sync_policy: SyncPolicyChoice | None = None
    auto_prune: bool | None = None
    self_heal: bool | None = None
    sync_options: tuple[str, ...] = ()
    helm_sets: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    def given(self) -> bool:
        return any(getattr(self, f.name) not in (None, ()) for f in fields(self))

    def touch_source(self) -> bool:
        return any((self.repo, self.path, self.revision, self.helm_sets, self.values))


def with_flags(what: str, spec: Mapping[str, Any], flags: SpecFlags) -> dict[str, Any]:
    """``spec`` with what ``flags`` give changed and the rest kept, as ``argocd app set``
    changes an Application; ``what`` names it in errors."""
    changed = copy.deepcopy(dict(spec))
    if flags.touch_source():
        if changed.get("sources"):
            raise UserError(
                f"{what} has several sources; change spec.sources with kubectl edit",
                code=USAGE_ERROR,
            )
        _set_source(changed.setdefault("source", {}), flags)
    _set_destination(what, changed.setdefault("destination", {}), flags)
    if flags.project:
        changed["project"] = flags.project
    policy = _sync_policy(what, dict(changed.get("syncPolicy") or {}), flags)
    if policy:
        changed["syncPolicy"] = policy
    else:
        changed.pop("syncPolicy", None)
    return changed


def _set_source(source: dict[str, Any], flags: SpecFlags) -> None:
    for key, value in (
        ("repoURL", flags.repo),
        ("path", flags.path),
        ("targetRevision", flags.revision),
    ):
        if value is not None:
            source[key] = value
    if not flags.helm_sets and not flags.values:
        return
    helm = source.setdefault("helm", {})
    if flags.values:
        helm["valueFiles"] = list(flags.values)
    if flags.helm_sets:
        parameters = [dict(p) for p in helm.get("parameters") or []]
        for key, value in (pair_of("--helm-set", item) for item in flags.helm_sets):
            parameters = [p for p in parameters if p.get("name") != key]
            parameters.append({"name": key, "value": value})
        helm["parameters"] = parameters


def _set_destination(what: str, destination: dict[str, Any], flags: SpecFlags) -> None:
    if flags.dest_server and flags.dest_name:
        raise UserError(f"{what}: give --dest-server or --dest-name, not both", code=USAGE_ERROR)
    if flags.dest_server:
        destination["server"] = flags.dest_server
        destination.pop("name", None)
    if flags.dest_name:
        destination["name"] = flags.dest_name
        destination.pop("server", None)
    if flags.dest_namespace is not None:
        destination["namespace"] = flags.dest_namespace


def _sync_policy(what: str, policy: dict[str, Any], flags: SpecFlags) -> dict[str, Any]:
    if flags.sync_policy is SyncPolicyChoice.NONE:
        policy.pop("automated", None)
    elif flags.sync_policy is SyncPolicyChoice.AUTOMATED:
        automated = dict(policy.get("automated") or {})
        automated.pop("enabled", None)
        policy["automated"] = automated
    for flag, key, value in (
        ("--auto-prune", "prune", flags.auto_prune),
        ("--self-heal", "selfHeal", flags.self_heal),
    ):
        if value is None:
            continue
        if "automated" in policy:
            policy["automated"][key] = value
        elif value:
            raise UserError(
                f"{what}: {flag} applies to automated syncs; add --sync-policy automated",
                code=USAGE_ERROR,
            )
    if flags.sync_options:
        options = [str(o) for o in policy.get("syncOptions") or []]
        for name, setting in (pair_of("--sync-option", item) for item in flags.sync_options):
            options = [o for o in options if o.partition("=")[0] != name]
            options.append(f"{name}={setting}")
        policy["syncOptions"] = options
    return policy


def pair_of(flag: str, item: str) -> tuple[str, str]:
    """``key=value`` as a pair; a UserError naming the flag when there is no ``=``."""
    key, equals, value = item.partition("=")
    if not equals or not key:
        raise UserError(f'{flag} "{item}" is not key=value; write it like a=b', code=USAGE_ERROR)
    return key, value


def new_application(name: str, namespace: str, flags: SpecFlags) -> Application:
    """The Application ``app create`` makes: the in-cluster destination unless one is
    named, the default project unless one is named."""
    what = f"Application {namespace}/{name}"
    start: dict[str, Any] = {"destination": {}, "project": DEFAULT_PROJECT}
    if not flags.dest_server and not flags.dest_name:
        start["destination"]["server"] = IN_CLUSTER_SERVER
    return build(Application, name, namespace, with_flags(what, start, flags))


# --- requests to the engine ----------------------------------------------------------


def sync_request(prune: bool, user: str) -> dict[str, Any]:
    """The ``operation`` that asks the engine for a sync, as ``argocd app sync`` writes it."""
    return {"sync": {"prune": prune}, "initiatedBy": {"username": user}}


def rollback_patch(
    obj: Mapping[str, Any], entry: Mapping[str, Any], user: str
) -> list[dict[str, Any]]:
    """The JSON patch of ``argocd app rollback``: automated sync off (when on), and a sync of
    the revision(s) of the history ``entry``; only if the Application has not changed
    since ``obj`` was read."""
    patch = [unchanged_since(obj)]
    if "automated" in (_spec(obj).get("syncPolicy") or {}):
        patch.append({"op": "remove", "path": "/spec/syncPolicy/automated"})
    sync: dict[str, Any] = {"prune": False}
    if entry.get("revisions"):
        sync["revisions"] = list(entry["revisions"])
    else:
        sync["revision"] = str(entry.get("revision") or "")
    operation = {"sync": sync, "initiatedBy": {"username": user}}
    patch.append({"op": "add", "path": "/operation", "value": operation})
    return patch


def finalizer_patch(obj: Mapping[str, Any], cascade: bool) -> list[dict[str, Any]]:
    """The JSON patch that puts Argo CD's resources finalizer on the Application
    (``cascade``) or takes it off, so the engine deletes what it deployed, or not; empty
    when the finalizers are already right."""
    finalizers = list((obj.get("metadata") or {}).get("finalizers") or [])
    ours = (RESOURCES_FINALIZER, BACKGROUND_FINALIZER)
    if cascade:
        if any(f in ours for f in finalizers):
            return []
        wanted = [*finalizers, RESOURCES_FINALIZER]
    else:
        wanted = [f for f in finalizers if f not in ours]
        if wanted == finalizers:
            return []
    return [unchanged_since(obj), {"op": "add", "path": "/metadata/finalizers", "value": wanted}]


def version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def unchanged_since(live: Mapping[str, Any]) -> dict[str, Any]:
    return {"op": "test", "path": "/metadata/resourceVersion", "value": version(live)}


# --- lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationRow:
    """What ``lockstep app list`` shows of one Application."""

    namespace: str
    name: str
    sync: str
    health: str
    revision: str
    """The revision last compared, of each source for a multi-source Application."""
    project: str

    def data(self) -> dict[str, Any]:
        return asdict(self)


def application_row(obj: Mapping[str, Any]) -> ApplicationRow:
    status = _status(obj)
    sync = status.get("sync") or {}
    revisions = sync.get("revisions") or [sync.get("revision") or ""]
    return ApplicationRow(
        namespace=namespace_of(obj),
        name=name_of(obj),
        sync=str(sync.get("status") or SyncStatusCode.UNKNOWN),
        health=str((status.get("health") or {}).get("status") or HealthStatusCode.UNKNOWN),
        revision=",".join(str(r) for r in revisions if r),
        project=str(_spec(obj).get("project") or DEFAULT_PROJECT),
    )


def applications_table(rows: Sequence[ApplicationRow], *, all_namespaces: bool) -> Table:
    headers = ("NAME", "SYNC STATUS", "HEALTH STATUS", "REVISION", "PROJECT")
    table = _table(*(("NAMESPACE", *headers) if all_namespaces else headers))
    for row in rows:
        revision = ",".join(short_revision(r) for r in row.revision.split(",") if r)
        cells = [
            Text(row.name),
            _styled(row.sync),
            _styled(row.health),
            Text(revision),
            Text(row.project),
        ]
        table.add_row(*([Text(row.namespace), *cells] if all_namespaces else cells))
    return table


@dataclass(frozen=True)
class ProjectRow:
    """What ``lockstep proj list`` shows of one AppProject."""

    namespace: str
    name: str
    description: str
    destinations: int
    sources: int

    def data(self) -> dict[str, Any]:
        return asdict(self)


def project_row(obj: Mapping[str, Any]) -> ProjectRow:
    spec = _spec(obj)
    return ProjectRow(
        namespace=namespace_of(obj),
        name=name_of(obj),
        description=str(spec.get("description") or ""),
        destinations=len(spec.get("destinations") or []),
        sources=len(spec.get("sourceRepos") or []),
    )


def projects_table(rows: Sequence[ProjectRow], *, all_namespaces: bool) -> Table:
    headers = ("NAME", "DESCRIPTION", "DESTINATIONS", "SOURCES")
    table = _table(*(("NAMESPACE", *headers) if all_namespaces else headers))
    for row in rows:
        cells = [Text(row.name), Text(row.description), Text(str(row.destinations))]
        cells.append(Text(str(row.sources)))
        table.add_row(*([Text(row.namespace), *cells] if all_namespaces else cells))
    return table


# --- one object ------------------------------------------------------------------------


def _fields(pairs: Sequence[tuple[str, str]]) -> Text:
    """``Label:  value`` lines, the values aligned, as ``argocd app get`` prints them."""
    width = max(len(label) for label, _ in pairs) + 3
    return Text("\n".join(f"{label + ':':<{width}}{value}" for label, value in pairs))


def _sources(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in spec.get("sources") or []] or (
        [dict(spec["source"])] if spec.get("source") else []
    )


def _source_lines(source: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = [("- Repo", str(source.get("repoURL") or ""))]
    for label, key in (("  Target", "targetRevision"), ("  Path", "path"), ("  Chart", "chart")):
        if source.get(key):
            lines.append((label, str(source[key])))
    helm = source.get("helm") or {}
    if helm.get("valueFiles"):
        lines.append(("  Helm values", ", ".join(helm["valueFiles"])))
    for parameter in helm.get("parameters") or []:
        lines.append(("  Helm set", f"{parameter.get('name')}={parameter.get('value')}"))
    return lines


def sync_policy_text(spec: Mapping[str, Any]) -> str:
    """``Automated (Prune, SelfHeal)``, ``Automated`` or ``Manual``."""
    automated = (spec.get("syncPolicy") or {}).get("automated")
    if automated is None or automated.get("enabled") is False:
        return "Manual"
    flags = [
        label for label, key in (("Prune", "prune"), ("SelfHeal", "selfHeal")) if automated.get(key)
    ]
    return f"Automated ({', '.join(flags)})" if flags else "Automated"


def _sync_text(obj: Mapping[str, Any]) -> str:
    sync = _status(obj).get("sync") or {}
    code = str(sync.get("status") or SyncStatusCode.UNKNOWN)
    revisions = sync.get("revisions") or [sync.get("revision") or ""]
    shown = ", ".join(short_revision(str(r)) for r in revisions if r)
    return f"{code} at {shown}" if shown else code


def _health_text(obj: Mapping[str, Any]) -> str:
    health = _status(obj).get("health") or {}
    code = str(health.get("status") or HealthStatusCode.UNKNOWN)
    return f"{code}: {health['message']}" if health.get("message") else code


def _operation_text(obj: Mapping[str, Any]) -> str:
    state = _status(obj).get("operationState") or {}
    if not state:
        return "pending" if obj.get("operation") else NONE
    text = f"{state.get('phase') or 'Unknown'} at {state.get('startedAt') or '?'}"
    return f"{text}: {state['message']}" if state.get("message") else text


def application_view(obj: Mapping[str, Any]) -> RenderableType:
    """``lockstep app get``: the Application's sources, destination and project, its sync
    and health, its last operation and conditions, then a table of its objects."""
    spec = _spec(obj)
    destination = spec.get("destination") or {}
    sources = _sources(spec)
    pairs = [
        ("Name", qualified_name(obj)),
        ("Project", str(spec.get("project") or DEFAULT_PROJECT)),
        ("Server", str(destination.get("server") or destination.get("name") or "")),
        ("Namespace", str(destination.get("namespace") or "")),
        ("Sources" if len(sources) > 1 else "Source", ""),
        *(line for source in sources for line in _source_lines(source)),
        ("Sync Policy", sync_policy_text(spec)),
        ("Sync Status", _sync_text(obj)),
        ("Health Status", _health_text(obj)),
        ("Last Operation", _operation_text(obj)),
    ]
    parts: list[RenderableType] = [_fields(pairs)]
    conditions = _status(obj).get("conditions") or []
    if conditions:
        table = _table("CONDITION", "MESSAGE", "LAST TRANSITION")
        for condition in conditions:
            table.add_row(
                Text(str(condition.get("type") or ""), style="red"),
                Text(str(condition.get("message") or "")),
                Text(str(condition.get("lastTransitionTime") or "")),
            )
        parts += [Text(""), table]
    resources = _status(obj).get("resources") or []
    if resources:
        parts += [Text(""), resources_table(resources)]
    return Group(*parts)


def _object_name(entry: Mapping[str, Any]) -> str:
    namespace = entry.get("namespace")
    return f"{namespace}/{entry.get('name')}" if namespace else str(entry.get("name") or "")


def resources_table(resources: Sequence[Mapping[str, Any]]) -> Table:
    """The objects of ``status.resources``: kind, ``namespace/name``, sync status, health."""
    table = _table("KIND", "NAME", "STATUS", "HEALTH", "MESSAGE")
    for entry in resources:
        health = entry.get("health") or {}
        message = "requires pruning" if entry.get("requiresPruning") else ""
        table.add_row(
            Text(str(entry.get("kind") or "")),
            Text(_object_name(entry)),
            _styled(str(entry.get("status") or "")),
            _styled(str(health.get("status") or "")),
            Text(message or str(health.get("message") or "")),
        )
    return table


def sync_results_table(state: Mapping[str, Any]) -> Table:
    """What a sync did to each object: kind, ``namespace/name``, status, hook, message."""
    table = _table("KIND", "NAME", "STATUS", "HOOK", "MESSAGE")
    for result in (state.get("syncResult") or {}).get("resources") or []:
        hook = result.get("hookType") or ""
        if hook and result.get("hookPhase"):
            hook = f"{hook} ({result['hookPhase']})"
        table.add_row(
            Text(str(result.get("kind") or "")),
            Text(_object_name(result)),
            _styled(str(result.get("status") or "")),
            Text(hook),
            Text(str(result.get("message") or "")),
        )
    return table


def sync_summary(obj: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """One line: ``Application ns/name: sync Succeeded at abc1234: <message>``."""
    result = state.get("syncResult") or {}
    revisions = result.get("revisions") or [result.get("revision") or ""]
    at = ", ".join(short_revision(str(r)) for r in revisions if r)
    text = f"Application {qualified_name(obj)}: sync {state.get('phase')}"
    text += f" at {at}" if at else ""
    return f"{text}: {state['message']}" if state.get("message") else text


def history_table(obj: Mapping[str, Any]) -> Table:
    """``status.history``: ID, when it was deployed, the revision, who asked."""
    table = _table("ID", "DATE", "REVISION", "INITIATED BY")
    for entry in _status(obj).get("history") or []:
        revisions = entry.get("revisions") or [entry.get("revision") or ""]
        initiator = entry.get("initiatedBy") or {}
        by = str(initiator.get("username") or ("automated" if initiator.get("automated") else ""))
        table.add_row(
            Text(str(entry.get("id"))),
            Text(str(entry.get("deployedAt") or "")),
            Text(", ".join(short_revision(str(r)) for r in revisions if r)),
            Text(by),
        )
    return table


def project_view(obj: Mapping[str, Any]) -> RenderableType:
    """``lockstep proj get``: what the project allows, from where and to where."""
    spec = _spec(obj)
    destinations = [
        f"{d.get('server') or d.get('name') or '*'} {d.get('namespace') or '*'}"
        for d in spec.get("destinations") or []
    ]
    cluster_kinds = [
        f"{k.get('group') or ''}/{k.get('kind')}"
        for k in spec.get("clusterResourceWhitelist") or []
    ]
    pairs = [
        ("Name", qualified_name(obj)),
        ("Description", str(spec.get("description") or "")),
        ("Source Repositories", ", ".join(spec.get("sourceRepos") or []) or NONE),
        ("Destinations", ", ".join(destinations) or NONE),
        ("Source Namespaces", ", ".join(spec.get("sourceNamespaces") or []) or NONE),
        ("Cluster Resources", ", ".join(cluster_kinds) or NONE),
        ("Sync Windows", str(len(spec.get("syncWindows") or []))),
    ]
    return _fields(pairs)


# --- the states waited for -------------------------------------------------------------


def started_at(obj: Mapping[str, Any]) -> datetime | None:
    """When the last operation started, ``None`` when none ever ran."""
    state = _status(obj).get("operationState") or {}
    return parse_timestamp(str(state.get("startedAt") or ""))


def operation_state(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The last operation's ``status.operationState``; empty when none ever ran."""
    return dict(_status(obj).get("operationState") or {})


def finished_sync(obj: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``operationState`` of a sync requested after the operation ``before`` (as it
    was read before the request), once it has ended; ``None`` while it has not started
    or not ended. The states are compared whole: two syncs may start within a second."""
    if obj.get("operation"):
        return None
    state = operation_state(obj)
    if not state or state == dict(before):
        return None
    return state if state.get("phase") in FINAL_PHASES else None


@dataclass(frozen=True)
class Awaited:
    """What ``lockstep app wait`` waits for."""

    sync: bool
    health: bool

    def __str__(self) -> str:
        return " and ".join(
            word for word, wanted in (("Synced", self.sync), ("Healthy", self.health)) if wanted
        )


def awaited(sync: bool, health: bool) -> Awaited:
    """Both when neither flag is given, as ``argocd app wait``."""
    return Awaited(sync, health) if sync or health else Awaited(True, True)


def reached(obj: Mapping[str, Any], wanted: Awaited) -> bool:
    """Whether the Application is as ``wanted``, with no operation pending (a requested
    sync makes the status about to change)."""
    status = _status(obj)
    synced = (status.get("sync") or {}).get("status") == SyncStatusCode.SYNCED
    healthy = (status.get("health") or {}).get("status") == HealthStatusCode.HEALTHY
    return (
        not obj.get("operation") and (synced or not wanted.sync) and (healthy or not wanted.health)
    )


def last_seen(obj: Mapping[str, Any]) -> str:
    """The Application's state in a few words, for a message saying it was not reached."""
    text = f"{_sync_text(obj)}, {_health_text(obj)}"
    if obj.get("operation"):
        text += ", a requested sync not started yet"
    conditions = _status(obj).get("conditions") or []
    if conditions:
        first = conditions[0]
        text += f", {first.get('type')}: {first.get('message') or ''}"
    return text
