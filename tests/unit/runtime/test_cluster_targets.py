"""Flux's ``spec.kubeConfig`` as an object writes it, turned into a cluster target:
none is the local cluster, a ``secretRef`` reads the Secret (its key or Flux's
default keys), a ``configMapRef`` is refused as needing cloud identity; and the
one-off client of a target, for the CLI, is the caller's own for the local one."""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest

from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.runtime.clusters import (
    CLOUD_IDENTITY_REFUSED,
    LOCAL_CLUSTER,
    CloudIdentityUnsupported,
    ClusterUnavailable,
    kube_config_target,
    kubeconfig_digest,
    target_client,
)

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: https://b}}]\n"


class Secrets:
    """Answers ``get`` for the Secrets it holds, recording what was read."""

    field_manager = "lockstep"

    def __init__(self, **secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.reads: list[ObjectRef] = []

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.reads.append(ref)
        data = self.secrets.get(ref.name)
        if data is None:
            raise NotFound(f"{ref} not found", code=404)
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        return {"kind": "Secret", "data": encoded}


async def _target(secrets: Secrets, kube_config: dict[str, Any] | None) -> Any:
    return await kube_config_target(cast(KubeClient, secrets), "apps", kube_config)


async def test_no_kube_config_is_the_local_cluster_and_reads_nothing() -> None:
    secrets = Secrets()
    assert await _target(secrets, None) is LOCAL_CLUSTER
    assert await _target(secrets, {}) is LOCAL_CLUSTER
    assert secrets.reads == []


async def test_a_secret_ref_reads_the_secret_in_the_objects_namespace() -> None:
    secrets = Secrets(prod={"value.yaml": KUBECONFIG}, other={"config": KUBECONFIG})

    target = await _target(secrets, {"secretRef": {"name": "prod"}})
    assert not target.local
    assert str(target) == "kubeconfig Secret apps/prod"
    assert target.kubeconfig == KUBECONFIG
    assert target.digest == kubeconfig_digest(KUBECONFIG)
    assert secrets.reads == [ObjectRef("v1", "Secret", "prod", "apps")]

    keyed = await _target(secrets, {"secretRef": {"name": "other", "key": "config"}})
    assert keyed.kubeconfig == KUBECONFIG


async def test_a_missing_secret_is_unavailable_naming_it() -> None:
    with pytest.raises(ClusterUnavailable, match="kubeconfig Secret apps/gone does not exist"):
        await _target(Secrets(), {"secretRef": {"name": "gone"}})


async def test_a_config_map_ref_is_refused_as_cloud_identity() -> None:
    secrets = Secrets()
    with pytest.raises(CloudIdentityUnsupported) as refused:
        await _target(secrets, {"configMapRef": {"name": "aks"}})
    assert str(refused.value) == CLOUD_IDENTITY_REFUSED
    assert "use kubeConfig.secretRef" in str(refused.value)
    assert secrets.reads == []


async def test_the_local_target_client_is_the_callers_own_and_stays_open() -> None:
    kube = cast(KubeClient, object())
    async with target_client(kube, LOCAL_CLUSTER) as client:
        assert client is kube


async def test_a_remote_target_that_is_not_a_kubeconfig_fails_before_connecting() -> None:
    secrets = Secrets(prod={"value": "just text"})
    target = await _target(secrets, {"secretRef": {"name": "prod"}})
    with pytest.raises(ClusterUnavailable, match="kubeconfig Secret apps/prod does not hold"):
        async with target_client(cast(KubeClient, secrets), target):
            pytest.fail("no client may be handed out")
