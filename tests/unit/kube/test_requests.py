"""Requests are counted by verb as the API server names them, dry-runs apart, and the
impersonating clients of a client add to its counts."""

from __future__ import annotations

import httpx2
import pytest
from lightkube.config.kubeconfig import KubeConfig

from lockstep.kube import KubeClient
from lockstep.kube.requests import (
    APPLY_PATCH_TYPE,
    CountingTransport,
    RequestCounts,
    request_verb,
)

SERVER = "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "verb"),
    [
        ("GET", "/api/v1/namespaces/ns/configmaps/settings", "", "GET"),
        ("GET", "/api/v1/namespaces/ns/configmaps", "", "LIST"),
        ("GET", "/api/v1/configmaps", "", "LIST"),
        ("GET", "/api/v1/namespaces", "", "LIST"),
        ("GET", "/api/v1/namespaces/ns", "", "GET"),
        ("GET", "/api/v1/namespaces/ns/status", "", "GET"),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments", "", "LIST"),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale", "", "GET"),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "", "LIST"),
        ("GET", "/apis/apps/v1", "", "GET"),
        ("GET", "/version", "", "GET"),
        ("GET", "/api/v1/namespaces/ns/configmaps?watch=true", "", "WATCH"),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/a", APPLY_PATCH_TYPE, "APPLY"),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/a", "application/json-patch+json", "PATCH"),
        ("POST", "/api/v1/namespaces/ns/configmaps", "application/json", "POST"),
        ("PUT", "/api/v1/namespaces/ns/configmaps/a", "application/json", "PUT"),
        ("DELETE", "/api/v1/namespaces/ns/configmaps/a", "", "DELETE"),
    ],
)
def test_verbs_are_named_as_the_api_server_names_them(
    method: str, path: str, content_type: str, verb: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert request_verb(httpx2.Request(method, SERVER + path, headers=headers)) == verb


async def test_the_transport_counts_each_request_by_verb_and_dry_run() -> None:
    counts = RequestCounts()
    inner = httpx2.MockTransport(lambda request: httpx2.Response(200, json={}))
    async with httpx2.AsyncClient(
        transport=CountingTransport(inner, counts), base_url=SERVER
    ) as client:
        await client.get("/api/v1/namespaces/ns/configmaps/a")
        await client.get("/api/v1/namespaces/ns/configmaps/b")
        apply = {"Content-Type": APPLY_PATCH_TYPE}
        await client.patch("/api/v1/namespaces/ns/configmaps/a", headers=apply, content="{}")
        await client.patch(
            "/api/v1/namespaces/ns/configmaps/a",
            params={"dryRun": "All"},
            headers=apply,
            content="{}",
        )
    assert counts.snapshot() == {("GET", False): 2, ("APPLY", False): 1, ("APPLY", True): 1}
    assert counts.total() == 4


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


async def test_impersonating_clients_add_to_the_counts_of_their_parent() -> None:
    async with KubeClient(_config()) as kube:
        tenant = kube.impersonating("system:serviceaccount:ns:deployer")
        assert tenant.requests is kube.requests
        await tenant.close()
    async with KubeClient(_config()) as other:
        assert other.requests is not kube.requests
