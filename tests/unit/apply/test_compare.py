"""Comparison between a dry-run result and the live object."""

from __future__ import annotations

import copy

from lockstep.apply.compare import has_drifted
from lockstep.kube import KubeObject

LIVE: KubeObject = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "settings",
        "namespace": "apps",
        "uid": "1234",
        "resourceVersion": "41",
        "generation": 1,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"manager": "lockstep", "time": "2026-01-01T00:00:00Z"}],
        "labels": {"app": "web"},
    },
    "data": {"colour": "blue"},
}


def test_server_maintained_fields_and_status_are_not_drift() -> None:
    dry_run = copy.deepcopy(LIVE)
    dry_run["metadata"]["resourceVersion"] = "42"
    dry_run["metadata"]["generation"] = 2
    dry_run["metadata"]["managedFields"] = [{"manager": "lockstep", "time": "2026-02-02T00:00:00Z"}]
    dry_run["status"] = {"phase": "whatever"}
    assert not has_drifted(dry_run, LIVE)


def test_a_changed_field_or_label_is_drift() -> None:
    changed = copy.deepcopy(LIVE)
    changed["data"]["colour"] = "green"
    assert has_drifted(changed, LIVE)
    relabelled = copy.deepcopy(LIVE)
    relabelled["metadata"]["labels"]["app"] = "api"
    assert has_drifted(relabelled, LIVE)


def test_comparison_leaves_its_inputs_alone() -> None:
    live = copy.deepcopy(LIVE)
    has_drifted(live, live)
    assert live == LIVE
