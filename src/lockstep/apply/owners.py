"""The owner values of the kinds lockstep serves: a Flux Kustomization.

Kept apart from the engine modules, which name no toolkit: they take an
:class:`~lockstep.apply.objects.Owner` and read it. A Kustomization's objects
carry the labels ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``, honour
the annotations ``kustomize.toolkit.fluxcd.io/reconcile``, ``/ssa``, ``/prune`` and
``/force``, and are applied under lockstep's field manager. The drift watchers
find a Kustomization's objects by the same labels.

Called by the Kustomization reconciler, its drift watchers, and ``lockstep diff``.
"""

from __future__ import annotations

from lockstep.apply.objects import GroupAnnotations, Owner, OwnerLabels
from lockstep.kube import FIELD_MANAGER

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
KUSTOMIZATION_FIELD_MANAGER = FIELD_MANAGER
KUSTOMIZATION_NAME_LABEL = f"{KUSTOMIZE_GROUP}/name"
KUSTOMIZATION_NAMESPACE_LABEL = f"{KUSTOMIZE_GROUP}/namespace"
KUSTOMIZATION_ANNOTATIONS = GroupAnnotations(KUSTOMIZE_GROUP)

KUSTOMIZATION_RECREATE_HINT = (
    "set spec.force: true on the Kustomization or annotate the object "
    f"{KUSTOMIZATION_ANNOTATIONS.key('force')}: enabled to recreate it"
)


def kustomization_owner(name: str, namespace: str) -> Owner:
    """The owner of the objects the Kustomization ``namespace/name`` applies."""
    return Owner(
        field_manager=KUSTOMIZATION_FIELD_MANAGER,
        marking=OwnerLabels(KUSTOMIZE_GROUP, name, namespace),
        annotations=KUSTOMIZATION_ANNOTATIONS,
        recreate_hint=KUSTOMIZATION_RECREATE_HINT,
    )
