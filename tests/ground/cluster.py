"""Fixtures for the real local control plane (see :mod:`lockstep.dev.cluster`).

One cluster, named ``lockstep-test`` on a free port with its data in the
session's temporary folder (so concurrent test sessions never share one),
serves the whole test session and is deleted at its end. Each test that needs a namespace gets its
own, deleted afterwards. If the control plane cannot start, every test that
uses it fails with the reason: integration tests are never silently skipped.

A second cluster, ``lockstep-test-remote``, with its own port and data, starts
only for the tests that ask for it (Kustomizations applying to another
cluster); :func:`remote_kubeconfig_secret` holds its kubeconfig, certificates
inline, as a Flux kubeconfig Secret does.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeClient, ObjectRef

TEST_CLUSTER = "lockstep-test"
REMOTE_TEST_CLUSTER = "lockstep-test-remote"


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(TEST_CLUSTER, port=0, state=tmp_path_factory.mktemp("cluster-state"))
    cluster.up(lambda _message: None, lambda *_progress: None)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def remote_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A second control plane beside ``local_cluster``, on another free port."""
    cluster = LocalCluster(
        REMOTE_TEST_CLUSTER, port=0, state=tmp_path_factory.mktemp("remote-cluster-state")
    )
    cluster.up(lambda _message: None, lambda *_progress: None)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
async def remote_kube(remote_cluster: LocalCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(remote_cluster.kubeconfig) as client:
        yield client


def remote_kubeconfig_secret(
    cluster: LocalCluster, name: str, namespace: str, key: str = "value"
) -> dict[str, Any]:
    """A Secret holding the kubeconfig of ``cluster`` under ``key``."""
    value = base64.b64encode(cluster.portable_kubeconfig().encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: value},
    }


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalCluster) -> Path:
    return local_cluster.kubeconfig


@pytest.fixture(scope="session")
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete(ObjectRef("v1", "Namespace", name))
