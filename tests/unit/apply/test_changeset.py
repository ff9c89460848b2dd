"""ChangeSet entries, their ids and subjects, and the one-line summary."""

from __future__ import annotations

from lockstep.apply import Action, ChangeSet, Owner
from lockstep.kube import ObjectRef

WEB = ObjectRef("apps/v1", "Deployment", "web", "apps")
SERVICE = ObjectRef("v1", "Service", "web", "apps")
READER = ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")


def test_summary_lists_each_object_with_its_action_then_failures() -> None:
    changeset = ChangeSet()
    changeset.add(WEB, Action.CREATED)
    changeset.add(SERVICE, Action.UNCHANGED)
    changeset.fail(READER, "delete failed: forbidden")
    assert changeset.summary() == (
        "Deployment/apps/web created, Service/apps/web unchanged, "
        "ClusterRole/reader delete failed: forbidden"
    )
    assert str(changeset) == changeset.summary()


def test_entries_carry_inventory_id_subject_and_version() -> None:
    changeset = ChangeSet()
    changeset.add(WEB, Action.CONFIGURED)
    changeset.add(READER, Action.SKIPPED)
    entry = changeset.entries[0]
    assert entry.object_id == "apps_web_apps_Deployment"
    assert entry.subject == "Deployment/apps/web"
    assert entry.inventory_entry.version == "v1"
    assert changeset.with_action(Action.SKIPPED)[0].subject == "ClusterRole/reader"


def test_owner_labels_are_added_to_a_copy_and_checked() -> None:
    owner = Owner("apps", "flux-system")
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"a": "b"}},
    }
    labelled = owner.label(desired)
    assert labelled["metadata"]["labels"] == {
        "a": "b",
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    assert desired["metadata"]["labels"] == {"a": "b"}
    assert owner.owns(labelled)
    assert not owner.owns(desired)
    assert not Owner("other", "flux-system").owns(labelled)
