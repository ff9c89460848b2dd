"""The cluster an object's reconcile applies to, for every family that serves Flux's
``spec.kubeConfig`` (Kustomization, HelmRelease): the local one, or the one whose
kubeconfig a Secret holds, from the family's
:class:`~lockstep.runtime.clusters.ClusterRegistry`. A target that cannot be used fails
the reconcile naming it, and nothing is applied anywhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lockstep.api.meta import ConditionReason
from lockstep.controllers.shell import Failure
from lockstep.runtime.clusters import (
    CloudIdentityUnsupported,
    Cluster,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    W,
)
from lockstep.runtime.informer import ObjectKey


async def reconciled_cluster(
    clusters: ClusterRegistry[W],
    key: ObjectKey,
    target: Callable[[], Awaitable[ClusterTarget]],
    name: str,
) -> Cluster[W]:
    """The cluster of the object at ``key`` (``name`` in messages, ``Kind ns/name``), its
    ``target`` read now. When it cannot be used, the object holds no cluster any more
    and the reconcile fails (``ReconciliationFailed``; Stalled when only a change of
    the spec helps, a cloud provider's identity)."""
    try:
        return await clusters.use(key, await target())
    except ClusterUnavailable as error:
        await clusters.release(key)
        raise Failure(
            ConditionReason.RECONCILIATION_FAILED,
            f"{name}: {error}",
            terminal=isinstance(error, CloudIdentityUnsupported),
        ) from error
