"""The Kubernetes adapter against the real API server: apply, discovery, list, watch."""

from __future__ import annotations

import asyncio

import pytest

from ground.wait import eventually
from lockstep.kube import (
    Conflict,
    Invalid,
    KubeClient,
    KubeError,
    NotFound,
    ObjectRef,
    WatchEvent,
)

pytestmark = pytest.mark.integration


def _config_map(namespace: str, name: str, colour: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "watch-test"}},
        "data": {"colour": colour},
    }


async def test_apply_is_server_side_with_lockstep_as_manager(
    kube: KubeClient, namespace: str
) -> None:
    live = await kube.apply(_config_map(namespace, "settings", "blue"))
    managers = {entry["manager"] for entry in live["metadata"]["managedFields"]}
    assert managers == {"lockstep"}
    assert live["metadata"]["managedFields"][0]["operation"] == "Apply"

    dry = await kube.apply(_config_map(namespace, "settings", "green"), dry_run=True)
    assert dry["data"] == {"colour": "green"}
    stored = await kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
    assert stored["data"] == {"colour": "blue"}


async def test_unknown_kind_and_missing_object_are_not_found(
    kube: KubeClient, namespace: str
) -> None:
    with pytest.raises(NotFound, match='no kind "Gadget"'):
        await kube.get(ObjectRef("example.com/v1", "Gadget", "g", namespace))
    with pytest.raises(NotFound, match='"absent" not found'):
        await kube.get(ObjectRef("v1", "ConfigMap", "absent", namespace))


async def test_invalid_object_is_rejected_with_the_server_reason(
    kube: KubeClient, namespace: str
) -> None:
    broken = _config_map(namespace, "Not_A_Valid_Name", "red")
    with pytest.raises(Invalid, match="Not_A_Valid_Name"):
        await kube.apply(broken)


async def test_watch_resumes_from_the_listed_version(kube: KubeClient, namespace: str) -> None:
    await kube.apply(_config_map(namespace, "before", "blue"))
    items, version = await kube.list_with_version(
        "v1", "ConfigMap", namespace=namespace, labels={"app": "watch-test"}
    )
    assert [item["metadata"]["name"] for item in items] == ["before"]

    seen: list[WatchEvent] = []

    async def collect() -> None:
        async for event in kube.watch(
            "v1",
            "ConfigMap",
            namespace=namespace,
            resource_version=version,
            labels={"app": "watch-test"},
        ):
            if event.type != "BOOKMARK":
                seen.append(event)
            if len(seen) == 3:
                return

    watcher = asyncio.create_task(collect())
    await kube.apply(_config_map(namespace, "after", "blue"))
    await kube.apply(_config_map(namespace, "after", "green"))
    await kube.delete(ObjectRef("v1", "ConfigMap", "after", namespace))
    await asyncio.wait_for(watcher, timeout=30)

    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "after"),
    ]
    assert seen[1].object["data"] == {"colour": "green"}
    assert int(seen[2].resource_version) > int(version)


async def test_status_is_applied_to_the_subresource_only(kube: KubeClient, namespace: str) -> None:
    await kube.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.test.lockstep.dev"},
            "spec": {
                "group": "test.lockstep.dev",
                "scope": "Namespaced",
                "names": {
                    "kind": "Widget",
                    "plural": "widgets",
                    "singular": "widget",
                    "listKind": "WidgetList",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "status": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    widget = {
        "apiVersion": "test.lockstep.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
        "spec": {"size": 3},
    }

    async def created() -> bool:
        try:
            await kube.apply(widget)
        except NotFound:
            return False
        return True

    await eventually(created, bool, within=30, what="Widget CRD served")
    first = await kube.apply_status(
        {**widget, "status": {"observedGeneration": 1, "phase": "Ready"}}
    )
    assert first["status"] == {"observedGeneration": 1, "phase": "Ready"}
    assert first["spec"] == {"size": 3}

    second = await kube.apply_status(
        {**widget, "spec": {"size": 99}, "status": {"observedGeneration": 1}}
    )
    assert second["status"] == {"observedGeneration": 1}, "fields left out by the owner are removed"
    assert second["spec"] == {"size": 3}, "spec is never written through the status subresource"
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


async def test_replace_with_a_stale_resource_version_conflicts(
    kube: KubeClient, namespace: str
) -> None:
    created = await kube.create(_config_map(namespace, "locked", "blue"))
    with pytest.raises(Conflict):
        await kube.create(_config_map(namespace, "locked", "blue"))
    newer = await kube.replace({**created, "data": {"colour": "green"}})
    assert newer["data"] == {"colour": "green"}
    with pytest.raises(Conflict, match="the object has been modified"):
        await kube.replace({**created, "data": {"colour": "red"}})


async def test_watching_a_kind_no_longer_served_is_not_found(
    kube: KubeClient, namespace: str
) -> None:
    group = f"{namespace}.lockstep.dev"
    crd = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}")
    await kube.apply(
        {
            "apiVersion": crd.api_version,
            "kind": crd.kind,
            "metadata": {"name": crd.name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )

    async def listed() -> str | None:
        try:
            return (await kube.list_with_version(f"{group}/v1", "Gadget", namespace=namespace))[1]
        except KubeError:  # not served yet, or its storage still starting (429)
            return None

    version = await eventually(listed, bool, within=30, what="Gadget CRD served")
    await kube.delete(crd)

    async def watch_once() -> None:
        async for _event in kube.watch(
            f"{group}/v1", "Gadget", namespace=namespace, resource_version=version or ""
        ):
            pass

    async def refused() -> bool:
        try:
            await asyncio.wait_for(watch_once(), timeout=5)
        except NotFound:
            return True
        except TimeoutError:
            return False
        return False

    # The API server answers "404 page not found", plain text, once the group is gone.
    assert await eventually(refused, bool, within=30, what="the watch refused as NotFound")
    # So do reads and lists of that kind: NotFound too (pruning takes it as already gone).
    with pytest.raises(NotFound):
        await kube.get(ObjectRef(f"{group}/v1", "Gadget", "g", namespace))
    with pytest.raises(NotFound):
        await kube.list_with_version(f"{group}/v1", "Gadget", namespace=namespace)


async def test_api_versions_list_every_group_version_and_kind_as_helm_does(
    kube: KubeClient,
) -> None:
    versions = await kube.api_versions()

    assert versions[0] == "v1"
    for expected in (
        "v1/ConfigMap",
        "apps/v1",
        "apps/v1/Deployment",
        "batch/v1/Job",
        "apiextensions.k8s.io/v1/CustomResourceDefinition",
    ):
        assert expected in versions
    assert not [entry for entry in versions if entry.endswith("/")]
