"""The apply engine for any owner: plan, diff, staged server-side apply, inventory and prune.

A library that knows nothing about custom resources, conditions or queues: it
takes plain object dictionaries, a :class:`~lockstep.kube.KubeClient` and an
:class:`Owner` (field manager, ownership mark, the per-object annotations it
honours; :mod:`lockstep.apply.owners` builds a Flux Kustomization's), and returns
data. Verbs: :func:`plan_all` (what applying would do, per object),
:func:`diff_all` (the same, with the live and dry-run objects to show),
:func:`apply_all` (writes what the plan says), :func:`prune` and
:func:`wait_healthy` (until the applied objects are healthy), with their options
objects and ``default_..._options()`` constructors.
:func:`ignored_pointers` tells drift watchers which fields of an object the
ignore rules (:class:`IgnoreRule`) of :class:`ApplyOptions` leave alone.

Called by the controllers (the Kustomization reconciler first) and ``lockstep diff``.
"""

from lockstep.apply.apply import apply_all
from lockstep.apply.changeset import (
    Action,
    ApplyError,
    ChangeSet,
    ChangeSetEntry,
    ChangeSetFailure,
)
from lockstep.apply.diff import ObjectDiff, SetDiff, diff_all
from lockstep.apply.health_wait import (
    CachedObjects,
    HealthCheckFailed,
    HealthWaitCancelled,
    cached_health,
    resolve,
    wait_healthy,
)
from lockstep.apply.ignore import IgnoreRule, ignored_pointers
from lockstep.apply.inventory import (
    InventoryEntry,
    intended_inventory,
    inventory_id,
    parse_inventory_id,
    stale_entries,
)
from lockstep.apply.namespaces import with_default_namespace
from lockstep.apply.objects import (
    AnnotationPolicy,
    ApplyMode,
    GroupAnnotations,
    Marking,
    ObjectPolicy,
    Owner,
    OwnerLabels,
)
from lockstep.apply.options import ApplyOptions, default_apply_options
from lockstep.apply.owners import helm_ownership_problems, helm_release_owner, kustomization_owner
from lockstep.apply.plan import Plan, PlanFailure, PlannedObject, SkipReason, plan_all
from lockstep.apply.prune import PruneOptions, default_prune_options, prune
from lockstep.apply.selector import Selector
from lockstep.apply.sort import apply_order_key, apply_stage, sort_for_apply, split_into_stages

__all__ = [
    "Action",
    "AnnotationPolicy",
    "ApplyError",
    "ApplyMode",
    "ApplyOptions",
    "CachedObjects",
    "ChangeSet",
    "ChangeSetEntry",
    "ChangeSetFailure",
    "GroupAnnotations",
    "HealthCheckFailed",
    "HealthWaitCancelled",
    "IgnoreRule",
    "InventoryEntry",
    "Marking",
    "ObjectDiff",
    "ObjectPolicy",
    "Owner",
    "OwnerLabels",
    "Plan",
    "PlanFailure",
    "PlannedObject",
    "PruneOptions",
    "Selector",
    "SetDiff",
    "SkipReason",
    "apply_all",
    "apply_order_key",
    "apply_stage",
    "cached_health",
    "default_apply_options",
    "default_prune_options",
    "diff_all",
    "helm_ownership_problems",
    "helm_release_owner",
    "ignored_pointers",
    "intended_inventory",
    "inventory_id",
    "kustomization_owner",
    "parse_inventory_id",
    "plan_all",
    "prune",
    "resolve",
    "sort_for_apply",
    "split_into_stages",
    "stale_entries",
    "wait_healthy",
    "with_default_namespace",
]
