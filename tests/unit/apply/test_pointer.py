"""JSON pointers (RFC 6901): parsing with ~0 / ~1 escapes, reading, copying, removing."""

from __future__ import annotations

import pytest

from lockstep.apply.pointer import copy_at, parse_pointer, remove_at, value_at
from lockstep.kube import KubeObject


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("/spec/replicas", ("spec", "replicas")),
        ("/metadata/annotations/foo~1bar", ("metadata", "annotations", "foo/bar")),
        ("/a~0b", ("a~b",)),
        ("/~01", ("~1",)),
        ("/~10", ("/0",)),
        ("/spec/containers/0/image", ("spec", "containers", "0", "image")),
        ("/", ("",)),
        ("/a//b", ("a", "", "b")),
    ],
)
def test_tokens_are_unescaped_tilde_one_before_tilde_zero(
    pointer: str, tokens: tuple[str, ...]
) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize("pointer", ["", "spec/replicas", "/a~2b", "/a~", "#/spec"])
def test_what_is_not_a_pointer_is_refused_with_the_reason(pointer: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON pointer"):
        parse_pointer(pointer)


DEPLOYMENT: KubeObject = {
    "metadata": {"annotations": {"example.com/owner": "ops"}},
    "spec": {"replicas": 0, "containers": [{"name": "web", "image": "nginx:1"}]},
}


def test_values_are_found_through_maps_and_array_indexes() -> None:
    assert value_at(DEPLOYMENT, parse_pointer("/spec/replicas")) == (True, 0)
    assert value_at(DEPLOYMENT, ("spec", "containers", "0", "image")) == (True, "nginx:1")
    assert value_at(DEPLOYMENT, ("metadata", "annotations", "example.com/owner")) == (True, "ops")
    for missing in [("spec", "paused"), ("spec", "containers", "1"), ("spec", "containers", "01")]:
        assert value_at(DEPLOYMENT, missing) == (False, None)
    assert value_at(DEPLOYMENT, ("spec", "replicas", "x")) == (False, None)


def test_copy_adds_missing_maps_and_copies_the_value_not_a_reference() -> None:
    target: KubeObject = {"spec": {}}
    assert copy_at(DEPLOYMENT, target, ("metadata", "annotations", "example.com/owner"))
    assert copy_at(DEPLOYMENT, target, ("spec", "containers"))
    assert target == {
        "metadata": {"annotations": {"example.com/owner": "ops"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
    }
    target["spec"]["containers"][0]["image"] = "changed"
    assert DEPLOYMENT["spec"]["containers"][0]["image"] == "nginx:1"


def test_copy_into_an_array_item_needs_the_item_and_never_invents_an_array() -> None:
    target: KubeObject = {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}
    assert copy_at(DEPLOYMENT, target, ("spec", "containers", "0", "image"))
    assert target["spec"]["containers"][0]["image"] == "nginx:1"
    assert not copy_at(DEPLOYMENT, {}, ("spec", "containers", "0", "image"))
    assert not copy_at(DEPLOYMENT, {"spec": {"containers": []}}, ("spec", "containers", "0"))
    assert not copy_at(DEPLOYMENT, target, ("spec", "paused"))


def test_remove_deletes_map_keys_and_array_items_and_reports_absence() -> None:
    document: KubeObject = {"spec": {"replicas": 2, "args": ["a", "b"]}}
    assert remove_at(document, ("spec", "replicas"))
    assert remove_at(document, ("spec", "args", "0"))
    assert document == {"spec": {"args": ["b"]}}
    assert not remove_at(document, ("spec", "replicas"))
    assert not remove_at(document, ("spec", "args", "5"))
    assert not remove_at(document, ("status", "phase"))
