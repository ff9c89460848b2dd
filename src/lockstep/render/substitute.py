"""postBuild variable substitution: ``${var}`` and the other bash forms Flux evaluates.

Called by the Kustomization reconciler after :func:`lockstep.render.kustomize.build_kustomization`,
with the variables merged from ``spec.postBuild.substituteFrom`` (later objects win) and
``spec.postBuild.substitute`` (wins over all). Whether to substitute at all is the
caller's decision, as Flux's: only with ``spec.postBuild`` set, and then only when there
is at least one variable or ``substituteStrategy`` is ``Always``.

The expressions are evaluated by :mod:`lockstep.render.envsubst`, with the rules of the
envsubst library Flux uses (``${var}``, ``${var:=default}``, ``${var:-default}``,
``${var=default}``, ``${var:offset:length}``, ``${var/old/new}``, ...; ``$$`` is a
literal ``$``, so ``$${var}`` stays ``${var}``; ``$var`` is left alone). In strict mode
(Flux's default since kustomize-controller v1.9, its ``StrictPostBuildSubstitutions``
feature gate) a variable that is not defined fails the build unless the expression
gives a default; in lenient mode it is the empty string. An object labelled or
annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is left as it is.
Variable names must match ``[_a-zA-Z][_a-zA-Z0-9]*``.

Like Flux, the substitution runs on each object's YAML text, which is parsed again
afterwards: a value ``123`` substituted into ``replicas: ${n}`` becomes a number, and a
field that must stay a string needs the ``${quote}${n}${quote}`` idiom of the Flux docs
(with ``quote: '"'``). The text is written and read again with libyaml (PyYAML's C
emitter and parser), the costliest part of substitution. The text an object becomes
is bounded as a file is (:mod:`lockstep.render.bounds`): at most ``MAX_FILE_BYTES``
characters, and read back within the nesting and alias ceilings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from lockstep.render.bounds import MAX_FILE_BYTES
from lockstep.render.documents import describe, load_documents
from lockstep.render.envsubst import EnvsubstError, ExpansionTooLong, UndefinedVariable, expand
from lockstep.render.errors import InvalidManifest, SubstitutionFailed

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
"""Label or annotation that, set to ``disabled``, keeps an object out of substitution."""

_VARIABLE_NAME = r"[_a-zA-Z][_a-zA-Z0-9]*"

_DUMP_WIDTH = 1 << 30
"""Wide enough that the dumper never folds a long string, which could split an expression."""


def substitute(
    objects: list[dict[str, Any]], variables: Mapping[str, str], *, strict: bool
) -> list[dict[str, Any]]:
    """The objects with their variables replaced; objects with substitution disabled are kept as is.

    Raises `SubstitutionFailed` for a variable name Flux would refuse, an expression that
    does not parse, an undefined variable without default when ``strict``, and a result
    that is not one object.
    """
    invalid = sorted(name for name in variables if not re.fullmatch(_VARIABLE_NAME, name))
    if invalid:
        raise SubstitutionFailed(
            f"postBuild variable '{invalid[0]}' has an invalid name; names are letters, digits "
            "and underscores, not starting with a digit: rename it in substitute or substituteFrom"
        )
    return [
        obj if _substitution_disabled(obj) else _substitute_object(obj, variables, strict)
        for obj in objects
    ]


def _expanded(text: str, variables: Mapping[str, str], *, strict: bool, subject: str) -> str:
    """``text`` substituted; ``subject`` names the object in error messages, which never
    quote the text (it may hold values decrypted by :mod:`lockstep.render.sops`)."""
    try:
        return expand(text, variables, strict=strict, max_length=MAX_FILE_BYTES)
    except RecursionError:
        raise SubstitutionFailed(
            f"{subject}: postBuild substitution failed: expressions nested too deeply; "
            "nest fewer ${...} inside one another"
        ) from None
    except EnvsubstError as error:
        if isinstance(error, ExpansionTooLong):
            hint = "substitute shorter values, or fewer times"
        elif isinstance(error, UndefinedVariable):
            name = error.variable
            hint = (
                "define it in postBuild.substitute or substituteFrom, give it a default "
                f"with ${{{name}:=default}}, or write $${{{name}}} to keep it literal"
            )
        else:
            hint = "fix the ${...} expression, or write $${...} to keep it literal"
        raise SubstitutionFailed(
            f"{subject}: postBuild substitution failed: {error}; {hint}"
        ) from error


def _tagged_value(subject: str) -> SubstitutionFailed:
    """A value that became a YAML tag (a password starting with '!'): what the parser
    says quotes the value, which may be a secret, so it is not passed on."""
    return SubstitutionFailed(
        f"{subject}: after substitution, a value starts with a YAML tag ('!...') that "
        "cannot be read; quote the variables it uses with the ${quote} idiom"
    )


def _substitution_disabled(obj: dict[str, Any]) -> bool:
    """Whether the object's labels or annotations disable substitution. Labels or
    annotations that are not a mapping disable nothing: as in Flux, the object is
    substituted and the API server refuses it at apply, naming it."""
    metadata = obj.get("metadata") or {}
    return any(
        isinstance(values, dict) and values.get(SUBSTITUTE_KEY) == "disabled"
        for values in (metadata.get("labels"), metadata.get("annotations"))
    )


def _substitute_object(
    obj: dict[str, Any], variables: Mapping[str, str], strict: bool
) -> dict[str, Any]:
    subject = describe(obj)
    text = yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, width=_DUMP_WIDTH)
    if "$" not in text:
        # Nothing to expand, and reading the text back would give the object again.
        return obj
    substituted = _expanded(text, variables, strict=strict, subject=subject)
    try:
        documents = load_documents(substituted, f"{subject} after substitution")
    except InvalidManifest as err:
        if isinstance(err.__cause__, yaml.constructor.ConstructorError):
            raise _tagged_value(subject) from None
        raise SubstitutionFailed(
            f"{err}; check the values of the variables it uses, and quote them with the "
            "${quote} idiom where they must stay strings"
        ) from err
    except (ValueError, LookupError, AttributeError, TypeError):
        # PyYAML's constructors of explicit tags (!!int, !!bool, ...) fail with the value.
        raise _tagged_value(subject) from None
    if len(documents) != 1:
        raise SubstitutionFailed(
            f"{subject}: substitution turned the object into {len(documents)} documents; "
            "a variable value must not contain a YAML document separator"
        )
    return documents[0].obj
