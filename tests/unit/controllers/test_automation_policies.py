"""Which ImagePolicies an ImageUpdateAutomation applies, from listed policy objects."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.api.image import ImageRef
from lockstep.api.meta import LabelSelector
from lockstep.controllers.image.automation_policies import (
    applied_policies,
    elected_image,
    label_matcher,
)
from lockstep.images import setters


def policy(name: str, labels: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": "apps", "labels": labels or {}},
        "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": "1.x"}}},
        "status": status,
    }


def test_elected_policies_are_applied_and_observed() -> None:
    items = [
        policy("web", latestRef={"name": "ghcr.io/acme/web", "tag": "1.2.0"}),
        policy(
            "api",
            latestRef={"name": "ghcr.io/acme/api", "tag": "2.0.0", "digest": "sha256:" + "a" * 64},
        ),
        policy("new"),
    ]

    policies = applied_policies("apps", items, label_matcher(None))

    assert policies.images == {
        ("apps", "web"): setters.ImageRef("ghcr.io/acme/web", "1.2.0"),
        ("apps", "api"): setters.ImageRef("ghcr.io/acme/api", "2.0.0", "sha256:" + "a" * 64),
    }
    assert policies.observed == {
        "web": ImageRef(name="ghcr.io/acme/web", tag="1.2.0"),
        "api": ImageRef(name="ghcr.io/acme/api", tag="2.0.0", digest="sha256:" + "a" * 64),
    }
    assert policies.others == {"new"}


def test_markers_of_other_namespaces_unselected_or_unelected_policies_are_not_ours() -> None:
    items = [
        policy("web", {"team": "a"}, latestRef={"name": "web", "tag": "1"}),
        policy("db", {"team": "b"}, latestRef={"name": "db", "tag": "1"}),
        policy("new", {"team": "a"}),
    ]
    selector = LabelSelector.model_validate({"matchLabels": {"team": "a"}})

    policies = applied_policies("apps", items, label_matcher(selector))

    assert list(policies.images) == [("apps", "web")]
    assert policies.in_scope(setters.PolicyKey("apps", "web"))
    assert policies.in_scope(setters.PolicyKey("apps", "typo")), "a missing policy is reported"
    assert not policies.in_scope(setters.PolicyKey("apps", "db"))
    assert not policies.in_scope(setters.PolicyKey("apps", "new"))
    assert not policies.in_scope(setters.PolicyKey("team-b", "web"))


def test_the_v1beta2_latest_image_is_read_when_there_is_no_latest_ref() -> None:
    assert elected_image(policy("web", latestImage="127.0.0.1:5000/acme/web:1.2")) == (
        setters.ImageRef("127.0.0.1:5000/acme/web", "1.2")
    )
    assert elected_image(policy("web", latestImage="acme/web:1.2@sha256:abc")) == (
        setters.ImageRef("acme/web", "1.2", "sha256:abc")
    )
    assert elected_image(policy("web", latestImage="127.0.0.1:5000/acme/web")) is None
    assert elected_image(policy("web", latestRef={"name": "web", "tag": "has space"})) is None


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
            {"team": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "auto", "operator": "Exists"}]}, {"auto": ""}, True),
        ({"matchExpressions": [{"key": "auto", "operator": "DoesNotExist"}]}, {"auto": "1"}, False),
        ({}, {"anything": "x"}, True),
    ],
)
def test_label_selectors_match_as_kubernetes_does(
    selector: dict[str, Any], labels: dict[str, str], matches: bool
) -> None:
    assert label_matcher(LabelSelector.model_validate(selector))(labels) is matches


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [{"key": "team", "operator": "In"}]}, "In on team needs values"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "Exists on a takes no values",
        ),
        ({"matchLabels": {"bad key!": "a"}}, "is invalid"),
    ],
)
def test_selectors_the_api_server_would_refuse_are_refused(
    selector: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        label_matcher(LabelSelector.model_validate(selector))
