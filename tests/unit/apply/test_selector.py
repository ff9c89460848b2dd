"""Selectors with Flux's kustomize semantics: anchored regular expressions, label selectors."""

from __future__ import annotations

import re

import pytest

from lockstep.apply import Selector
from lockstep.apply.selector import Requirement, matches_label_selector, parse_label_selector
from lockstep.kube import KubeObject

WEB: KubeObject = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "apps",
        "labels": {"app": "web", "tier": "front", "replicas": "3"},
        "annotations": {"example.com/owner": "ops"},
    },
}
SETTINGS: KubeObject = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "web-settings", "namespace": "apps"},
}


def test_an_empty_selector_selects_everything() -> None:
    assert Selector().matches(WEB)
    assert Selector().matches(SETTINGS)


def test_names_are_regular_expressions_anchored_at_both_ends() -> None:
    assert Selector(name="web").matches(WEB)
    assert not Selector(name="web").matches(SETTINGS)
    assert not Selector(name="we").matches(WEB)
    assert Selector(name="web.*").matches(SETTINGS)
    assert Selector(name="web|api").matches(WEB)
    assert not Selector(name=".*-settings|api").matches(WEB)
    assert Selector(namespace="app.").matches(WEB)
    assert not Selector(namespace="app").matches(WEB)


def test_group_version_and_kind_come_from_api_version_and_kind() -> None:
    assert Selector(group="apps", version="v1", kind="Deployment").matches(WEB)
    assert not Selector(group="apps").matches(SETTINGS)
    assert Selector(group="", kind="ConfigMap").matches(SETTINGS)
    assert not Selector(kind="Deploy").matches(WEB)
    assert Selector(version="v1").matches(SETTINGS)


def test_label_and_annotation_selectors_read_their_own_maps() -> None:
    assert Selector(label_selector="app=web").matches(WEB)
    assert not Selector(label_selector="app=web").matches(SETTINGS)
    assert Selector(annotation_selector="example.com/owner=ops").matches(WEB)
    assert not Selector(annotation_selector="app=web").matches(WEB)


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app = web , tier=front", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("tier in (front, back)", True),
        ("tier in (back)", False),
        ("tier notin (back)", True),
        ("missing notin (back)", True),
        ("missing in (back)", False),
        ("replicas > 2", True),
        ("replicas < 2", False),
        ("app > 2", False),
        ("empty=", False),
        ("app=web,missing", False),
    ],
)
def test_label_selector_expressions(expression: str, selected: bool) -> None:
    assert matches_label_selector(expression, WEB["metadata"]["labels"]) is selected


def test_an_empty_value_matches_an_empty_label() -> None:
    assert matches_label_selector("flag=", {"flag": ""})
    assert not matches_label_selector("flag=", {})


def test_a_parsed_selector_lists_its_requirements() -> None:
    assert parse_label_selector("a=1,b in (x,y),!c") == (
        Requirement("a", "=", ("1",)),
        Requirement("b", "in", ("x", "y")),
        Requirement("c", "!"),
    )


@pytest.mark.parametrize(
    "expression",
    ["=web", "app in web", "app in ()", "app in (a", "a b", "a > x", "a,", "a=b=c", "-a"],
)
def test_unreadable_label_selectors_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f'label selector "{expression}" is invalid')):
        parse_label_selector(expression)


def test_a_bad_selector_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match='selector name "web\\(" is not a regular expression'):
        Selector(name="web(")
    with pytest.raises(ValueError, match="label selector"):
        Selector(label_selector="a in")
