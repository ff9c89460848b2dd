"""postBuild substitution with Flux's rules, on each object's YAML text.

The expressions themselves are compared with Flux's envsubst library in
``test_envsubst_against_go.py``; these tests are about objects: YAML types after
substitution, disabled objects, strict and lenient mode, and the errors.
"""

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


def substituted(value: Any, variables: dict[str, str] = VARIABLES, *, strict: bool = False) -> Any:
    (obj,) = substitute([with_value(value)], variables, strict=strict)
    return obj["data"]["key"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("${a}", "alpha"),
        ("x-${a}-y", "x-alpha-y"),
        ("${undefined}", None),
        ("pre-${undefined}", "pre-"),
        ("${undefined:=fallback}", "fallback"),
        ("${undefined:-fallback}", "fallback"),
        ("${undefined=fallback}", "fallback"),
        ("${empty:=fallback}", "fallback"),
        ("${a:=fallback}", "alpha"),
        ("${undefined:=with space and: colon}", "with space and: colon"),
        ("$${a}", "${a}"),
        ("$a stays, $$a loses a dollar", "$a stays, $a loses a dollar"),
        ("${n}", 42),
        ("${flag}", True),
        ("${quote}${n}${quote}", "42"),
        ("${quote}${flag}${quote}", "true"),
        ("${a:1:3}", "lph"),
        ("${a^^}", "ALPHA"),
        ("${a/l/L}", "aLpha"),
        ("${#a}", 5),
    ],
)
def test_substitution_table(written: str, expected: Any) -> None:
    assert substituted(written) == expected


def test_keys_and_nested_values_are_substituted() -> None:
    obj = with_value("${a}")
    obj["metadata"]["labels"] = {"env": "${a}"}

    (result,) = substitute([obj], VARIABLES, strict=False)

    assert result["metadata"]["labels"] == {"env": "alpha"}
    assert obj["metadata"]["labels"] == {"env": "${a}"}, "the input is left unchanged"


def test_long_values_are_not_folded_apart() -> None:
    written = "word " * 40 + "${undefined:=a default with spaces}"

    assert substituted(written) == "word " * 40 + "a default with spaces"


@pytest.mark.parametrize("field", ["annotations", "labels"])
def test_disabled_objects_are_left_alone(field: str) -> None:
    obj = with_value("${a}", **{field: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}})

    assert substitute([obj], VARIABLES, strict=True) == [obj]


def test_only_the_exact_disabled_value_disables() -> None:
    obj = with_value("${a}", annotations={"kustomize.toolkit.fluxcd.io/substitute": "Disabled"})

    (result,) = substitute([obj], VARIABLES, strict=False)

    assert result["data"]["key"] == "alpha"


def test_strict_mode_refuses_an_undefined_variable_naming_object_and_variable() -> None:
    with pytest.raises(SubstitutionFailed) as caught:
        substituted("${missing}", strict=True)

    assert str(caught.value) == (
        "ConfigMap/ns/cm: postBuild substitution failed: variable not set (strict mode): "
        '"missing"; define it in postBuild.substitute or substituteFrom, give it a default '
        "with ${missing:=default}, or write $${missing} to keep it literal"
    )


def test_strict_mode_accepts_defaults_and_empty_values() -> None:
    assert substituted("${missing:=d}-${missing:-e}-${empty}", strict=True) == "d-e-"


def test_an_expression_that_does_not_parse_is_refused() -> None:
    with pytest.raises(
        SubstitutionFailed,
        match=r"^ConfigMap/ns/cm: postBuild substitution failed: missing closing brace; fix",
    ):
        substituted("${a-default}")


def test_value_that_breaks_the_yaml_is_reported() -> None:
    with pytest.raises(
        SubstitutionFailed, match=r"^ConfigMap/ns/cm after substitution:\d+: invalid YAML"
    ):
        substituted("${bad}", {"bad": "[unclosed"})


@pytest.mark.parametrize("tag", ["!", "!!", "!!float ", "!!bool ", "!!timestamp ", "!<x> "])
def test_a_value_read_as_a_yaml_tag_is_refused_without_quoting_it(tag: str) -> None:
    password = "p4ss-w0rd-from-a-secret"
    with pytest.raises(SubstitutionFailed) as refused:
        substituted("${password}", {"password": tag + password})

    assert str(refused.value) == (
        "ConfigMap/ns/cm: after substitution, a value starts with a YAML tag ('!...') that "
        "cannot be read; quote the variables it uses with the ${quote} idiom"
    )
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None or refused.value.__suppress_context__


def test_invalid_variable_name_is_refused() -> None:
    with pytest.raises(SubstitutionFailed, match=r"variable 'not-valid' has an invalid name"):
        substituted("${a}", {"not-valid": "x"})


@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_labels_or_annotations_that_are_not_a_mapping_do_not_disable_substitution(
    field: str,
) -> None:
    (obj,) = substitute([with_value("${a}", **{field: ["x", "y"]})], VARIABLES, strict=True)

    assert obj["data"]["key"] == "alpha"
    assert obj["metadata"][field] == ["x", "y"]
