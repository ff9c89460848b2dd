"""Drift-ignore rules: which pointers cover an object, and the desired object they reshape."""

from __future__ import annotations

import copy

import pytest

from lockstep.apply import IgnoreRule, Selector, ignored_pointers
from lockstep.apply.ignore import keep_ignored_fields
from lockstep.kube import KubeObject

DESIRED: KubeObject = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "w", "image": "a"}]}}},
}
LIVE: KubeObject = {
    **copy.deepcopy(DESIRED),
    "metadata": {
        "name": "web",
        "namespace": "apps",
        "labels": {"app": "web"},
        "annotations": {"example.com/scaled-by": "hpa"},
    },
    "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "w", "image": "b"}]}}},
}
REPLICAS = IgnoreRule(["/spec/replicas"], Selector(kind="Deployment"))


def test_pointers_of_the_rules_that_cover_the_object_each_once_in_order() -> None:
    rules = [
        REPLICAS,
        IgnoreRule(["/metadata/annotations/example.com~1scaled-by", "/spec/replicas"]),
        IgnoreRule(["/data"], Selector(kind="ConfigMap")),
        IgnoreRule(["/spec/paused"], Selector(label_selector="app=api")),
    ]
    assert ignored_pointers(DESIRED, rules) == [
        "/spec/replicas",
        "/metadata/annotations/example.com~1scaled-by",
    ]
    assert ignored_pointers(DESIRED, []) == []


def test_ignored_fields_take_the_live_value_and_the_rest_stays_as_declared() -> None:
    rules = [REPLICAS, IgnoreRule(["/metadata/annotations/example.com~1scaled-by"])]
    kept = keep_ignored_fields(DESIRED, LIVE, rules)
    assert kept["spec"]["replicas"] == 5
    assert kept["metadata"]["annotations"] == {"example.com/scaled-by": "hpa"}
    assert kept["spec"]["template"]["spec"]["containers"][0]["image"] == "a"
    assert DESIRED["spec"]["replicas"] == 2
    assert "annotations" not in DESIRED["metadata"]


def test_an_ignored_field_the_live_object_lacks_is_left_out() -> None:
    live = copy.deepcopy(LIVE)
    del live["spec"]["replicas"]
    kept = keep_ignored_fields(DESIRED, live, [REPLICAS])
    assert "replicas" not in kept["spec"]


def test_array_items_are_ignored_by_index() -> None:
    rule = IgnoreRule(["/spec/template/spec/containers/0/image"])
    kept = keep_ignored_fields(DESIRED, LIVE, [rule])
    assert kept["spec"]["template"]["spec"]["containers"] == [{"name": "w", "image": "b"}]


def test_rules_of_other_objects_change_nothing() -> None:
    rules = [IgnoreRule(["/spec/replicas"], Selector(name="api"))]
    assert keep_ignored_fields(DESIRED, LIVE, rules) == DESIRED


def test_a_rule_needs_valid_pointers() -> None:
    with pytest.raises(ValueError, match='"spec/replicas" is not a JSON pointer'):
        IgnoreRule(["spec/replicas"])
    with pytest.raises(ValueError, match="no paths"):
        IgnoreRule([])


def test_a_rule_keeps_its_paths_as_a_tuple() -> None:
    paths = ["/spec/replicas"]
    rule = IgnoreRule(paths)
    paths.append("/spec/paused")
    assert rule.paths == ("/spec/replicas",)
    assert hash(rule) == hash(IgnoreRule(("/spec/replicas",)))
