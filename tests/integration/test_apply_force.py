"""Immutable fields: the set fails before writing anything, unless recreation is asked for."""

from __future__ import annotations

import dataclasses

import pytest

from lockstep.apply import (
    Action,
    ApplyError,
    ChangeSet,
    apply_all,
    default_apply_options,
    kustomization_owner,
)
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

OWNER = kustomization_owner("apps", "flux-system")
FORCE = "kustomize.toolkit.fluxcd.io/force"
HINT = (
    "set spec.force: true on the Kustomization or annotate the object "
    f"{FORCE}: enabled to recreate it"
)


def _job(namespace: str, image: str, container: str = "migrate", **annotations: str) -> KubeObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace, "annotations": annotations},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": container, "image": image}],
                }
            }
        },
    }


def _settings(namespace: str, name: str, colour: str) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"colour": colour},
    }


def _actions(changeset: ChangeSet) -> dict[str, Action]:
    return {entry.subject: entry.action for entry in changeset.entries}


async def _live_job(kube: KubeClient, namespace: str) -> KubeObject:
    return await kube.get(ObjectRef("batch/v1", "Job", "migrate", namespace))


def _image(job: KubeObject) -> str:
    return str(job["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_an_immutable_change_fails_the_set_naming_the_field_and_writes_nothing(
    kube: KubeClient, namespace: str
) -> None:
    options = default_apply_options(OWNER)
    await apply_all(
        kube, [_job(namespace, "busybox:1"), _settings(namespace, "old", "blue")], options
    )
    before = await _live_job(kube, namespace)
    changed = [
        _job(namespace, "busybox:2"),
        _settings(namespace, "old", "green"),
        _settings(namespace, "new", "green"),
    ]

    with pytest.raises(ApplyError) as failure:
        await apply_all(kube, changed, options)

    assert str(failure.value) == (
        f"Job/{namespace}/migrate dry-run failed: spec.template is immutable; {HINT}"
    )
    assert failure.value.changeset.entries == []
    after = await _live_job(kube, namespace)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert _image(after) == "busybox:1"
    old = await kube.get(ObjectRef("v1", "ConfigMap", "old", namespace))
    assert old["data"] == {"colour": "blue"}
    with pytest.raises(NotFound):
        await kube.get(ObjectRef("v1", "ConfigMap", "new", namespace))


async def test_recreate_immutable_deletes_and_creates_the_object_again(
    kube: KubeClient, namespace: str
) -> None:
    options = default_apply_options(OWNER)
    await apply_all(kube, [_job(namespace, "busybox:1")], options)
    before = await _live_job(kube, namespace)

    forced = dataclasses.replace(options, recreate_immutable=True)
    changeset = await apply_all(kube, [_job(namespace, "busybox:2")], forced)

    assert _actions(changeset) == {f"Job/{namespace}/migrate": Action.CREATED}
    after = await _live_job(kube, namespace)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert _image(after) == "busybox:2"
    again = await apply_all(kube, [_job(namespace, "busybox:2")], forced)
    assert _actions(again) == {f"Job/{namespace}/migrate": Action.UNCHANGED}


async def test_the_force_annotation_recreates_the_object_it_is_on(
    kube: KubeClient, namespace: str
) -> None:
    options = default_apply_options(OWNER)
    await apply_all(kube, [_job(namespace, "busybox:1", **{FORCE: "enabled"})], options)
    before = await _live_job(kube, namespace)

    changeset = await apply_all(kube, [_job(namespace, "busybox:2", **{FORCE: "enabled"})], options)

    assert _actions(changeset) == {f"Job/{namespace}/migrate": Action.CREATED}
    after = await _live_job(kube, namespace)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert _image(after) == "busybox:2"


async def test_a_replacement_that_would_be_refused_does_not_cost_the_original(
    kube: KubeClient, namespace: str
) -> None:
    options = dataclasses.replace(default_apply_options(OWNER), recreate_immutable=True)
    await apply_all(kube, [_job(namespace, "busybox:1")], options)
    before = await _live_job(kube, namespace)

    with pytest.raises(ApplyError) as failure:
        await apply_all(kube, [_job(namespace, "busybox:2", container="Not_A_Name")], options)

    message = str(failure.value)
    assert message.startswith(f"Job/{namespace}/migrate dry-run failed: ")
    assert "Not_A_Name" in message
    after = await _live_job(kube, namespace)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]


async def test_an_object_held_by_a_finalizer_fails_the_recreate_after_the_timeout(
    kube: KubeClient, namespace: str
) -> None:
    options = dataclasses.replace(
        default_apply_options(OWNER), recreate_immutable=True, recreate_timeout=1
    )
    await apply_all(kube, [_job(namespace, "busybox:1")], options)
    ref = ObjectRef("batch/v1", "Job", "migrate", namespace)
    await kube.json_patch(
        ref, [{"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]}]
    )
    try:
        with pytest.raises(ApplyError) as failure:
            await apply_all(kube, [_job(namespace, "busybox:2")], options)
    finally:
        await kube.json_patch(ref, [{"op": "remove", "path": "/metadata/finalizers"}])

    assert str(failure.value) == (
        f"Job/{namespace}/migrate recreate failed: "
        "still there 1s after it was deleted, held by finalizers example.com/hold"
    )
