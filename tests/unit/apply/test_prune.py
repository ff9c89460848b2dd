"""The prune verb on entries whose object was never created (an inventory recorded
before an apply that was cut short lists objects the apply did not reach), and the
propagation of its deletes."""

from __future__ import annotations

from typing import cast

from lockstep.apply import (
    Action,
    InventoryEntry,
    PruneOptions,
    default_prune_options,
    kustomization_owner,
    prune,
)
from lockstep.kube import KubeClient, NotFound, ObjectRef
from unit.apply.fake_cluster import FakeCluster

OWNER = kustomization_owner("apps", "flux-system")


def _config_map(name: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", name, "apps")


class UnservedKinds(FakeCluster):
    """A cluster that serves no custom kind: its CRD was never applied."""

    async def get(self, ref: ObjectRef) -> dict[str, object]:
        if "." in ref.api_version.partition("/")[0]:
            raise NotFound(f'the API server has no kind "{ref.kind}" in "{ref.api_version}"')
        return await super().get(ref)


async def test_entries_of_objects_never_created_are_left_out_quietly() -> None:
    cluster = UnservedKinds()
    cluster.store(
        OWNER.mark(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "made", "namespace": "apps"},
            }
        )
    )
    stale = [
        InventoryEntry.of(_config_map("made")),
        InventoryEntry.of(_config_map("never-made")),
        InventoryEntry.of(ObjectRef("example.com/v1", "Widget", "never-served", "apps")),
    ]

    changeset = await prune(cast(KubeClient, cluster), stale, default_prune_options(OWNER))

    assert [(entry.ref.name, entry.action) for entry in changeset.entries] == [
        ("made", Action.DELETED)
    ]
    assert changeset.failures == []
    assert cluster.objects == {}
    assert cluster.propagations == ["Background"]


async def test_deletes_propagate_as_the_options_say() -> None:
    cluster = FakeCluster()
    for name in ("a", "b"):
        cluster.store(
            OWNER.mark(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "apps"},
                }
            )
        )
    stale = [InventoryEntry.of(_config_map("a")), InventoryEntry.of(_config_map("b"))]

    await prune(cast(KubeClient, cluster), stale, PruneOptions(OWNER, "Orphan"))

    assert cluster.propagations == ["Orphan", "Orphan"]
    assert cluster.objects == {}
