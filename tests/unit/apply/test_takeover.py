"""Taking over kubectl's field managers: which entries, the merged entry, the JSON patch, races."""

from __future__ import annotations

from typing import Any, cast

import pytest

from lockstep.apply.takeover import (
    drops_fields,
    merge_field_sets,
    needs_take_over,
    take_over,
    take_over_patch,
)
from lockstep.kube import Invalid, KubeClient, KubeObject, ObjectRef

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> KubeObject:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **extra,
    }


CLIENT_SIDE = _entry(
    "kubectl-client-side-apply",
    "Update",
    {
        "f:data": {".": {}, "f:a": {}, "f:b": {}},
        "f:metadata": {"f:annotations": {".": {}, f"f:{LAST_APPLIED}": {}}},
    },
)
LABEL = _entry("kubectl-label", "Update", {"f:metadata": {"f:labels": {"f:extra": {}}}})
OURS = _entry("lockstep", "Apply", {"f:data": {"f:a": {}}}, apiVersion="v2")
CONTROLLER = _entry("kube-controller-manager", "Update", {"f:status": {"f:phase": {}}})
SCALE = _entry("kubectl", "Update", {"f:spec": {"f:replicas": {}}}, subresource="scale")


def _live(*entries: KubeObject, annotations: dict[str, str] | None = None) -> KubeObject:
    metadata: KubeObject = {"name": "settings", "resourceVersion": "42"}
    metadata["managedFields"] = list(entries)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def test_field_sets_merge_as_a_union_of_trees() -> None:
    merged = merge_field_sets(
        {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}},
        {"f:data": {".": {}, "f:b": {}}, "f:spec": {"f:replicas": {}}},
    )
    assert merged == {
        "f:data": {"f:a": {}, ".": {}, "f:b": {}},
        "f:metadata": {"f:labels": {"f:x": {}}},
        "f:spec": {"f:replicas": {}},
    }


def test_kubectl_managers_fold_into_our_apply_entry_and_the_annotation_goes() -> None:
    live = _live(OURS, CLIENT_SIDE, CONTROLLER, LABEL, annotations={LAST_APPLIED: "{}"})
    test, replace, remove = take_over_patch(live, "lockstep")
    assert test == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert remove == {
        "op": "remove",
        "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    }
    assert replace["op"] == "replace"
    assert replace["path"] == "/metadata/managedFields"
    merged, kept = replace["value"]
    assert kept == CONTROLLER
    assert merged["manager"] == "lockstep"
    assert merged["operation"] == "Apply"
    assert merged["apiVersion"] == "v2"
    assert merged["fieldsV1"] == merge_field_sets(
        merge_field_sets(OURS["fieldsV1"], CLIENT_SIDE["fieldsV1"]), LABEL["fieldsV1"]
    )


def test_without_an_apply_entry_of_ours_the_first_kubectl_entry_becomes_it() -> None:
    _, replace = take_over_patch(_live(CLIENT_SIDE, CONTROLLER), "lockstep")
    merged, kept = replace["value"]
    assert merged == {**CLIENT_SIDE, "manager": "lockstep", "operation": "Apply"}
    assert kept == CONTROLLER


def test_before_first_apply_server_side_kubectl_and_our_own_updates_are_taken_over() -> None:
    for manager, operation in [
        ("before-first-apply", "Update"),
        ("kubectl", "Apply"),
        ("kubectl-edit", "Update"),
        ("lockstep", "Update"),
    ]:
        entry = _entry(manager, operation, {"f:data": {"f:a": {}}})
        assert needs_take_over(_live(OURS, entry), "lockstep"), manager


def test_other_managers_subresources_and_our_apply_alone_need_nothing() -> None:
    helm = _entry("helm", "Update", {"f:data": {"f:a": {}}})
    other_apply = _entry("flux", "Apply", {"f:data": {"f:a": {}}})
    live = _live(OURS, CONTROLLER, SCALE, helm, other_apply)
    assert not needs_take_over(live, "lockstep")
    assert take_over_patch(live, "lockstep") == []


def test_the_annotation_alone_is_removed_without_touching_managers() -> None:
    live = _live(OURS, annotations={LAST_APPLIED: "{}", "keep": "me"})
    test, remove = take_over_patch(live, "lockstep")
    assert test["op"] == "test"
    assert remove["op"] == "remove"


class _Racing:
    """A client whose object changes under the first ``losses`` patches (their test fails)."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.patches: list[list[KubeObject]] = []
        self.version = 40

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.version += 1
        live = _live(CLIENT_SIDE)
        live["metadata"]["resourceVersion"] = str(self.version)
        return live

    async def json_patch(self, ref: ObjectRef, operations: list[KubeObject]) -> KubeObject:
        self.patches.append(operations)
        if len(self.patches) <= self.losses:
            raise Invalid("the server rejected our request due to an error in our request")
        return {}


REF = ObjectRef("v1", "ConfigMap", "settings", "apps")


async def test_a_write_in_between_is_met_by_reading_and_patching_again() -> None:
    kube = _Racing(losses=2)
    await take_over(cast(KubeClient, kube), REF, "lockstep")
    assert [patch[0]["value"] for patch in kube.patches] == ["41", "42", "43"]


async def test_an_object_that_keeps_changing_fails_the_take_over_saying_so() -> None:
    kube = _Racing(losses=3)
    with pytest.raises(Invalid, match="the object changed during each of 3 attempts"):
        await take_over(cast(KubeClient, kube), REF, "lockstep")


FLUX = _entry(
    "kustomize-controller",
    "Apply",
    {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:team": {}}}},
)


def _flux_applied(*entries: KubeObject) -> KubeObject:
    live = _live(*entries)
    live["data"] = {"a": "1", "b": "2"}
    live["metadata"]["labels"] = {"team": "payments"}
    return live


def _dry_run(fields: dict[str, Any]) -> KubeObject:
    return _live(_entry("lockstep", "Apply", fields), FLUX)


def test_flux_fields_that_our_apply_declares_too_are_left_to_flux() -> None:
    live = _flux_applied(FLUX)
    declared = {
        "f:data": {"f:a": {}, "f:b": {}, "f:c": {}},
        "f:metadata": {"f:labels": {"f:team": {}}},
    }
    assert not needs_take_over(live, "lockstep", _dry_run(declared))
    assert not needs_take_over(live, "lockstep")
    assert take_over_patch(live, "lockstep") == []


def test_a_field_flux_applied_and_git_dropped_takes_flux_entry_over() -> None:
    live = _flux_applied(FLUX, CONTROLLER)
    dropped_b = {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:team": {}}}}
    assert needs_take_over(live, "lockstep", _dry_run(dropped_b))
    dropped_label = {"f:data": {"f:a": {}, "f:b": {}}}
    assert needs_take_over(live, "lockstep", _dry_run(dropped_label))

    _, replace = take_over_patch(live, "lockstep", predecessors=True)
    merged, kept = replace["value"]
    assert merged == {**FLUX, "manager": "lockstep", "operation": "Apply"}
    assert kept == CONTROLLER


def test_flux_updates_and_other_appliers_are_never_predecessors() -> None:
    status = _entry("kustomize-controller", "Update", {"f:data": {"f:z": {}}})
    other = _entry("helm-controller", "Apply", {"f:data": {"f:z": {}}})
    live = _flux_applied(status, other)
    assert not needs_take_over(live, "lockstep", _dry_run({"f:data": {"f:a": {}}}))
    assert take_over_patch(live, "lockstep", predecessors=True) == []


WEB = '{"name":"web"}'
HTTP = '{"port":80,"protocol":"TCP"}'
DEPLOYMENT: dict[str, Any] = {
    "spec": {
        "replicas": 2,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "resources": {},
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    }
                ]
            }
        },
    }
}


def _container(**fields: Any) -> dict[str, Any]:
    return {"f:spec": {"f:template": {"f:spec": {"f:containers": {f"k:{WEB}": fields}}}}}


def test_what_flux_normalization_adds_is_not_a_field_dropped_from_git() -> None:
    declared = _container(**{".": {}, "f:image": {}})
    assert not drops_fields({"f:spec": {"f:strategy": {}}}, declared, DEPLOYMENT)
    assert not drops_fields(_container(**{"f:resources": {}}), declared, DEPLOYMENT)
    port = '{"containerPort":80,"protocol":"TCP"}'
    with_protocol = _container(**{"f:ports": {f"k:{port}": {"f:protocol": {}}}})
    declared_port = _container(**{"f:ports": {f"k:{port}": {"f:containerPort": {}}}})
    assert not drops_fields(with_protocol, declared_port, DEPLOYMENT)


def test_values_git_dropped_count_inside_keyed_lists_and_structs() -> None:
    declared = _container(**{".": {}, "f:name": {}})
    assert drops_fields(_container(**{"f:image": {}}), declared, DEPLOYMENT)
    assert drops_fields({"f:spec": {"f:replicas": {}}}, {"f:spec": {}}, DEPLOYMENT)
    owned_strategy_type = {"f:spec": {"f:strategy": {"f:type": {}}}}
    assert drops_fields(owned_strategy_type, {"f:spec": {"f:strategy": {}}}, DEPLOYMENT)
    # A field the object no longer has, or a list item that is gone, drops nothing.
    assert not drops_fields({"f:spec": {"f:paused": {}}}, {}, DEPLOYMENT)
    other = _container(**{"f:image": {}})
    other["f:spec"]["f:template"]["f:spec"]["f:containers"] = {
        'k:{"name":"sidecar"}': {"f:image": {}}
    }
    assert not drops_fields(other, {}, DEPLOYMENT)
    service = {"spec": {"ports": [{"port": 80, "protocol": "UDP"}]}}
    udp = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"UDP"}': {"f:protocol": {}}}}}
    assert drops_fields(udp, {}, service)
    tcp = {"f:spec": {"f:ports": {f"k:{HTTP}": {"f:protocol": {}}}}}
    assert not drops_fields(tcp, {}, {"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}})
