"""The options of the plan, diff and apply verbs: one object, so that a diff plans
exactly as the apply that follows it will.

Called by :mod:`lockstep.apply.plan`, :mod:`lockstep.apply.diff` and
:mod:`lockstep.apply.apply`; built by their callers with :func:`default_apply_options`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lockstep.apply.ignore import IgnoreRule
from lockstep.apply.objects import Owner
from lockstep.kube import KubeObject, ObjectRef

LiveCopies = Callable[[ObjectRef], KubeObject | None]
"""Looks up a watched, complete copy of an object; ``None`` when there is none."""


@dataclass(frozen=True)
class ApplyOptions:
    """How a set is planned and applied.

    ``owner``: who applies the set: its field manager, the mark every object gets,
    the per-object annotations honoured (see :mod:`lockstep.apply.objects`).
    ``force``: take over fields other field managers own instead of failing on conflicts
    (server-side apply's force; it never deletes anything).
    ``wait_timeout`` / ``wait_interval``: how long, and how often, to poll for a stage's
    CRDs to be Established and Namespaces Active before the next stage; the interval
    also paces the wait for a recreated object's deletion.
    ``recreate_immutable``: delete and create again an object whose change the API server
    refuses because a field is immutable (Flux's ``spec.force``); an object whose
    annotations ask for it (the owner's ``recreate`` policy) is recreated whatever this says.
    ``recreate_timeout``: how long a deleted object may take to be gone (finalizers may
    hold it) before the set fails instead of creating it again.
    ``ignore_rules``: fields left as they are in the cluster (see :mod:`lockstep.apply.ignore`).
    ``live_copies``: watched copies of objects, complete (never a copy kept without some
    of its fields); planning uses one instead of reading the object when it is at the
    resourceVersion the object's dry-run answered, that is exactly the object in the
    cluster.
    """

    owner: Owner
    force: bool = True
    wait_timeout: float = 60.0
    wait_interval: float = 0.5
    recreate_immutable: bool = False
    recreate_timeout: float = 60.0
    ignore_rules: tuple[IgnoreRule, ...] = ()
    live_copies: LiveCopies | None = None


def default_apply_options(owner: Owner) -> ApplyOptions:
    return ApplyOptions(owner=owner)
