"""The apply engine: staged server-side apply, drift detection, inventory and prune.

A library that knows nothing about custom resources, conditions or queues: it
takes plain object dictionaries and a :class:`~lockstep.kube.KubeClient` and
returns a :class:`ChangeSet`. Verbs: :func:`apply_all` and :func:`prune`, each
with an options object and its ``default_..._options()`` constructor.
:func:`ignored_pointers` tells drift watchers which fields of an object the
ignore rules (:class:`IgnoreRule`) of :class:`ApplyOptions` leave alone.

Called by the controllers (the Kustomization reconciler first).
"""

from lockstep.apply.apply import ApplyOptions, apply_all, default_apply_options
from lockstep.apply.changeset import (
    Action,
    ApplyError,
    ChangeSet,
    ChangeSetEntry,
    ChangeSetFailure,
)
from lockstep.apply.ignore import IgnoreRule, ignored_pointers
from lockstep.apply.inventory import (
    InventoryEntry,
    inventory_id,
    parse_inventory_id,
    stale_entries,
)
from lockstep.apply.objects import Owner
from lockstep.apply.prune import PruneOptions, default_prune_options, prune
from lockstep.apply.selector import Selector
from lockstep.apply.sort import apply_order_key, apply_stage, sort_for_apply, split_into_stages

__all__ = [
    "Action",
    "ApplyError",
    "ApplyOptions",
    "ChangeSet",
    "ChangeSetEntry",
    "ChangeSetFailure",
    "IgnoreRule",
    "InventoryEntry",
    "Owner",
    "PruneOptions",
    "Selector",
    "apply_all",
    "apply_order_key",
    "apply_stage",
    "default_apply_options",
    "default_prune_options",
    "ignored_pointers",
    "inventory_id",
    "parse_inventory_id",
    "prune",
    "sort_for_apply",
    "split_into_stages",
    "stale_entries",
]
