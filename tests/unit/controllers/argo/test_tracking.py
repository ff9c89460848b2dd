"""Argo CD resource tracking: the tracking id, the instance label and the three methods."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.controllers.argo.tracking import (
    INSTANCE_LABEL,
    TRACKING_ANNOTATION,
    TrackingError,
    TrackingId,
    TrackingMethod,
    app_instance_name,
    belongs_to,
    instance_label_value,
    mark_tracked,
    qualified_app_name,
    shared_with,
    tracked_by,
)


def obj(api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_app_name_is_prefixed_with_its_namespace_outside_the_control_plane() -> None:
    assert app_instance_name("guestbook", "argocd", "argocd") == "guestbook"
    assert app_instance_name("guestbook", "", "argocd") == "guestbook"
    assert app_instance_name("guestbook", "team-a", "argocd") == "team-a_guestbook"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (obj("apps/v1", "Deployment", "web", "prod"), "guestbook:apps/Deployment:prod/web"),
        (obj("v1", "ConfigMap", "settings", "prod"), "guestbook:/ConfigMap:prod/settings"),
        (
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
            "guestbook:rbac.authorization.k8s.io/ClusterRole:dest/reader",
        ),
    ],
)
def test_tracking_id_round_trips(manifest: dict[str, Any], expected: str) -> None:
    tracking_id = TrackingId.of(manifest, "guestbook", "dest")
    assert str(tracking_id) == expected
    assert TrackingId.parse(expected) == tracking_id
    assert tracking_id.refers_to(manifest)


def test_cluster_scoped_object_of_an_app_without_destination_namespace() -> None:
    role = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
    tracking_id = TrackingId.of(role, "team-a_guestbook", "")
    assert str(tracking_id) == "team-a_guestbook:rbac.authorization.k8s.io/ClusterRole:/reader"
    assert TrackingId.parse(str(tracking_id)) == tracking_id


def test_parse_keeps_colons_in_the_name_and_refuses_other_shapes() -> None:
    assert TrackingId.parse("app:/ConfigMap:ns/a:b").name == "a:b"
    for text in ("app", "app:/ConfigMap", "app:ConfigMap:ns/name", "app:/ConfigMap:name"):
        with pytest.raises(TrackingError, match="is not <application>"):
            TrackingId.parse(text)


def test_annotation_method_marks_and_reads_the_tracking_id() -> None:
    web = obj("apps/v1", "Deployment", "web", "prod")
    marked = mark_tracked(web, "guestbook", destination_namespace="prod")
    assert marked["metadata"]["annotations"][TRACKING_ANNOTATION] == (
        "guestbook:apps/Deployment:prod/web"
    )
    assert "labels" not in marked["metadata"]
    assert "annotations" not in web["metadata"], "the input is left as it was"
    assert tracked_by(marked) is not None
    assert belongs_to(marked, "guestbook")
    assert not belongs_to(marked, "other")
    assert not belongs_to(marked, "guestbook", TrackingMethod.LABEL)


def test_a_copied_annotation_does_not_claim_the_copy() -> None:
    marked = mark_tracked(
        obj("apps/v1", "Deployment", "web", "prod"), "guestbook", destination_namespace="prod"
    )
    for field, value in (("name", "web-copy"), ("namespace", "staging")):
        copy = {**marked, "metadata": {**marked["metadata"], field: value}}
        tracked = tracked_by(copy)
        assert tracked is not None
        assert tracked.app == "guestbook"
        assert not tracked.refers_to_object
        assert not belongs_to(copy, "guestbook")
    other_kind = {**marked, "kind": "StatefulSet"}
    assert not belongs_to(other_kind, "guestbook")


def test_a_cluster_scoped_object_matches_whatever_namespace_its_id_carries() -> None:
    role = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
    marked = mark_tracked(role, "guestbook", destination_namespace="prod")
    assert belongs_to(marked, "guestbook")


def test_unreadable_or_missing_tracking_id_names_no_app() -> None:
    broken = obj("v1", "ConfigMap", "a", "ns")
    broken["metadata"]["annotations"] = {TRACKING_ANNOTATION: "not-an-id"}
    assert tracked_by(broken) is None
    assert tracked_by(obj("v1", "ConfigMap", "a", "ns")) is None


def test_label_method_writes_and_reads_the_instance_label_only() -> None:
    web = obj("apps/v1", "Deployment", "web", "prod")
    marked = mark_tracked(
        web, "guestbook", destination_namespace="prod", method=TrackingMethod.LABEL
    )
    assert marked["metadata"]["labels"] == {INSTANCE_LABEL: "guestbook"}
    assert "annotations" not in marked["metadata"]
    assert belongs_to(marked, "guestbook", TrackingMethod.LABEL)
    assert not belongs_to(marked, "guestbook", TrackingMethod.ANNOTATION)


def test_label_method_refuses_a_name_no_label_can_hold() -> None:
    with pytest.raises(TrackingError, match="longer than 63 characters"):
        mark_tracked(
            obj("v1", "ConfigMap", "a", "ns"),
            "a" * 64,
            destination_namespace="ns",
            method=TrackingMethod.LABEL,
        )


def test_annotation_and_label_writes_both_and_reads_the_annotation() -> None:
    long_name = "team-a_" + "x" * 60
    marked = mark_tracked(
        obj("v1", "ConfigMap", "a", "ns"),
        long_name,
        destination_namespace="ns",
        method=TrackingMethod.ANNOTATION_AND_LABEL,
    )
    assert marked["metadata"]["labels"][INSTANCE_LABEL] == long_name[:63]
    assert marked["metadata"]["annotations"][TRACKING_ANNOTATION].startswith(long_name + ":")
    assert belongs_to(marked, long_name, TrackingMethod.ANNOTATION_AND_LABEL)
    no_annotation = {**marked, "metadata": {**marked["metadata"], "annotations": {}}}
    assert tracked_by(no_annotation, TrackingMethod.ANNOTATION_AND_LABEL) is None


def test_label_value_is_cut_to_63_then_to_its_last_letter_or_digit() -> None:
    assert instance_label_value("short") == "short"
    assert instance_label_value("a" * 70) == "a" * 63
    assert instance_label_value("a" * 61 + "-_b") == "a" * 61
    with pytest.raises(TrackingError, match="no letter or digit"):
        instance_label_value("-_-")


def test_an_object_tracked_by_another_app_is_shared_with_it() -> None:
    mine = mark_tracked(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s", "namespace": "a"}},
        "apps_web",
        destination_namespace="a",
    )

    assert shared_with(mine, "apps_shop") == "apps_web"
    assert shared_with(mine, "apps_web") is None
    copied = {**mine, "metadata": {**mine["metadata"], "name": "copy"}}
    assert shared_with(copied, "apps_shop") is None, "a copied id claims nothing"
    assert shared_with({"kind": "ConfigMap", "metadata": {"name": "s"}}, "apps_shop") is None
    assert qualified_app_name("apps_web") == "apps/web"
    assert qualified_app_name("web") == "web"
