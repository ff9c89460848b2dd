"""The cluster a Kustomization applies to, for the commands that read or dry-run there.

A Kustomization with ``spec.kubeConfig`` applies to the cluster whose kubeconfig
its Secret holds, not to the cluster it lives on: ``lockstep diff`` must dry-run
there, and ``lockstep trace`` and ``lockstep tree`` must read its objects there.
The Secret is read, and the remote cluster reached, as the engine does
(:mod:`lockstep.runtime.clusters`); a Secret that is missing or unusable, or a
cluster that cannot be reached, is a one-line error naming the Secret (exit 2),
and nothing is read from or compared with another cluster instead.

Used by :mod:`lockstep.cli.build`, :mod:`lockstep.cli.trace` and :mod:`lockstep.cli.tree`.
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
"""Exit code when the cluster of a Kustomization cannot be used."""


@dataclass(frozen=True)
class KustomizationCluster:
    """The cluster a Kustomization's objects are on, and a client reaching it."""

    target: ClusterTarget
    client: KubeClient

    @property
    def remote(self) -> bool:
        return not self.target.local


async def kustomization_target(kube: KubeClient, kustomization: Mapping[str, Any]) -> ClusterTarget:
    """The target of ``kustomization`` (an object as read from ``kube``'s cluster)."""
    metadata = kustomization.get("metadata") or {}
    kube_config = (kustomization.get("spec") or {}).get("kubeConfig")
    try:
        return await kube_config_target(kube, str(metadata.get("namespace") or ""), kube_config)
    except ClusterUnavailable as error:
        raise UserError(_failed(kustomization, error), code=CLUSTER_ERROR) from error


@contextlib.asynccontextmanager
async def kustomization_cluster(
    kube: KubeClient, kustomization: Mapping[str, Any]
) -> AsyncIterator[KustomizationCluster]:
    """The cluster of ``kustomization`` while the block runs: ``kube`` itself when it
    applies where it lives, else a client made from its kubeconfig Secret (with
    ``kube``'s field manager), closed at the end."""
    target = await kustomization_target(kube, kustomization)
    try:
        async with target_client(kube, target) as client:
            yield KustomizationCluster(target, client)
    except ClusterUnavailable as error:
        raise UserError(_failed(kustomization, error), code=CLUSTER_ERROR) from error


def _failed(kustomization: Mapping[str, Any], error: ClusterUnavailable) -> str:
    return f"Kustomization {_name(kustomization)}: {error}"


def _name(kustomization: Mapping[str, Any]) -> str:
    ref = ObjectRef.of(kustomization)
    return f"{ref.namespace}/{ref.name}"
