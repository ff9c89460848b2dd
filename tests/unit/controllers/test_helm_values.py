"""A HelmRelease's values: the merge of valuesFrom and values, targetPath, the digest."""

from __future__ import annotations

from lockstep.controllers.helm.values import (
    ComposedValues,
    config_digest,
    set_at_path,
)
from lockstep.render.helm import merge_values


def test_later_values_merge_into_earlier_maps_and_replace_the_rest() -> None:
    base = {"image": {"repository": "web", "tag": "1"}, "hosts": ["a"], "replicas": 1}
    override = {"image": {"tag": "2"}, "hosts": ["b"], "debug": True}

    assert merge_values(base, override) == {
        "image": {"repository": "web", "tag": "2"},
        "hosts": ["b"],
        "replicas": 1,
        "debug": True,
    }
    assert base["image"] == {"repository": "web", "tag": "1"}


def test_a_target_path_sets_a_string_creating_the_maps_on_its_way() -> None:
    values = {"auth": {"user": "admin"}}

    assert set_at_path(values, "auth.password", "s3cret") == {
        "auth": {"user": "admin", "password": "s3cret"}
    }
    assert set_at_path({}, r"annotations.example\.com/team", "web") == {
        "annotations": {"example.com/team": "web"}
    }
    assert set_at_path({"a": "scalar"}, "a.b", "1") == {"a": {"b": "1"}}


def test_equal_values_have_equal_digests_whatever_their_order() -> None:
    assert config_digest({"a": 1, "b": {"c": 2}}) == config_digest({"b": {"c": 2}, "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 2})
    assert config_digest({}).startswith("sha256:")


def test_texts_from_secrets_are_masked_as_written_and_as_go_quotes_them() -> None:
    composed = ComposedValues(
        {"pin": "12\n34", "token": "s3cret"}, frozenset({"12\n34", "s3cret", "s3cret-long"})
    )
    message = (
        "at '/pin': '12\\n34' does not match pattern; token s3cret-long; raw \"s3cret\" and 12\n34"
    )

    assert composed.masked(message) == (
        "at '/pin': '***' does not match pattern; token ***; raw \"***\" and ***"
    )


def test_a_message_without_secret_texts_is_left_as_it_is() -> None:
    composed = ComposedValues({"replicas": 2}, frozenset())

    assert composed.masked("at '/replicas': got string") == "at '/replicas': got string"
