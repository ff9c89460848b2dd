"""The ImagePolicy controller with the real registry, control plane and engine, from the
acceptance manifests: semver elections as Flux makes them, new tags moving a policy,
digest reflection, and a range that matches nothing."""

from __future__ import annotations

from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.images import ACCEPTANCE_REPOSITORY, acceptance_manifests, push_tags
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

REPOSITORY = ACCEPTANCE_REPOSITORY
V1 = "image.toolkit.fluxcd.io/v1"
V1BETA2 = "image.toolkit.fluxcd.io/v1beta2"


def policy(namespace: str, name: str, **spec: Any) -> KubeObject:
    return {
        "apiVersion": V1BETA2,
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": "payment-service"}, **spec},
    }


def policy_ref(namespace: str, name: str, api_version: str = V1) -> ObjectRef:
    return ObjectRef(api_version, "ImagePolicy", name, namespace)


async def elected(kube: KubeClient, namespace: str, name: str, tag: str) -> KubeObject:
    return await eventually(
        lambda: kube.get(policy_ref(namespace, name)),
        lambda o: (
            condition(o, "Ready").startswith("True")
            and ((o.get("status") or {}).get("latestRef") or {}).get("tag") == tag
        ),
        what=f"ImagePolicy {name} electing {tag}",
    )


def ready_condition(obj: KubeObject) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


async def rescan(kube: KubeClient, namespace: str, tag_count: int, request: str) -> None:
    """Ask the repository (interval 5m) to scan now, and wait for the tags it finds."""
    repository = ObjectRef(V1, "ImageRepository", "payment-service", namespace)
    await kube.json_patch(
        repository,
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": request},
            }
        ],
    )
    await eventually(
        lambda: kube.get(repository),
        lambda o: (o["status"].get("lastScanResult") or {}).get("tagCount") == tag_count,
        what=f"payment-service rescanned with {tag_count} tags",
    )


async def test_acceptance_semver_elections_follow_new_tags(
    engine: Engine, kube: KubeClient, namespace: str, registry: OciRegistry
) -> None:
    digests = push_tags(registry, REPOSITORY, "1.2.1", "1.2.2", "1.3.0")
    image = f"{registry.host}/{REPOSITORY}"
    for manifest in acceptance_manifests(namespace, registry.host):
        await kube.apply(manifest)
    await kube.apply(policy(namespace, "tilde", policy={"semver": {"range": "~1.2"}}))

    # Masterminds' caret keeps the major version: ^1.2.x allows 1.3.0.
    caret = await elected(kube, namespace, "payment-service-policy", "1.3.0")
    assert caret["status"]["latestRef"] == {"name": image, "tag": "1.3.0"}
    assert caret["status"]["latestImage"] == f"{image}:1.3.0"
    as_v1beta2 = await kube.get(policy_ref(namespace, "payment-service-policy", V1BETA2))
    assert as_v1beta2["status"]["latestImage"] == f"{image}:1.3.0"
    await elected(kube, namespace, "tilde", "1.2.2")

    digests |= push_tags(registry, REPOSITORY, "1.2.3")
    await rescan(kube, namespace, 4, "new-patch")
    tilde = await elected(kube, namespace, "tilde", "1.2.3")
    assert tilde["status"]["observedPreviousRef"] == {"name": image, "tag": "1.2.2"}
    assert tilde["status"]["latestImage"] == f"{image}:1.2.3"

    push_tags(registry, REPOSITORY, "2.0.0")
    await rescan(kube, namespace, 5, "new-major")
    await kube.apply(
        policy(
            namespace,
            "digest",
            policy={"semver": {"range": "~1.2"}},
            digestReflectionPolicy="Always",
            interval="1m",
        )
    )
    with_digest = await elected(kube, namespace, "digest", "1.2.3")
    assert with_digest["status"]["latestRef"]["digest"] == digests["1.2.3"]
    # By now the policies have seen the 2.0.0 tag too: neither range admits it.
    unmoved = await kube.get(policy_ref(namespace, "tilde"))
    assert unmoved["status"]["latestRef"]["tag"] == "1.2.3"
    assert unmoved["metadata"]["resourceVersion"] == tilde["metadata"]["resourceVersion"]
    caret = await kube.get(policy_ref(namespace, "payment-service-policy"))
    assert caret["status"]["latestRef"]["tag"] == "1.3.0"


async def test_a_range_that_matches_nothing_says_so(
    engine: Engine, kube: KubeClient, namespace: str, registry: OciRegistry
) -> None:
    push_tags(registry, REPOSITORY, "1.2.1", "1.2.2", "1.3.0")
    repository, _ = acceptance_manifests(namespace, registry.host)
    await kube.apply(repository)
    await kube.apply(policy(namespace, "future", policy={"semver": {"range": ">=9.0.0"}}))

    failed = await eventually(
        lambda: kube.get(policy_ref(namespace, "future")),
        lambda o: ready_condition(o).get("reason") == "Failure",
        what="ImagePolicy future Ready=False with reason Failure",
    )
    ready = ready_condition(failed)
    assert ready["status"] == "False"
    assert f"ImagePolicy {namespace}/future: " in ready["message"]
    assert "no tag matches the semver range '>=9.0.0'" in ready["message"]
    assert "latestRef" not in failed["status"]


async def test_a_policy_waits_for_its_repository(
    engine: Engine, kube: KubeClient, namespace: str, registry: OciRegistry
) -> None:
    push_tags(registry, REPOSITORY, "1.2.1", "1.2.2", "1.3.0")
    repository, caret = acceptance_manifests(namespace, registry.host)
    await kube.apply(caret)
    waiting = await eventually(
        lambda: kube.get(policy_ref(namespace, "payment-service-policy")),
        lambda o: condition(o, "Ready").startswith("False"),
        what="ImagePolicy waiting for its repository",
    )
    assert ready_condition(waiting)["reason"] == "DependencyNotReady"
    assert (
        f"ImageRepository {namespace}/payment-service does not exist"
        in (ready_condition(waiting)["message"])
    )

    await kube.apply(repository)
    await elected(kube, namespace, "payment-service-policy", "1.3.0")
