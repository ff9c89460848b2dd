"""How a GitRepository reaches its server, field by field as Flux defines them: what
lockstep cannot do yet is refused with Stalled, never ignored: ``spec.provider``
``aws``/``azure``/``github``, ``spec.proxySecretRef`` and the TLS keys of the Secret of
an https URL.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.relays import HttpProxy
from ground.tls import TlsMaterial
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration

SOURCE = "source.toolkit.fluxcd.io/v1"


def git_repository(namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE,
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}, **spec},
    }


def secret(namespace: str, name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


async def settled(kube: KubeClient, namespace: str, status: str) -> dict[str, Any]:
    ref = ObjectRef(SOURCE, "GitRepository", "app", namespace)
    return await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith(status),
        what=f"Ready={status}",
    )


async def test_a_proxy_secret_ref_is_refused_not_bypassed(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, http_proxy: HttpProxy
) -> None:
    await kube.apply(
        secret(
            namespace,
            "proxy",
            {
                "address": http_proxy.address.encode(),
                "username": b"proxy-user",
                "password": b"proxy-pass",
            },
        )
    )
    await kube.apply(git_repository(namespace, git_repo.http_url, proxySecretRef={"name": "proxy"}))

    failed = await settled(kube, namespace, "False")
    assert "spec.proxySecretRef is not supported yet for Git" in condition(failed, "Ready")
    assert condition(failed, "Stalled").startswith("True")
    assert "artifact" not in failed["status"], "nothing was fetched around the proxy"


@pytest.mark.parametrize(
    ("provider", "needs"),
    [("github", "a GitHub App"), ("azure", "cloud identity"), ("aws", "cloud identity")],
)
async def test_a_provider_lockstep_cannot_serve_is_stalled(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repo: ServedRepo,
    provider: str,
    needs: str,
) -> None:
    await kube.apply(git_repository(namespace, git_repo.http_url, provider=provider))

    failed = await settled(kube, namespace, "False")
    assert f"spec.provider '{provider}' needs {needs}, not supported yet" in condition(
        failed, "Ready"
    )
    assert condition(failed, "Stalled").startswith("True")


async def test_tls_keys_for_an_https_url_are_refused_not_ignored(
    engine: Engine, kube: KubeClient, namespace: str, tls_material: TlsMaterial
) -> None:
    await kube.apply(secret(namespace, "creds", {"ca.crt": tls_material.ca}))
    await kube.apply(
        git_repository(namespace, "https://127.0.0.1:9/app.git", secretRef={"name": "creds"})
    )

    failed = await settled(kube, namespace, "False")
    message = condition(failed, "Ready")
    assert "holds ca.crt, but lockstep cannot use a custom CA or client certificate" in message
    assert condition(failed, "Stalled").startswith("True")
