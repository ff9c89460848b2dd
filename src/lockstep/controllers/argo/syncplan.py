"""The sync plan of an Argo CD Application: sync options, hooks, waves and the order of
its steps, and the plan of its deletion, as Argo CD 3.x's gitops-engine
(``pkg/sync``: ``sync_context.go``, ``sync_tasks.go``, ``hook/``, ``syncwaves/``) and
controller (``hook.go``, ``FilterObjectsForDeletion``) build them. Only what to do, in what
order: running a step, and starting the next only once the previous is healthy, is the
reconciler's.

Sync options (``spec.syncPolicy.syncOptions`` and, per object, the comma-separated
annotation ``argocd.argoproj.io/sync-options``) are matched as Argo CD matches them: as
whole ``Key=value`` strings, whitespace trimmed. A string Argo CD does not know is
ignored, as in Argo CD, and kept in :attr:`SyncOptions.unrecognized` for the caller to
warn about. An object's annotation overrides the app-wide value of the options Argo CD
reads per object (Prune, Delete, PruneLast, Replace, Force, ServerSideApply, Validate,
SkipDryRunOnMissingResource); the others are app-wide only. Helm's
``helm.sh/resource-policy: keep`` is ``Delete=false``.

Hooks: ``argocd.argoproj.io/hook`` (a comma-separated list) wins over ``helm.sh/hook``,
which maps ``pre-install``/``pre-upgrade`` to PreSync, ``post-install``/``post-upgrade``
to PostSync, ``pre-delete``/``post-delete`` to PreDelete/PostDelete; ``crd-install`` is an
ordinary object and any other Helm hook (tests, rollback) is a hook that never runs. An
object whose only hook type is Skip is not applied and not a hook. Delete policies are
those of both annotations (Helm's mapped), BeforeHookCreation when none is given. Hooks
are not part of the desired state (:func:`desired_resources`) and are never pruned. A hook
with only ``generateName`` is named, per phase, ``<generateName><revision[:7]>-<phase>-
<start, unix seconds>`` in lower case, as Argo CD names it.

Waves: ``argocd.argoproj.io/sync-wave``, else ``helm.sh/hook-weight``, else 0. Where Argo
CD silently passes over a value that is not an integer (to the Helm weight, then 0),
lockstep refuses it with a :class:`SyncPlanError` that names the object, so a typo cannot
reorder a sync unseen.

Order of a sync: phase (PreSync, Sync, PostSync), wave, kind (:data:`KIND_ORDER`, unknown
kinds after all of them, tied), name; hooks sort the same way. Then a Namespace is moved
before the first object in it, and a CRD before the first of its custom objects, taking
that object's phase and wave. Prunes run in the Sync phase, their waves mirrored (the
first wave's prunes run with the last wave); ``PruneLast`` moves them to one wave after
the Sync phase's last wave (before PostSync, as in Argo CD). In each step the prunes go
first. SyncFail hooks are kept apart: they run only when the sync fails.

Deletion: PreDelete hooks, then the objects a wave at a time from the highest, one kind at
a time in Helm's uninstall order, then PostDelete hooks. CRDs and ``Delete=false`` objects
are kept; ``Delete=confirm`` ones wait for confirmation.

Pure: objects are plain dicts, nothing is read or written. Called by the Application
reconciler (:mod:`lockstep.controllers.argo`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from lockstep.controllers.argo.tracking import api_group
from lockstep.kube import KubeObject, ObjectRef

SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
HELM_HOOK_ANNOTATION = "helm.sh/hook"
HELM_HOOK_WEIGHT_ANNOTATION = "helm.sh/hook-weight"
HELM_HOOK_DELETE_POLICY_ANNOTATION = "helm.sh/hook-delete-policy"
HELM_RESOURCE_POLICY_ANNOTATION = "helm.sh/resource-policy"


class SyncPlanError(ValueError):
    """An object the plan cannot place; the message names it, on one line."""


# --- sync options ----------------------------------------------------------------


class Removal(StrEnum):
    """May an object be pruned (``Prune=``) or deleted with the app (``Delete=``)."""

    ALLOWED = "true"
    DISABLED = "false"
    CONFIRM = "confirm"


class PropagationPolicy(StrEnum):
    FOREGROUND = "foreground"
    BACKGROUND = "background"
    ORPHAN = "orphan"


@dataclass(frozen=True)
class SyncOptions:
    """Argo CD's sync options, app-wide or as they apply to one object."""

    create_namespace: bool = False
    server_side_apply: bool = False
    prune_last: bool = False
    apply_out_of_sync_only: bool = False
    prune: Removal = Removal.ALLOWED
    delete: Removal = Removal.ALLOWED
    replace: bool = False
    force: bool = False
    validate: bool = True
    prune_propagation_policy: PropagationPolicy = PropagationPolicy.FOREGROUND
    respect_ignore_differences: bool = False
    skip_dry_run_on_missing_resource: bool = False
    fail_on_shared_resource: bool = False
    unrecognized: tuple[str, ...] = ()


# Every string Argo CD acts on: the field it sets, the value, and whether an object's
# annotation may set it.
_OPTIONS: dict[str, tuple[str, Any, bool]] = {
    "CreateNamespace=true": ("create_namespace", True, False),
    "ServerSideApply=true": ("server_side_apply", True, True),
    "ServerSideApply=false": ("server_side_apply", False, True),
    "PruneLast=true": ("prune_last", True, True),
    "ApplyOutOfSyncOnly=true": ("apply_out_of_sync_only", True, False),
    "ApplyOutOfSyncOnly=false": ("apply_out_of_sync_only", False, False),
    **{f"Prune={r.value}": ("prune", r, True) for r in Removal},
    **{f"Delete={r.value}": ("delete", r, True) for r in Removal},
    "Replace=true": ("replace", True, True),
    "Replace=false": ("replace", False, True),
    "Force=true": ("force", True, True),
    "Validate=false": ("validate", False, True),
    **{
        f"PrunePropagationPolicy={p.value}": ("prune_propagation_policy", p, False)
        for p in PropagationPolicy
    },
    "RespectIgnoreDifferences=true": ("respect_ignore_differences", True, False),
    "SkipDryRunOnMissingResource=true": ("skip_dry_run_on_missing_resource", True, True),
    "FailOnSharedResource=true": ("fail_on_shared_resource", True, False),
}


def parse_sync_options(entries: Iterable[str]) -> SyncOptions:
    """The app-wide options of ``spec.syncPolicy.syncOptions`` (or an operation's)."""
    return _with_options(SyncOptions(), [entry.strip() for entry in entries], per_object=False)


def object_sync_options(app_options: SyncOptions, obj: Mapping[str, Any]) -> SyncOptions:
    """The options for ``obj``: ``app_options`` overridden by its annotation. Its
    ``unrecognized`` lists what the annotation holds that Argo CD does not read there."""
    annotations = _annotations(obj)
    options = _with_options(
        replace(app_options, unrecognized=()),
        _csv(annotations.get(SYNC_OPTIONS_ANNOTATION)),
        per_object=True,
    )
    if annotations.get(HELM_RESOURCE_POLICY_ANNOTATION) == "keep":
        options = replace(options, delete=Removal.DISABLED)
    return options


def _with_options(base: SyncOptions, entries: Sequence[str], *, per_object: bool) -> SyncOptions:
    changes: dict[str, Any] = {}
    unrecognized: list[str] = []
    for entry in entries:
        known = _OPTIONS.get(entry)
        if known is None or (per_object and not known[2]):
            unrecognized.append(entry)
        else:
            changes[known[0]] = known[1]
    return replace(base, **changes, unrecognized=tuple(unrecognized))


# --- hooks -----------------------------------------------------------------------


class SyncPhase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"


class HookType(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    SKIP = "Skip"
    PRE_DELETE = "PreDelete"
    POST_DELETE = "PostDelete"


class HookDeletePolicy(StrEnum):
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    BEFORE_HOOK_CREATION = "BeforeHookCreation"


_HELM_HOOK_TYPES = {
    "pre-install": HookType.PRE_SYNC,
    "pre-upgrade": HookType.PRE_SYNC,
    "post-install": HookType.POST_SYNC,
    "post-upgrade": HookType.POST_SYNC,
    "pre-delete": HookType.PRE_DELETE,
    "post-delete": HookType.POST_DELETE,
}
_HELM_DELETE_POLICIES = {
    "hook-succeeded": HookDeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": HookDeletePolicy.HOOK_FAILED,
    "before-hook-creation": HookDeletePolicy.BEFORE_HOOK_CREATION,
}
_PHASE_ORDER = {
    SyncPhase.PRE_SYNC: -1,
    SyncPhase.SYNC: 0,
    SyncPhase.POST_SYNC: 1,
    SyncPhase.SYNC_FAIL: 2,
}
_PHASE_NAMES = frozenset(phase.value for phase in SyncPhase)


@dataclass(frozen=True)
class Hook:
    """What an object's hook annotations say."""

    types: tuple[HookType, ...]
    delete_policies: tuple[HookDeletePolicy, ...]

    @property
    def sync_phases(self) -> tuple[SyncPhase, ...]:
        """The phases of a sync it runs in, in order; none for delete and unknown hooks."""
        phases = {SyncPhase(t.value) for t in self.types if t.value in _PHASE_NAMES}
        return tuple(sorted(phases, key=_PHASE_ORDER.__getitem__))


def hook_types(obj: Mapping[str, Any]) -> tuple[HookType, ...]:
    """The hook types of ``obj``: Argo CD's annotation's, else Helm's mapped."""
    annotations = _annotations(obj)
    known = {t.value for t in HookType}
    argo = [HookType(t) for t in _csv(annotations.get(HOOK_ANNOTATION)) if t in known]
    if argo:
        return tuple(argo)
    helm = _csv(annotations.get(HELM_HOOK_ANNOTATION))
    return tuple(dict.fromkeys(_HELM_HOOK_TYPES[t] for t in helm if t in _HELM_HOOK_TYPES))


def is_skipped(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` says ``hook: Skip`` and nothing else: it is neither applied nor a hook."""
    return HOOK_ANNOTATION in _annotations(obj) and hook_types(obj) == (HookType.SKIP,)


def hook_of(obj: Mapping[str, Any]) -> Hook | None:
    """``obj``'s hook, or ``None`` when it is not one."""
    annotations = _annotations(obj)
    if HOOK_ANNOTATION in annotations:
        if is_skipped(obj):
            return None
    elif _csv(annotations.get(HELM_HOOK_ANNOTATION)) in ([], ["crd-install"]):
        return None
    policies = [
        HookDeletePolicy(p)
        for p in _csv(annotations.get(HOOK_DELETE_POLICY_ANNOTATION))
        if p in {q.value for q in HookDeletePolicy}
    ]
    helm = _csv(annotations.get(HELM_HOOK_DELETE_POLICY_ANNOTATION))
    policies += [_HELM_DELETE_POLICIES[p] for p in helm if p in _HELM_DELETE_POLICIES]
    return Hook(
        types=hook_types(obj),
        delete_policies=tuple(dict.fromkeys(policies)) or (HookDeletePolicy.BEFORE_HOOK_CREATION,),
    )


def desired_resources(objects: Iterable[KubeObject]) -> list[KubeObject]:
    """The objects that make up the app's desired state: all but hooks."""
    return [obj for obj in objects if hook_of(obj) is None]


def named_hook(obj: KubeObject, phase: SyncPhase, revision: str, started_at: int) -> KubeObject:
    """``obj`` with the name Argo CD gives a hook that has only ``generateName``."""
    meta = obj.get("metadata") or {}
    if meta.get("name") or not meta.get("generateName"):
        return obj
    short = revision[:7] if len(revision) >= 8 else revision
    name = f"{meta['generateName']}{f'{short}-{phase}-{started_at}'.lower()}"
    return {**obj, "metadata": {**meta, "name": name}}


# --- waves and kind order --------------------------------------------------------

KIND_ORDER: tuple[str, ...] = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
"""The order of kinds within a wave (gitops-engine's, after Helm's); others come after."""

UNINSTALL_KIND_ORDER: tuple[str, ...] = (
    "APIService",
    "Ingress",
    "Service",
    "CronJob",
    "Job",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "DaemonSet",
    "RoleBindingList",
    "RoleBinding",
    "RoleList",
    "Role",
    "ClusterRoleBindingList",
    "ClusterRoleBinding",
    "ClusterRoleList",
    "ClusterRole",
    "CustomResourceDefinition",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "ConfigMap",
    "SecretList",
    "Secret",
    "ServiceAccount",
    "PodDisruptionBudget",
    "PodSecurityPolicy",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "Namespace",
)
"""The order kinds are deleted in within a wave (Helm's uninstall order); kinds not in it
go first, with APIService, as in Argo CD."""

_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}
_UNINSTALL_RANK = {kind: rank for rank, kind in enumerate(UNINSTALL_KIND_ORDER)}
_INTEGER = re.compile(r"[+-]?[0-9]+")


def sync_wave(obj: Mapping[str, Any]) -> int:
    """The wave of ``obj``: its sync-wave, else its Helm hook weight, else 0."""
    annotations = _annotations(obj)
    for key in (SYNC_WAVE_ANNOTATION, HELM_HOOK_WEIGHT_ANNOTATION):
        if key in annotations:
            text = str(annotations[key])
            if not _INTEGER.fullmatch(text):
                raise SyncPlanError(
                    f"{ObjectRef.of(obj)}: annotation {key} must be an integer, got {text!r}; "
                    "fix it in the manifest"
                )
            return int(text)
    return 0


# --- the sync plan ---------------------------------------------------------------


@dataclass(frozen=True)
class ApplyTask:
    """One object to apply (a hook: to create) in a step."""

    obj: KubeObject
    phase: SyncPhase
    wave: int
    options: SyncOptions
    hook: Hook | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)


@dataclass(frozen=True)
class PruneTask:
    """One live object no longer desired. ``skipped`` says why it stays (Argo CD's
    PruneSkipped message), empty when it is pruned."""

    obj: KubeObject
    wave: int
    options: SyncOptions
    skipped: str = ""

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)

    @property
    def needs_confirmation(self) -> bool:
        """``Prune=confirm``: Argo CD holds the step's prunes until the app confirms."""
        return not self.skipped and self.options.prune == Removal.CONFIRM


@dataclass(frozen=True)
class SyncStep:
    """One phase and wave: its prunes run first, then the hooks to recreate
    (BeforeHookCreation) are deleted, then its applies run, in order."""

    phase: SyncPhase
    wave: int
    prunes: tuple[PruneTask, ...] = ()
    applies: tuple[ApplyTask, ...] = ()


@dataclass(frozen=True)
class SyncPlan:
    """The steps of a sync in order; the SyncFail hooks, run only when it fails; and the
    objects it does not apply (``Skip``, and hooks of no sync phase)."""

    steps: tuple[SyncStep, ...]
    sync_fail: tuple[ApplyTask, ...] = ()
    not_run: tuple[ObjectRef, ...] = ()

    @property
    def prune_skipped(self) -> tuple[PruneTask, ...]:
        return tuple(p for step in self.steps for p in step.prunes if p.skipped)

    @property
    def awaiting_confirmation(self) -> tuple[PruneTask, ...]:
        return tuple(p for step in self.steps for p in step.prunes if p.needs_confirmation)


@dataclass
class _Task:
    """A task while the plan is built: its phase and wave may still move."""

    obj: KubeObject
    phase: SyncPhase
    wave: int
    options: SyncOptions
    hook: Hook | None = None
    prune: bool = False
    skipped: str = ""


def plan_sync(
    desired: Iterable[KubeObject],
    prune: Iterable[KubeObject],
    *,
    options: SyncOptions,
    prune_enabled: bool,
    revision: str = "",
    started_at: int = 0,
) -> SyncPlan:
    """The plan of a sync of ``desired`` (resources and hooks, as rendered) that prunes
    the live objects ``prune``. ``prune_enabled``: the sync may prune (else every prune is
    skipped); ``revision`` and ``started_at`` (unix seconds) name generateName hooks."""
    tasks: list[_Task] = []
    not_run: list[ObjectRef] = []
    for obj in desired:
        hook = hook_of(obj)
        phases = hook.sync_phases if hook else (() if is_skipped(obj) else (SyncPhase.SYNC,))
        if not phases:
            not_run.append(ObjectRef.of(obj))
        for phase in phases:
            target = named_hook(obj, phase, revision, started_at) if hook else obj
            obj_options = object_sync_options(options, obj)
            tasks.append(_Task(target, phase, sync_wave(obj), obj_options, hook))
    tasks += _prune_tasks(prune, options, prune_enabled)
    _mirror_prune_waves(tasks)
    last_wave = max([0, *(t.wave for t in tasks if t.phase == SyncPhase.SYNC)]) + 1
    for task in tasks:
        if task.prune and task.options.prune_last:
            task.wave = last_wave
    tasks.sort(key=_task_order)
    _move_before_first_user(tasks, _namespace_defined, _namespace_used)
    _move_before_first_user(tasks, _crd_defined, _group_kind_used)
    fail = [t for t in tasks if t.phase == SyncPhase.SYNC_FAIL]
    steps = _steps([t for t in tasks if t.phase != SyncPhase.SYNC_FAIL])
    return SyncPlan(tuple(steps), tuple(_apply(t) for t in fail), tuple(not_run))


def _prune_tasks(
    live: Iterable[KubeObject], options: SyncOptions, prune_enabled: bool
) -> list[_Task]:
    """Hooks and ``Skip`` objects are never pruned."""
    tasks = []
    for obj in live:
        if hook_of(obj) is not None or is_skipped(obj):
            continue
        obj_options = object_sync_options(options, obj)
        skipped = ""
        if not prune_enabled:
            skipped = "ignored (requires pruning)"
        elif obj_options.prune == Removal.DISABLED:
            skipped = "ignored (no prune)"
        tasks.append(
            _Task(obj, SyncPhase.SYNC, sync_wave(obj), obj_options, prune=True, skipped=skipped)
        )
    return tasks


def _mirror_prune_waves(tasks: list[_Task]) -> None:
    """Swap the prune waves end for end, so what was created first is pruned last."""
    waves = sorted({t.wave for t in tasks if t.prune})
    mirrored = dict(zip(waves, reversed(waves), strict=True))
    for task in tasks:
        if task.prune:
            task.wave = mirrored[task.wave]


def _task_order(task: _Task) -> tuple[int, int, int, str, str, str]:
    meta = task.obj.get("metadata") or {}
    kind = str(task.obj.get("kind", ""))
    return (
        _PHASE_ORDER[task.phase],
        task.wave,
        _RANK.get(kind, len(KIND_ORDER)),
        str(meta.get("name", "")),
        str(meta.get("namespace", "") or ""),
        kind,
    )


def _move_before_first_user(
    tasks: list[_Task],
    defined: Callable[[KubeObject], str | None],
    used: Callable[[KubeObject], str | None],
) -> None:
    """Move each object that defines something (a Namespace, a CRD) before the first
    applied object that uses it, into that object's phase and wave."""
    first_use: dict[str, int] = {}
    for index, task in enumerate(tasks):
        if task.prune:
            continue
        key = defined(task.obj)
        if key is None:
            use = used(task.obj)
            if use is not None:
                first_use.setdefault(use, index)
            continue
        at = first_use.get(key)
        if at is None:
            continue
        task.phase, task.wave = tasks[at].phase, tasks[at].wave
        tasks.insert(at, tasks.pop(index))
        first_use = {k: i + 1 if i >= at else i for k, i in first_use.items()}


def _namespace_defined(obj: KubeObject) -> str | None:
    if obj.get("kind") == "Namespace" and api_group(obj) == "":
        return str((obj.get("metadata") or {}).get("name", ""))
    return None


def _namespace_used(obj: KubeObject) -> str | None:
    return str((obj.get("metadata") or {}).get("namespace") or "") or None


def _is_crd(obj: KubeObject) -> bool:
    return (
        obj.get("kind") == "CustomResourceDefinition" and api_group(obj) == "apiextensions.k8s.io"
    )


def _crd_defined(obj: KubeObject) -> str | None:
    if not _is_crd(obj):
        return None
    spec = obj.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    return f"{group}/{kind}" if group and kind else None


def _group_kind_used(obj: KubeObject) -> str | None:
    return f"{api_group(obj)}/{obj.get('kind', '')}"


def _steps(tasks: Sequence[_Task]) -> list[SyncStep]:
    steps: list[SyncStep] = []
    for task in tasks:
        if not steps or (steps[-1].phase, steps[-1].wave) != (task.phase, task.wave):
            steps.append(SyncStep(task.phase, task.wave))
        step = steps[-1]
        if task.prune:
            prune_task = PruneTask(task.obj, task.wave, task.options, task.skipped)
            steps[-1] = replace(step, prunes=(*step.prunes, prune_task))
        else:
            steps[-1] = replace(step, applies=(*step.applies, _apply(task)))
    return steps


def _apply(task: _Task) -> ApplyTask:
    return ApplyTask(task.obj, task.phase, task.wave, task.options, task.hook)


# --- the deletion plan -----------------------------------------------------------


@dataclass(frozen=True)
class DeletionStep:
    """The objects of one wave and kind, deleted together."""

    wave: int
    kind: str
    objects: tuple[KubeObject, ...]


@dataclass(frozen=True)
class DeletionPlan:
    """How an app is deleted: ``pre_delete`` hooks (run together, until complete), the
    ``steps`` in order, then ``post_delete`` hooks. ``kept`` stay in the cluster (CRDs,
    ``Delete=false``); ``needs_confirmation`` (``Delete=confirm``) hold the whole deletion
    until the app confirms it."""

    pre_delete: tuple[KubeObject, ...]
    steps: tuple[DeletionStep, ...]
    post_delete: tuple[KubeObject, ...]
    kept: tuple[KubeObject, ...] = ()
    needs_confirmation: tuple[KubeObject, ...] = ()


def plan_deletion(
    desired: Iterable[KubeObject], live: Iterable[KubeObject], *, options: SyncOptions
) -> DeletionPlan:
    """The deletion of an app whose manifests render ``desired`` (where its delete hooks
    come from) and whose objects in the cluster are ``live``."""
    desired = list(desired)
    kept: list[KubeObject] = []
    doomed: list[tuple[int, KubeObject]] = []
    for obj in live:
        if _delete_hook_types(obj):
            continue  # run, and cleaned up, by their own rules
        if _is_crd(obj) or object_sync_options(options, obj).delete == Removal.DISABLED:
            kept.append(obj)
        else:
            doomed.append((sync_wave(obj), obj))
    confirm = [o for _, o in doomed if object_sync_options(options, o).delete == Removal.CONFIRM]
    return DeletionPlan(
        pre_delete=_delete_hooks(desired, HookType.PRE_DELETE),
        steps=tuple(_deletion_steps(doomed)),
        post_delete=_delete_hooks(desired, HookType.POST_DELETE),
        kept=tuple(kept),
        needs_confirmation=tuple(confirm),
    )


def _delete_hook_types(obj: KubeObject) -> set[HookType]:
    hook = hook_of(obj)
    return {HookType.PRE_DELETE, HookType.POST_DELETE} & set(hook.types if hook else ())


def _delete_hooks(desired: Sequence[KubeObject], hook_type: HookType) -> tuple[KubeObject, ...]:
    """The hooks of ``hook_type``, by wave, kind and name (Argo CD starts them together)."""

    def order(obj: KubeObject) -> tuple[int, int, str]:
        kind = str(obj.get("kind", ""))
        name = str((obj.get("metadata") or {}).get("name", ""))
        return (sync_wave(obj), _RANK.get(kind, len(KIND_ORDER)), name)

    return tuple(sorted((o for o in desired if hook_type in _delete_hook_types(o)), key=order))


def _deletion_steps(doomed: Sequence[tuple[int, KubeObject]]) -> list[DeletionStep]:
    groups: dict[tuple[int, str], list[KubeObject]] = {}
    for wave, obj in doomed:
        groups.setdefault((wave, str(obj.get("kind", ""))), []).append(obj)

    def order(key: tuple[int, str]) -> tuple[int, int, str]:
        wave, kind = key
        return (-wave, _UNINSTALL_RANK.get(kind, 0), kind)

    return [
        DeletionStep(wave, kind, tuple(sorted(groups[wave, kind], key=_name)))
        for wave, kind in sorted(groups, key=order)
    ]


def _name(obj: KubeObject) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "") or ""), str(meta.get("name", "")))


# --- annotations -----------------------------------------------------------------


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _csv(value: Any) -> list[str]:
    """A comma-separated annotation's items, trimmed, empty ones and repeats left out."""
    if not value:
        return []
    return list(dict.fromkeys(item.strip() for item in str(value).split(",") if item.strip()))
