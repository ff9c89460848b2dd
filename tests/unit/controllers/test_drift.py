"""Drift read from managedFields: which of lockstep's fields another writer took."""

from __future__ import annotations

import copy
from typing import Any

from lockstep.controllers.drift import (
    drifted_fields,
    not_ignored,
    owned_fields,
    owner_of,
    pointer_of,
    without_payload,
)

LOCKSTEP_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}},
                }
            }
        },
    },
}


def _deployment(
    fields: dict[str, Any], time: str = "2026-11-23T10:00:00Z", **others: Any
) -> dict[str, Any]:
    managed = [
        {"manager": "lockstep", "operation": "Apply", "time": time, "fieldsV1": fields},
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "fieldsV1": {"f:status": {}},
        },
    ]
    managed += [
        {"manager": name, "operation": "Update", "fieldsV1": f} for name, f in others.items()
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {
                "app": "web",
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
            "managedFields": managed,
        },
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "envoy"},
                        {"name": "web", "image": "nginx"},
                    ]
                }
            },
        },
    }


def _without(fields: dict[str, Any], *path: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(fields)
    node = trimmed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return trimmed


def test_owned_fields_are_the_leaves_of_locksteps_applied_set() -> None:
    owned = owned_fields(_deployment(LOCKSTEP_FIELDS))
    assert ("f:spec", "f:replicas") in owned
    assert (
        "f:spec",
        "f:template",
        "f:spec",
        "f:containers",
        'k:{"name":"web"}',
        "f:image",
    ) in owned
    assert not any(path[0] == "f:status" for path in owned)


def test_a_field_taken_by_another_writer_is_drift_named_as_a_json_pointer() -> None:
    before = _deployment(LOCKSTEP_FIELDS)
    after = _deployment(
        _without(
            LOCKSTEP_FIELDS,
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            'k:{"name":"web"}',
            "f:image",
        ),
        kubectl_edit={"f:spec": {}},
    )
    assert drifted_fields(before, after) == ["/spec/template/spec/containers/1/image"]


def test_own_writes_and_untouched_fields_are_not_drift() -> None:
    before = _deployment(LOCKSTEP_FIELDS)
    assert (
        drifted_fields(before, _deployment(LOCKSTEP_FIELDS, hpa={"f:spec": {"f:paused": {}}})) == []
    )
    own_write = _deployment(
        _without(LOCKSTEP_FIELDS, "f:spec", "f:replicas"), time="2026-11-23T10:05:00Z"
    )
    assert drifted_fields(before, own_write) == []


def test_ignored_pointers_cover_their_subtree() -> None:
    before = _deployment(LOCKSTEP_FIELDS)
    after = _deployment(_without(LOCKSTEP_FIELDS, "f:spec", "f:replicas"))
    drifted = drifted_fields(before, after)
    assert drifted == ["/spec/replicas"]
    assert not_ignored(drifted, ["/spec/replicas"]) == []
    assert not_ignored(drifted, ["/spec"]) == []
    assert not_ignored(drifted, ["/spec/template"]) == ["/spec/replicas"]
    assert not_ignored(["/metadata/annotations/a~1b"], ["/metadata/annotations/a~1b"]) == []


def test_pointers_escape_and_resolve_list_items() -> None:
    obj = {
        "spec": {
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
            "args": ["-v", "-x"],
        }
    }
    assert pointer_of(("f:spec", "f:ports", 'k:{"port":443,"protocol":"TCP"}', "f:port"), obj) == (
        "spec",
        "ports",
        "1",
        "port",
    )
    assert pointer_of(("f:spec", "f:args", 'v:"-x"'), obj) == ("spec", "args", "1")
    assert pointer_of(("f:spec", "f:ports", 'k:{"port":8080,"protocol":"TCP"}'), obj) is None


def test_a_value_taken_from_a_copy_kept_without_values_is_drift() -> None:
    fields = {"f:data": {"f:color": {}, "f:size": {}}}

    def config_map(lockstep: dict[str, Any], **others: Any) -> dict[str, Any]:
        managed = _deployment(lockstep, **others)["metadata"]["managedFields"]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "managedFields": managed},
            "data": {"color": "blue", "size": "x" * 1000},
        }

    before = without_payload(config_map(fields))
    after = without_payload(
        config_map(_without(fields, "f:data", "f:color"), kubectl_edit={"f:data": {"f:color": {}}})
    )
    assert "data" not in before
    assert drifted_fields(before, after) == ["/data/color"]


def test_owner_comes_from_the_owner_labels() -> None:
    assert owner_of(_deployment(LOCKSTEP_FIELDS)) == ("flux-system", "apps")
    assert owner_of({"metadata": {"labels": {"app": "web"}}}) is None
