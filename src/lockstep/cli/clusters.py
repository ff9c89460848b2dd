"""The cluster a Kustomization or a HelmRelease applies to, for the commands that read or
dry-run there.

An object with ``spec.kubeConfig`` applies to the cluster whose kubeconfig its
Secret holds, not to the cluster it lives on: ``lockstep diff`` and ``lockstep
build helmrelease`` must read and dry-run there, and ``lockstep trace`` and
``lockstep tree`` must read its objects there.
The Secret is read, and the remote cluster reached, as the engine does
(:mod:`lockstep.runtime.clusters`); a Secret that is missing or unusable, or a
cluster that cannot be reached, is a one-line error naming the Secret (exit 2),
and nothing is read from or compared with another cluster instead.

Used by :mod:`lockstep.cli.build`, :mod:`lockstep.cli.helm`, :mod:`lockstep.cli.trace`
and :mod:`lockstep.cli.tree`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.cli.context import UserError
from lockstep.kube import KubeClient, ObjectRef
from lockstep.runtime.clusters import (
    ClusterTarget,
    ClusterUnavailable,
    kube_config_target,
    target_client,
)

CLUSTER_ERROR = 2
"""Exit code when the cluster of an object cannot be used."""


@dataclass(frozen=True)
class TargetCluster:
    """The cluster an object's objects are on, and a client reaching it."""

    target: ClusterTarget
    client: KubeClient

    @property
    def remote(self) -> bool:
        return not self.target.local


async def object_target(kube: KubeClient, obj: Mapping[str, Any]) -> ClusterTarget:
    """The target of ``obj`` (a Kustomization or a HelmRelease as read from ``kube``'s
    cluster)."""
    metadata = obj.get("metadata") or {}
    kube_config = (obj.get("spec") or {}).get("kubeConfig")
    try:
        return await kube_config_target(kube, str(metadata.get("namespace") or ""), kube_config)
    except ClusterUnavailable as error:
        raise UserError(_failed(obj, error), code=CLUSTER_ERROR) from error


@contextlib.asynccontextmanager
async def target_cluster(kube: KubeClient, obj: Mapping[str, Any]) -> AsyncIterator[TargetCluster]:
    """The cluster of ``obj`` while the block runs: ``kube`` itself when it
    applies where it lives, else a client made from its kubeconfig Secret (with
    ``kube``'s field manager), closed at the end."""
    target = await object_target(kube, obj)
    try:
        async with target_client(kube, target) as client:
            yield TargetCluster(target, client)
    except ClusterUnavailable as error:
        raise UserError(_failed(obj, error), code=CLUSTER_ERROR) from error


def _failed(obj: Mapping[str, Any], error: ClusterUnavailable) -> str:
    ref = ObjectRef.of(obj)
    return f"{ref.kind} {ref.namespace}/{ref.name}: {error}"
