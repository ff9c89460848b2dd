"""``lockstep tree``: inventories read back into refs, nested Kustomizations expanded."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from lockstep.cli.context import UserError
from lockstep.cli.tree import ObjectReader, inventory_refs, load_tree, render_tree
from lockstep.kube import KubeObject, NotFound, ObjectRef

KS_API = "kustomize.toolkit.fluxcd.io/v1"


def kustomization(name: str, entries: list[tuple[str, str]], ready: str = "True") -> KubeObject:
    return {
        "apiVersion": KS_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "status": {
            "inventory": {"entries": [{"id": id_, "v": v} for id_, v in entries]},
            "conditions": [{"type": "Ready", "status": ready, "message": ""}],
        },
    }


class Objects:
    """Reads objects from a dict, as the tree builder reads them from the cluster."""

    def __init__(self, *objects: KubeObject) -> None:
        self.objects = {ObjectRef.of(obj).name: obj for obj in objects}
        self.reads: list[str] = []

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.reads.append(ref.name)
        if ref.name not in self.objects:
            raise NotFound(f"{ref} not found", code=404)
        return self.objects[ref.name]


def test_inventory_entries_become_refs_in_apply_order() -> None:
    obj = kustomization(
        "apps",
        [
            ("_apps__Namespace", "v1"),
            ("apps_web_apps_Deployment", "v1"),
            ("_system_admin_rbac.authorization.k8s.io_ClusterRole", "v1"),
        ],
    )
    assert inventory_refs(obj) == [
        ObjectRef("v1", "Namespace", "apps"),
        ObjectRef("apps/v1", "Deployment", "web", "apps"),
        ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "system_admin"),
    ]


def test_no_inventory_is_no_children() -> None:
    assert inventory_refs({"kind": "Kustomization", "status": {}}) == []


def test_an_unreadable_inventory_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unreadable inventory"):
        inventory_refs(kustomization("apps", [("nonsense", "v1")]))


async def test_nested_kustomizations_are_expanded_once() -> None:
    infra = kustomization("infra", [("_infra__Namespace", "v1")])
    apps = kustomization(
        "apps",
        [
            ("flux-system_infra_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
            ("apps_web__Service", "v1"),
        ],
        ready="False",
    )
    root = kustomization(
        "root",
        [
            ("flux-system_infra_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
            ("flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
            ("flux-system_gone_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
        ],
    )
    objects = Objects(infra, apps)
    tree = await load_tree(objects, root)
    assert objects.reads == ["infra", "apps", "gone"], "infra is read once though declared twice"

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(render_tree(tree))
    assert console.export_text().splitlines() == [
        "Kustomization/flux-system/root ✓ Ready",
        "├── Kustomization/flux-system/infra ✓ Ready",
        "│   └── Namespace/infra",
        "├── Kustomization/flux-system/apps ✗ Ready=False",
        "│   ├── Kustomization/flux-system/infra (shown above)",
        "│   └── Service/apps/web",
        "└── Kustomization/flux-system/gone (not found)",
    ]


async def test_a_kustomization_listing_itself_does_not_loop() -> None:
    selfish = kustomization(
        "selfish", [("flux-system_selfish_kustomize.toolkit.fluxcd.io_Kustomization", "v1")]
    )
    tree = await load_tree(Objects(selfish), selfish)
    assert [child.note for child in tree.children] == ["shown above"]


async def test_a_kustomization_with_a_kube_config_is_expanded_on_its_cluster() -> None:
    remote_apps = kustomization("apps", [("apps_web__Service", "v1")])
    local_apps = kustomization("apps", [("apps_local__Service", "v1")])
    broken = kustomization("broken", [])
    broken["spec"] = {"kubeConfig": {"secretRef": {"name": "gone"}}}
    root = kustomization(
        "root",
        [
            ("flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
            ("flux-system_broken_kustomize.toolkit.fluxcd.io_Kustomization", "v1"),
        ],
    )
    root["spec"] = {"kubeConfig": {"secretRef": {"name": "prod"}}}
    local, remote = Objects(local_apps), Objects(remote_apps, broken)

    async def cluster_of(reader: ObjectReader, obj: KubeObject) -> tuple[ObjectReader, str]:
        secret = ((obj.get("spec") or {}).get("kubeConfig") or {}).get("secretRef")
        if secret is None:
            return reader, ""
        if secret["name"] == "gone":
            raise UserError("kubeconfig Secret flux-system/gone does not exist", code=2)
        return remote, f"kubeconfig Secret flux-system/{secret['name']}"

    tree = await load_tree(local, root, cluster_of=cluster_of)

    assert local.reads == [], "nothing the root applied is read on its own cluster"
    assert remote.reads == ["apps", "broken"]
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(render_tree(tree))
    assert console.export_text().splitlines() == [
        "Kustomization/flux-system/root → the cluster of kubeconfig Secret flux-system/prod ✓ Ready",
        "├── Kustomization/flux-system/apps ✓ Ready",
        "│   └── Service/apps/web",
        "└── Kustomization/flux-system/broken (kubeconfig Secret flux-system/gone does not exist)",
    ]
