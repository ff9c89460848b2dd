"""Discovery is asked once per group-version: by callers that miss together, and by the
clients impersonating from a client that already knows the answer."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from lightkube.config.kubeconfig import KubeConfig

from lockstep.kube import KubeClient, NotFound

SERVER = "https://127.0.0.1:6443"
CORE = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "namespaces/status", "kind": "Namespace", "namespaced": False},
    ],
}


def _config() -> object:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": SERVER}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    return KubeConfig.from_dict(document).get()


class SlowDiscovery:
    """Answers the core group's discovery a moment later, so that callers pile up."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        await asyncio.sleep(0.01)
        if request.url.path == "/api/v1":
            return httpx2.Response(200, json=CORE)
        return httpx2.Response(404, json={"kind": "Status", "code": 404})


async def test_callers_that_miss_together_share_one_discovery_request() -> None:
    server = SlowDiscovery()
    async with KubeClient(_config(), transport=httpx2.MockTransport(server)) as kube:
        infos = await asyncio.gather(
            *(kube.resource_info("v1", kind) for kind in ["ConfigMap", "Namespace"] * 10)
        )

    assert server.paths == ["/api/v1"]
    assert {(info.kind, info.plural, info.namespaced) for info in infos} == {
        ("ConfigMap", "configmaps", True),
        ("Namespace", "namespaces", False),
    }


async def test_a_missing_kind_asks_again_in_case_its_definition_was_installed() -> None:
    server = SlowDiscovery()
    async with KubeClient(_config(), transport=httpx2.MockTransport(server)) as kube:
        for _ in range(2):
            with pytest.raises(NotFound, match='no kind "Widget" in "v1"'):
                await kube.resource_info("v1", "Widget")

    assert server.paths == ["/api/v1", "/api/v1"]


async def test_impersonating_clients_use_what_their_parent_discovered() -> None:
    server = SlowDiscovery()
    async with KubeClient(_config(), transport=httpx2.MockTransport(server)) as kube:
        await kube.resource_info("v1", "ConfigMap")
        tenant = kube.impersonating("system:serviceaccount:ns:deployer")
        try:
            # Nothing listens on the configured server: a request would fail here.
            info = await tenant.resource_info("v1", "ConfigMap")
        finally:
            await tenant.close()

    assert info.plural == "configmaps"
    assert server.paths == ["/api/v1"]
