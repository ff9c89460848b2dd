"""The ImageRepository controller against the real registry, control plane and engine:
tag scans, the exclusion list, basic auth from a docker-config Secret, and no status
write for a rescan that finds the same tags."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.images import REGISTRY_USER, authenticated_registry, push_tags
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

V1BETA2 = "image.toolkit.fluxcd.io/v1beta2"
V1 = "image.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with authenticated_registry(tmp_path_factory.mktemp("private-registry")) as registry:
        yield registry


def image_repository(namespace: str, name: str, image: str, **spec: Any) -> KubeObject:
    return {
        "apiVersion": V1BETA2,
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": image, "interval": "5m", **spec},
    }


def ref(namespace: str, name: str) -> ObjectRef:
    return ObjectRef(V1, "ImageRepository", name, namespace)


async def scanned(kube: KubeClient, namespace: str, name: str, tag_count: int) -> KubeObject:
    return await eventually(
        lambda: kube.get(ref(namespace, name)),
        lambda o: (
            condition(o, "Ready").startswith("True")
            and ((o.get("status") or {}).get("lastScanResult") or {}).get("tagCount") == tag_count
        ),
        what=f"ImageRepository {name} scanned with {tag_count} tags",
    )


async def failed(kube: KubeClient, namespace: str, name: str) -> KubeObject:
    return await eventually(
        lambda: kube.get(ref(namespace, name)),
        lambda o: condition(o, "Ready").startswith("False"),
        what=f"ImageRepository {name} Ready=False",
    )


def docker_config_secret(namespace: str, name: str, host: str, password: str) -> KubeObject:
    auth = base64.b64encode(f"{REGISTRY_USER.username}:{password}".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": auth}}}).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


async def test_a_repository_with_many_tags_is_scanned_whole(
    engine: Engine, kube: KubeClient, namespace: str, oci_registry: OciRegistry, oci_repository: str
) -> None:
    repository = oci_repository.removeprefix(f"{oci_registry.host}/")
    tags = [f"1.0.{patch}" for patch in range(30)]
    push_tags(oci_registry, repository, *tags, "sha256-0123.sig")

    await kube.apply(image_repository(namespace, "app", oci_repository))

    status = (await scanned(kube, namespace, "app", 30))["status"]
    assert status["canonicalImageName"] == oci_repository
    assert status["lastScanResult"]["latestTags"] == sorted(tags, reverse=True)[:10]
    assert status["lastScanResult"]["revision"].isdecimal()
    assert status["observedExclusionList"] == [r"^.*\.sig$"]


async def test_the_exclusion_list_replaces_the_default(
    engine: Engine, kube: KubeClient, namespace: str, oci_registry: OciRegistry, oci_repository: str
) -> None:
    repository = oci_repository.removeprefix(f"{oci_registry.host}/")
    push_tags(oci_registry, repository, "1.0.0", "dev-1", "dev-2", "sha256-0123.sig")

    await kube.apply(image_repository(namespace, "app", oci_repository, exclusionList=["^dev-"]))

    status = (await scanned(kube, namespace, "app", 2))["status"]
    assert status["lastScanResult"]["latestTags"] == ["sha256-0123.sig", "1.0.0"]


async def test_credentials_from_a_docker_config_secret(
    engine: Engine, kube: KubeClient, namespace: str, private_registry: OciRegistry
) -> None:
    push_tags(private_registry, "team/app", "1.0.0", "1.1.0", auth=REGISTRY_USER)
    image = f"{private_registry.host}/team/app"
    host = private_registry.host
    await kube.apply(docker_config_secret(namespace, "right", host, REGISTRY_USER.password))
    await kube.apply(docker_config_secret(namespace, "wrong", host, "not-the-password"))

    await kube.apply(image_repository(namespace, "right", image, secretRef={"name": "right"}))
    await kube.apply(image_repository(namespace, "wrong", image, secretRef={"name": "wrong"}))
    await kube.apply(image_repository(namespace, "anonymous", image))

    right = await scanned(kube, namespace, "right", 2)
    assert right["status"]["lastScanResult"]["latestTags"] == ["1.1.0", "1.0.0"]
    wrong = await failed(kube, namespace, "wrong")
    ready = next(c for c in wrong["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "AuthenticationFailed"
    assert "check the credentials" in ready["message"]
    anonymous = await failed(kube, namespace, "anonymous")
    assert "set spec.secretRef" in condition(anonymous, "Ready")


async def test_a_rescan_finding_the_same_tags_writes_no_status(
    engine: Engine, kube: KubeClient, namespace: str, oci_registry: OciRegistry, oci_repository: str
) -> None:
    repository = oci_repository.removeprefix(f"{oci_registry.host}/")
    push_tags(oci_registry, repository, "1.0.0", "1.1.0")
    await kube.apply(image_repository(namespace, "app", oci_repository, interval="1s"))
    first = await scanned(kube, namespace, "app", 2)

    # A forced reconcile rescans; it answers the request and changes nothing else.
    await kube.json_patch(
        ref(namespace, "app"),
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": "forced"},
            }
        ],
    )
    handled = await eventually(
        lambda: kube.get(ref(namespace, "app")),
        lambda o: o["status"].get("lastHandledReconcileAt") == "forced",
        what="reconcile request handled",
    )
    assert handled["status"]["lastScanResult"] == first["status"]["lastScanResult"]

    # Rescans every second find the same tags: the object is not written again.
    scans_before = scans(engine)
    await asyncio.sleep(4)
    quiet = await kube.get(ref(namespace, "app"))
    assert scans(engine) >= scans_before + 3
    assert quiet["metadata"]["resourceVersion"] == handled["metadata"]["resourceVersion"]

    push_tags(oci_registry, repository, "1.2.0")
    moved = await scanned(kube, namespace, "app", 3)
    assert moved["status"]["lastScanResult"]["latestTags"][0] == "1.2.0"
    assert (
        moved["status"]["lastScanResult"]["revision"]
        != first["status"]["lastScanResult"]["revision"]
    )


def scans(engine: Engine) -> float:
    """Successful ImageRepository reconciles of the engine so far."""
    return engine.metric(
        "lockstep_reconcile_duration_seconds_count", controller="imagerepository", result="success"
    )


async def test_an_image_with_a_tag_is_refused_until_corrected(
    engine: Engine, kube: KubeClient, namespace: str, oci_registry: OciRegistry, oci_repository: str
) -> None:
    push_tags(oci_registry, oci_repository.removeprefix(f"{oci_registry.host}/"), "1.0.0")
    await kube.apply(image_repository(namespace, "app", f"{oci_repository}:1.0.0"))
    stalled = await failed(kube, namespace, "app")
    assert "remove ':1.0.0' from spec.image" in condition(stalled, "Ready")
    assert condition(stalled, "Stalled").startswith("True")

    await kube.apply(image_repository(namespace, "app", oci_repository))
    corrected = await scanned(kube, namespace, "app", 1)
    assert condition(corrected, "Stalled") == ""
