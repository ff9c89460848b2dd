"""Owners as values: a Flux Kustomization's, and others (a HelmRelease's labels, a tracking
annotation with sync options) expressed without any change to the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from lockstep.apply import (
    Action,
    ApplyMode,
    GroupAnnotations,
    InventoryEntry,
    ObjectPolicy,
    Owner,
    OwnerLabels,
    default_apply_options,
    default_prune_options,
    helm_ownership_problems,
    kustomization_owner,
    plan_all,
    prune,
)
from lockstep.apply.objects import metadata_map
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from unit.apply.fake_cluster import FakeCluster

HELM = "helm.toolkit.fluxcd.io"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


def _config_map(name: str, labels: Mapping[str, str] = {}, **annotations: str) -> KubeObject:
    metadata: KubeObject = {"name": name, "namespace": "apps"}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "1"}}


def _helm_owner(name: str = "podinfo") -> Owner:
    return Owner(
        field_manager="helm-controller",
        marking=OwnerLabels(HELM, name, "apps"),
        annotations=GroupAnnotations(HELM),
        recreate_hint="set spec.upgrade.force: true on the HelmRelease",
    )


def test_a_kustomization_owner_marks_a_copy_with_its_labels_and_recognises_them() -> None:
    owner = kustomization_owner("apps", "flux-system")
    desired = _config_map("c", labels={"a": "b"})
    marked = owner.mark(desired)
    assert marked["metadata"]["labels"] == {
        "a": "b",
        f"{KUSTOMIZE}/name": "apps",
        f"{KUSTOMIZE}/namespace": "flux-system",
    }
    assert desired["metadata"]["labels"] == {"a": "b"}
    assert owner.owns(marked)
    assert not owner.owns(desired)
    assert not kustomization_owner("other", "flux-system").owns(marked)
    assert owner.field_manager == "lockstep"
    assert owner == kustomization_owner("apps", "flux-system")


def test_a_kustomization_owner_reads_the_flux_annotations() -> None:
    policy = kustomization_owner("apps", "flux-system").policy
    assert policy(_config_map("c")) == ObjectPolicy()
    assert not policy(_config_map("c", **{f"{KUSTOMIZE}/reconcile": "disabled"})).reconcile
    assert not policy(_config_map("c", **{f"{KUSTOMIZE}/prune": "disabled"})).prune
    assert policy(_config_map("c", **{f"{KUSTOMIZE}/force": "enabled"})).recreate
    for mode in ApplyMode:
        assert policy(_config_map("c", **{f"{KUSTOMIZE}/ssa": mode.value})).mode is mode
    odd = _config_map("c", **{f"{KUSTOMIZE}/ssa": "merge", f"{KUSTOMIZE}/prune": "no"})
    assert policy(odd) == ObjectPolicy(), "values Flux does not know leave the defaults"


def test_a_helm_owner_honours_its_own_annotations_only() -> None:
    owner = _helm_owner()
    flux_disabled = _config_map("c", **{f"{KUSTOMIZE}/reconcile": "disabled"})
    assert owner.policy(flux_disabled).reconcile
    helm = _config_map("c", **{f"{HELM}/reconcile": "disabled", f"{HELM}/prune": "disabled"})
    assert owner.policy(helm) == ObjectPolicy(reconcile=False, prune=False)
    marked = owner.mark(_config_map("c"))
    assert marked["metadata"]["labels"] == {f"{HELM}/name": "podinfo", f"{HELM}/namespace": "apps"}
    assert not kustomization_owner("podinfo", "apps").owns(marked)


async def test_a_helm_owner_applies_under_its_field_manager_and_skips_what_it_is_asked_to() -> None:
    cluster = FakeCluster()
    cluster.store(_config_map("kept", **{f"{HELM}/reconcile": "disabled"}))
    objects = [
        _config_map("new"),
        _config_map("kept"),
        _config_map("flux", **{f"{KUSTOMIZE}/reconcile": "disabled"}),
    ]
    plan = await plan_all(cast(KubeClient, cluster), objects, default_apply_options(_helm_owner()))
    actions = {planned.ref.name: planned.action for planned in plan.objects}
    assert actions == {"new": Action.CREATED, "kept": Action.SKIPPED, "flux": Action.CREATED}
    new = next(planned for planned in plan.objects if planned.ref.name == "new")
    assert new.desired["metadata"]["labels"][f"{HELM}/name"] == "podinfo"
    assert {r.field_manager for r in cluster.requests if r.verb == "dry-run"} == {"helm-controller"}


async def test_a_helm_owner_prunes_only_its_objects_and_honours_its_prune_annotation() -> None:
    owner = _helm_owner()
    cluster = FakeCluster()
    cluster.store(owner.mark(_config_map("ours")))
    cluster.store(owner.mark(_config_map("kept", **{f"{HELM}/prune": "disabled"})))
    cluster.store(owner.mark(_config_map("flux-kept", **{f"{KUSTOMIZE}/prune": "disabled"})))
    cluster.store(_helm_owner("other").mark(_config_map("theirs")))
    stale = [
        InventoryEntry.of(ObjectRef("v1", "ConfigMap", name, "apps"))
        for name in ("ours", "kept", "flux-kept", "theirs")
    ]
    changeset = await prune(cast(KubeClient, cluster), stale, default_prune_options(owner))
    assert {entry.ref.name: entry.action for entry in changeset.entries} == {
        "ours": Action.DELETED,
        "kept": Action.SKIPPED,
        "flux-kept": Action.DELETED,
        "theirs": Action.SKIPPED,
    }


@dataclass(frozen=True)
class TrackingAnnotation:
    """An owner that marks each object with an annotation naming the owner and the object."""

    key: str
    owner: str

    def value(self, obj: Mapping[str, Any]) -> str:
        ref = ObjectRef.of(obj)
        group = ref.api_version.rpartition("/")[0]
        return f"{self.owner}:{group}/{ref.kind}:{ref.namespace}/{ref.name}"

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        marked: KubeObject = {**obj, "metadata": dict(obj.get("metadata") or {})}
        annotations = {**metadata_map(obj, "annotations"), self.key: self.value(obj)}
        marked["metadata"]["annotations"] = annotations
        return marked

    def marks(self, live: Mapping[str, Any]) -> bool:
        return metadata_map(live, "annotations").get(self.key) == self.value(live)


@dataclass(frozen=True)
class SyncOptions:
    """One annotation holding ``Name=value`` options separated by commas."""

    key: str

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy:
        raw = metadata_map(obj, "annotations").get(self.key, "")
        options = dict(item.split("=", 1) for item in raw.split(",") if "=" in item)
        return ObjectPolicy(
            prune=options.get("Prune") != "false",
            recreate=options.get("Replace") == "true" and options.get("Force") == "true",
        )


async def test_an_owner_with_a_tracking_annotation_and_sync_options_needs_no_engine_change() -> (
    None
):
    owner = Owner(
        field_manager="tracker",
        marking=TrackingAnnotation("example.com/tracking-id", "guestbook"),
        annotations=SyncOptions("example.com/sync-options"),
        recreate_hint="add Replace=true,Force=true to the sync options",
    )
    cluster = FakeCluster(immutable={"ConfigMap": ("data",)})
    cluster.store(owner.mark(_config_map("replaced")))
    replaced = _config_map("replaced", **{"example.com/sync-options": "Replace=true,Force=true"})
    replaced["data"] = {"a": "2"}
    refused = _config_map("refused")
    cluster.store(owner.mark(refused))
    refused["data"] = {"a": "2"}

    plan = await plan_all(
        cast(KubeClient, cluster), [replaced, refused], default_apply_options(owner)
    )

    [recreated] = plan.objects
    assert recreated.action is Action.CREATED
    assert recreated.replaces == "uid-replaced"
    assert recreated.desired["metadata"]["annotations"]["example.com/tracking-id"] == (
        "guestbook:/ConfigMap:apps/replaced"
    )
    [failure] = plan.failures
    assert str(failure) == (
        "ConfigMap/apps/refused dry-run failed: data is immutable; "
        "add Replace=true,Force=true to the sync options"
    )

    kept = owner.mark(_config_map("kept", **{"example.com/sync-options": "Prune=false"}))
    cluster.store(kept)
    stale = [InventoryEntry.of(ObjectRef.of(kept)), InventoryEntry.of(ObjectRef.of(refused))]
    changeset = await prune(cast(KubeClient, cluster), stale, default_prune_options(owner))
    assert {entry.ref.name: entry.action for entry in changeset.entries} == {
        "kept": Action.SKIPPED,
        "refused": Action.DELETED,
    }


def test_helm_ownership_problems_are_worded_as_helm_words_them() -> None:
    owned = {
        "metadata": {
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "app",
                "meta.helm.sh/release-namespace": "apps",
            },
        }
    }
    foreign = {"metadata": {"annotations": {"meta.helm.sh/release-name": "other"}}}

    assert helm_ownership_problems(owned, "app", "apps") == []
    assert helm_ownership_problems(foreign, "app", "apps") == [
        'label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"',
        'annotation validation error: key "meta.helm.sh/release-name" must equal "app": '
        'current value is "other"',
        'annotation validation error: missing key "meta.helm.sh/release-namespace": must be '
        'set to "apps"',
    ]
