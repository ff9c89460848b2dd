"""Registry TLS and proxies from Secrets, as Flux reads them, against the real registry.

The loopback registry speaks plain HTTP; a TLS relay (`ground.relays.TlsRelay`) serves it
over HTTPS with a certificate of a throw-away CA and asks for a client certificate, and
a forward proxy with basic auth (`ground.relays.HttpProxy`) stands between the engine
and the registry. OCIRepository honours ``certSecretRef`` (``ca.crt``, ``tls.crt``,
``tls.key``), ``proxySecretRef`` and ``serviceAccountName`` pull secrets;
ImageRepository ``certSecretRef``; a cloud ``provider`` is Stalled, saying why.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import artifact_files, condition
from ground.engine import Engine
from ground.images import REGISTRY_USER, authenticated_registry, push_tags
from ground.oci import FILES, push
from ground.relays import HttpProxy, TlsRelay
from ground.tls import TlsMaterial
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration

SOURCE = "source.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with authenticated_registry(tmp_path_factory.mktemp("private-registry")) as registry:
        yield registry


@pytest.fixture
def tls_relay(oci_registry: OciRegistry, tls_material: TlsMaterial) -> Iterator[TlsRelay]:
    relay = TlsRelay(oci_registry.host, tls_material, client_ca=tls_material.ca)
    yield relay
    relay.close()


def secret(namespace: str, name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def oci_source(namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE,
        "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "ref": {"tag": "v1"}, **spec},
    }


async def ready_condition(kube: KubeClient, namespace: str, status: str) -> dict[str, Any]:
    ref = ObjectRef(SOURCE, "OCIRepository", "app", namespace)
    return await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith(status),
        what=f"Ready={status}",
    )


async def test_a_ca_and_client_certificate_from_cert_secret_ref(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tls_relay: TlsRelay,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1", tmp_path)
    path = oci_repository.split("/", 1)[1]
    await kube.apply(
        secret(
            namespace,
            "tls",
            {
                "ca.crt": tls_material.ca,
                "tls.crt": tls_material.client_cert,
                "tls.key": tls_material.client_key,
            },
        )
    )
    await kube.apply(
        oci_source(namespace, f"oci://{tls_relay.host}/{path}", certSecretRef={"name": "tls"})
    )

    ready = await ready_condition(kube, namespace, "True")
    assert artifact_files(ready["status"]["artifact"]["url"]) == FILES


async def test_without_the_client_certificate_the_registry_refuses(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tls_relay: TlsRelay,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1", tmp_path)
    path = oci_repository.split("/", 1)[1]
    await kube.apply(secret(namespace, "tls", {"ca.crt": tls_material.ca}))
    await kube.apply(
        oci_source(namespace, f"oci://{tls_relay.host}/{path}", certSecretRef={"name": "tls"})
    )

    failed = await ready_condition(kube, namespace, "False")
    assert "cannot reach" in condition(failed, "Ready")
    assert tls_relay.handshakes_refused >= 1


async def test_insecure_accepts_a_certificate_of_an_unknown_ca_as_flux_does(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1", tmp_path)
    relay = TlsRelay(oci_registry.host, tls_material)  # no client certificate asked
    try:
        path = oci_repository.split("/", 1)[1]
        await kube.apply(oci_source(namespace, f"oci://{relay.host}/{path}", insecure=True))
        ready = await ready_condition(kube, namespace, "True")
        assert artifact_files(ready["status"]["artifact"]["url"]) == FILES
    finally:
        relay.close()


async def test_the_proxy_of_proxy_secret_ref_carries_the_traffic(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    http_proxy: HttpProxy,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1", tmp_path)
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
    await kube.apply(
        oci_source(namespace, f"oci://{oci_repository}", proxySecretRef={"name": "proxy"})
    )

    await ready_condition(kube, namespace, "True")
    registry_requests = [t for t in http_proxy.targets if oci_registry.host in t]
    assert any("/manifests/v1" in target for target in registry_requests)
    assert http_proxy.refused == 0


async def test_credentials_from_the_service_account_pull_secrets(
    engine: Engine, kube: KubeClient, namespace: str, private_registry: OciRegistry
) -> None:
    push_tags(private_registry, "team/app", "1.0.0", auth=REGISTRY_USER)
    host = private_registry.host
    config = {
        "auths": {host: {"username": REGISTRY_USER.username, "password": REGISTRY_USER.password}}
    }
    pull = secret(namespace, "pull", {".dockerconfigjson": json.dumps(config).encode()})
    pull["type"] = "kubernetes.io/dockerconfigjson"
    await kube.apply(pull)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "puller", "namespace": namespace},
            "imagePullSecrets": [{"name": "pull"}],
        }
    )
    for name, extra in (("with-account", {"serviceAccountName": "puller"}), ("without", {})):
        await kube.apply(
            {
                "apiVersion": "image.toolkit.fluxcd.io/v1",
                "kind": "ImageRepository",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"image": f"{host}/team/app", "interval": "1h", **extra},
            }
        )

    def ref(name: str) -> ObjectRef:
        return ObjectRef("image.toolkit.fluxcd.io/v1", "ImageRepository", name, namespace)

    await eventually(
        lambda: kube.get(ref("with-account")),
        lambda o: condition(o, "Ready").startswith("True"),
        what="scanned with the ServiceAccount's pull secret",
    )
    refused = await eventually(
        lambda: kube.get(ref("without")),
        lambda o: condition(o, "Ready").startswith("False"),
        what="refused without credentials",
    )
    assert "AuthenticationFailed" in str(refused["status"]["conditions"])


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
async def test_a_cloud_provider_is_stalled_saying_it_needs_cloud_identity(
    engine: Engine, kube: KubeClient, namespace: str, oci_repository: str, provider: str
) -> None:
    await kube.apply(oci_source(namespace, f"oci://{oci_repository}", provider=provider))

    failed = await ready_condition(kube, namespace, "False")
    assert f"spec.provider '{provider}' needs cloud identity, not supported yet" in condition(
        failed, "Ready"
    )
    assert condition(failed, "Stalled").startswith("True")


async def test_an_image_repository_trusts_the_ca_of_cert_secret_ref(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tls_relay: TlsRelay,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "1.0.0", tmp_path)
    path = oci_repository.split("/", 1)[1]
    await kube.apply(
        secret(
            namespace,
            "tls",
            {
                "ca.crt": tls_material.ca,
                "tls.crt": tls_material.client_cert,
                "tls.key": tls_material.client_key,
            },
        )
    )
    await kube.apply(
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "image": f"{tls_relay.host}/{path}",
                "interval": "1h",
                "certSecretRef": {"name": "tls"},
            },
        }
    )
    ref = ObjectRef("image.toolkit.fluxcd.io/v1", "ImageRepository", "app", namespace)
    scanned = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="scanned"
    )
    assert scanned["status"]["lastScanResult"]["tagCount"] == 1
