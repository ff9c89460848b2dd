"""ChangeSet entries, their ids and subjects, and the one-line summary."""

from __future__ import annotations

from lockstep.apply import Action, ChangeSet
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
