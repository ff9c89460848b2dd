"""postBuild substitution with Flux's rules, on each object's YAML text."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.render.errors import SubstitutionFailed
from lockstep.render.substitute import substitute

VARIABLES = {"a": "alpha", "empty": "", "n": "42", "flag": "true", "quote": '"'}


def with_value(value: Any, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "ns", **metadata},
        "data": {"key": value},
    }


def substituted(value: Any, variables: dict[str, str] = VARIABLES) -> Any:
    (obj,) = substitute([with_value(value)], variables)
    return obj["data"]["key"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("${a}", "alpha"),
        ("x-${a}-y", "x-alpha-y"),
        ("${undefined}", None),
        ("pre-${undefined}", "pre-"),
        ("${undefined:=fallback}", "fallback"),
        ("${empty:=fallback}", "fallback"),
        ("${a:=fallback}", "alpha"),
        ("${a:=with space and: colon}", "alpha"),
        ("${undefined:=with space and: colon}", "with space and: colon"),
        ("$${a}", "${a}"),
        ("$a and $$a stay", "$a and $$a stay"),
        ("${n}", 42),
        ("${flag}", True),
        ("${quote}${n}${quote}", "42"),
        ("${quote}${flag}${quote}", "true"),
        ("${_under_score9}", None),
        ("${9bad}", "${9bad}"),
    ],
)
def test_substitution_table(written: str, expected: Any) -> None:
    assert substituted(written) == expected


def test_keys_and_nested_values_are_substituted() -> None:
    obj = with_value("${a}")
    obj["metadata"]["labels"] = {"env": "${a}"}

    (result,) = substitute([obj], VARIABLES)

    assert result["metadata"]["labels"] == {"env": "alpha"}
    assert obj["metadata"]["labels"] == {"env": "${a}"}, "the input is left unchanged"


def test_long_values_are_not_folded_apart() -> None:
    written = "word " * 40 + "${undefined:=a default with spaces}"

    assert substituted(written) == "word " * 40 + "a default with spaces"


@pytest.mark.parametrize("field", ["annotations", "labels"])
def test_disabled_objects_are_left_alone(field: str) -> None:
    obj = with_value("${a}", **{field: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}})

    assert substitute([obj], VARIABLES) == [obj]


def test_unsupported_expression_is_refused_naming_the_object() -> None:
    with pytest.raises(SubstitutionFailed, match=r"^ConfigMap/ns/cm: the expression '\$\{a:1:2\}'"):
        substituted("${a:1:2}")


def test_value_that_breaks_the_yaml_is_reported() -> None:
    with pytest.raises(
        SubstitutionFailed, match=r"^ConfigMap/ns/cm after substitution:\d+: invalid YAML"
    ):
        substituted("${bad}", {"bad": "[unclosed"})


def test_invalid_variable_name_is_refused() -> None:
    with pytest.raises(SubstitutionFailed, match=r"variable 'not-valid' has an invalid name"):
        substituted("${a}", {"not-valid": "x"})
