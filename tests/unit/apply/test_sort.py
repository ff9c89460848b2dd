"""Apply stages and the kind order table."""

from __future__ import annotations

from lockstep.apply import apply_stage, sort_for_apply, split_into_stages
from lockstep.kube import KubeObject, ObjectRef


def _obj(kind: str, name: str, namespace: str = "") -> KubeObject:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata}


def _subjects(objects: list[KubeObject]) -> list[str]:
    return [str(ObjectRef.of(obj)) for obj in objects]


def test_stages_cluster_definitions_then_classes_then_the_rest() -> None:
    assert apply_stage("CustomResourceDefinition") == 1
    assert apply_stage("Namespace") == 1
    assert apply_stage("ClusterRole") == 1
    assert apply_stage("ClusterRoleBinding") == 3
    assert apply_stage("StorageClass") == 2
    assert apply_stage("IngressClass") == 2
    assert apply_stage("Deployment") == 3
    assert apply_stage("Widget") == 3


def test_kinds_follow_dependency_order_and_custom_resources_come_last() -> None:
    objects = [
        _obj("ValidatingWebhookConfiguration", "check"),
        _obj("Widget", "w", "apps"),
        _obj("Deployment", "web", "apps"),
        _obj("Service", "web", "apps"),
        _obj("Gadget", "g", "apps"),
        _obj("RoleBinding", "rb", "apps"),
        _obj("ClusterRoleBinding", "crb"),
        _obj("ConfigMap", "cfg", "apps"),
        _obj("Secret", "s", "apps"),
        _obj("ServiceAccount", "sa", "apps"),
    ]
    assert _subjects(sort_for_apply(objects)) == [
        "ServiceAccount/apps/sa",
        "Secret/apps/s",
        "ConfigMap/apps/cfg",
        "ClusterRoleBinding/crb",
        "RoleBinding/apps/rb",
        "Service/apps/web",
        "Deployment/apps/web",
        "ValidatingWebhookConfiguration/check",
        "Gadget/apps/g",
        "Widget/apps/w",
    ]


def test_objects_of_one_kind_are_ordered_by_namespace_then_name() -> None:
    objects = [
        _obj("ConfigMap", "b", "y"),
        _obj("ConfigMap", "a", "y"),
        _obj("ConfigMap", "z", "x"),
    ]
    assert _subjects(sort_for_apply(objects)) == [
        "ConfigMap/x/z",
        "ConfigMap/y/a",
        "ConfigMap/y/b",
    ]


def test_split_into_stages_leaves_out_empty_stages() -> None:
    objects = [
        _obj("Deployment", "web", "apps"),
        _obj("ClusterRole", "reader"),
        _obj("Namespace", "apps"),
        _obj("CustomResourceDefinition", "widgets.example.com"),
    ]
    stages = [_subjects(stage) for stage in split_into_stages(objects)]
    assert stages == [
        [
            "Namespace/apps",
            "CustomResourceDefinition/widgets.example.com",
            "ClusterRole/reader",
        ],
        ["Deployment/apps/web"],
    ]
