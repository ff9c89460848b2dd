"""Inventory ids (format and parse), the inventory diff that decides what to prune, and
the inventory recorded before an apply that may create objects."""

from __future__ import annotations

import pytest

from lockstep.apply import (
    InventoryEntry,
    intended_inventory,
    inventory_id,
    parse_inventory_id,
    stale_entries,
)
from lockstep.kube import ObjectRef

CLUSTER_ROLE = ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "foo")
SERVICE = ObjectRef("v1", "Service", "svc", "ns")
DEPLOYMENT = ObjectRef("apps/v1", "Deployment", "web", "apps")
NAMESPACE = ObjectRef("v1", "Namespace", "apps")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (CLUSTER_ROLE, "_foo_rbac.authorization.k8s.io_ClusterRole"),
        (SERVICE, "ns_svc__Service"),
        (DEPLOYMENT, "apps_web_apps_Deployment"),
        (NAMESPACE, "_apps__Namespace"),
    ],
)
def test_id_format_keeps_empty_namespace_and_group(ref: ObjectRef, expected: str) -> None:
    assert inventory_id(ref) == expected
    entry = InventoryEntry.of(ref)
    assert entry.version == "v1"
    assert entry.ref == ref


def test_parse_keeps_underscores_in_names() -> None:
    ref = parse_inventory_id("_system_admin_rbac.authorization.k8s.io_ClusterRole", "v1")
    assert ref == ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "system_admin")


@pytest.mark.parametrize(
    ("object_id", "version"),
    [
        ("web", "v1"),
        ("apps_web_Deployment", "v1"),
        ("apps__apps_Deployment", "v1"),
        ("a_b_c_D", ""),
    ],
)
def test_malformed_ids_are_refused_with_the_id(object_id: str, version: str) -> None:
    with pytest.raises(ValueError, match=object_id):
        parse_inventory_id(object_id, version)


def test_stale_entries_are_old_minus_new_in_reverse_apply_order() -> None:
    old = [InventoryEntry.of(ref) for ref in (NAMESPACE, SERVICE, DEPLOYMENT, CLUSTER_ROLE)]
    new = [InventoryEntry.of(SERVICE)]
    stale = stale_entries(old, new)
    assert [entry.ref for entry in stale] == [DEPLOYMENT, CLUSTER_ROLE, NAMESPACE]


def test_a_new_api_version_of_the_same_object_is_not_stale() -> None:
    old = [InventoryEntry("apps_web_autoscaling_HorizontalPodAutoscaler", "v1")]
    new = [InventoryEntry("apps_web_autoscaling_HorizontalPodAutoscaler", "v2")]
    assert stale_entries(old, new) == []


def _entries(*refs: ObjectRef) -> list[InventoryEntry]:
    return [InventoryEntry.of(ref) for ref in refs]


def test_nothing_is_recorded_first_when_the_inventory_lists_every_object_to_apply() -> None:
    recorded = _entries(NAMESPACE, SERVICE, DEPLOYMENT)
    assert intended_inventory(recorded, recorded) is None
    assert intended_inventory(recorded, _entries(SERVICE)) is None, "a shrinking set"
    assert intended_inventory([], []) is None


def test_new_objects_are_recorded_first_with_those_left_to_prune() -> None:
    recorded = _entries(NAMESPACE, SERVICE, CLUSTER_ROLE)
    applying = _entries(NAMESPACE, DEPLOYMENT, SERVICE)
    intended = intended_inventory(recorded, applying)
    assert intended == [*applying, InventoryEntry.of(CLUSTER_ROLE)]
    assert stale_entries(intended or [], applying) == _entries(CLUSTER_ROLE)


def test_a_first_apply_records_every_object_first() -> None:
    applying = _entries(NAMESPACE, SERVICE)
    assert intended_inventory([], applying) == applying


def test_a_new_api_version_of_a_listed_object_needs_no_write_first() -> None:
    recorded = [InventoryEntry("apps_web_autoscaling_HorizontalPodAutoscaler", "v1")]
    applying = [InventoryEntry("apps_web_autoscaling_HorizontalPodAutoscaler", "v2")]
    assert intended_inventory(recorded, applying) is None
