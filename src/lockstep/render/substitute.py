"""postBuild variable substitution: ``${var}`` and ``${var:=default}`` in the built objects.

Called by the Kustomization reconciler after :func:`lockstep.render.kustomize.build_kustomization`,
with the variables merged from ``spec.postBuild.substituteFrom`` (later objects win) and
``spec.postBuild.substitute`` (wins over all). Flux substitutes only when postBuild
defines at least one variable or source of variables; that decision is the caller's,
since it depends on the spec and not on the variables found.

The rules are Flux's, in its default (non-strict) mode:

- ``${name}`` becomes the variable's value, or the empty string when it is not defined;
- ``${name:=default}`` becomes the value, or ``default`` when it is undefined or empty;
- ``$${name}`` is an escape and becomes the literal text ``${name}``;
- ``$name`` without braces is left alone, so shell scripts in ConfigMaps keep working;
- an object labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled``
  is left as it is.

Names match ``[_a-zA-Z][_a-zA-Z0-9]*``. Other bash expansions that Flux evaluates
(``${var:1:2}``, ``${var/a/b}``, ...) are refused with `SubstitutionFailed` rather than
left unexpanded, so a manifest never reaches the cluster half-substituted.

Like Flux, the substitution runs on each object's YAML text, which is parsed again
afterwards: a value ``123`` substituted into ``replicas: ${n}`` becomes a number, and a
field that must stay a string needs the ``${quote}${n}${quote}`` idiom of the Flux docs
(with ``quote: '"'``). The text is written and read again with libyaml (PyYAML's C
emitter and parser), the costliest part of substitution. The engine is a few lines of Python: Flux's (a Go envsubst
library) cannot be called from Python, and these rules need no more than a regex.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from lockstep.render.documents import describe, load_documents
from lockstep.render.errors import InvalidManifest, SubstitutionFailed

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
"""Label or annotation that, set to ``disabled``, keeps an object out of substitution."""

_VARIABLE_NAME = r"[_a-zA-Z][_a-zA-Z0-9]*"
_EXPRESSION = re.compile(rf"\$\$\{{|\$\{{(?P<name>{_VARIABLE_NAME})(?P<operator>[^}}]*)\}}")

_DUMP_WIDTH = 1 << 30
"""Wide enough that the dumper never folds a long string, which could split an expression."""


def substitute(objects: list[dict[str, Any]], variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects with their variables replaced; objects with substitution disabled are kept as is.

    Raises `SubstitutionFailed` for a variable name Flux would refuse, for an expression
    other than ``${name}`` and ``${name:=default}``, and for a result that is not one object.
    """
    invalid = sorted(name for name in variables if not re.fullmatch(_VARIABLE_NAME, name))
    if invalid:
        raise SubstitutionFailed(
            f"postBuild variable '{invalid[0]}' has an invalid name; names are letters, digits "
            "and underscores, not starting with a digit: rename it in substitute or substituteFrom"
        )
    return [
        obj if _substitution_disabled(obj) else _substitute_object(obj, variables)
        for obj in objects
    ]


def _substitute_text(text: str, variables: Mapping[str, str], *, subject: str, secret: bool) -> str:
    """Replace the expressions of ``text``; ``subject`` names the object in error messages.

    A ``secret`` text is never quoted in messages: it may hold values decrypted by
    :mod:`lockstep.render.sops`.
    """

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name is None:
            return "${"
        operator = match["operator"]
        value = variables.get(name, "")
        if not operator:
            return value
        if operator.startswith(":="):
            return value or operator[2:]
        if secret:
            raise SubstitutionFailed(
                f"{subject}: a value holds an unsupported ${{...}} expression, not shown as the "
                "object is a Secret; use ${name} or ${name:=default}, or write $${...} to keep "
                "it literal"
            )
        raise SubstitutionFailed(
            f"{subject}: the expression '{match[0]}' is not supported; use ${{{name}}} or "
            f"${{{name}:=default}}, or write $${{{name}...}} to keep it literal"
        )

    return _EXPRESSION.sub(replace, text)


def _substitution_disabled(obj: dict[str, Any]) -> bool:
    metadata = obj.get("metadata") or {}
    return any(
        str((metadata.get(field) or {}).get(SUBSTITUTE_KEY, "")).lower() == "disabled"
        for field in ("labels", "annotations")
    )


def _substitute_object(obj: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    subject = describe(obj)
    text = yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, width=_DUMP_WIDTH)
    secret = obj["kind"] == "Secret" and obj["apiVersion"] == "v1"
    substituted = _substitute_text(text, variables, subject=subject, secret=secret)
    try:
        documents = load_documents(substituted, f"{subject} after substitution")
    except InvalidManifest as err:
        raise SubstitutionFailed(
            f"{err}; check the values of the variables it uses, and quote them with the "
            "${quote} idiom where they must stay strings"
        ) from err
    if len(documents) != 1:
        raise SubstitutionFailed(
            f"{subject}: substitution turned the object into {len(documents)} documents; "
            "a variable value must not contain a YAML document separator"
        )
    return documents[0].obj
