"""What the dependency gates of every applier kind share: ``readyExpr``.

A ``dependsOn`` entry with ``readyExpr`` is ready when that CEL expression is true:
``self`` is the object that depends, ``dep`` the dependency, whole objects, with the
strings and optional-field extensions, e.g.
``dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')``. A
dependency that is not ready is :class:`DependencyNotReady` (retried without growing
backoff); an expression that does not compile, or does not return a bool,
:class:`InvalidReadyExpr` (only a spec change fixes it).

Used by the Kustomization (:mod:`lockstep.controllers.kustomize.dependencies`) and
HelmRelease (:mod:`lockstep.controllers.helm.release`) reconcilers.
"""

from __future__ import annotations

from functools import lru_cache

# The wheel ships .pyi stubs but no py.typed marker, so mypy will not read them.
from cel_expr_python import cel  # type: ignore[import-untyped]
from cel_expr_python.ext.ext_optional import ExtOptional  # type: ignore[import-untyped]
from cel_expr_python.ext.ext_strings import ExtStrings  # type: ignore[import-untyped]

from lockstep.kube import KubeObject

_READY_ENV = cel.NewEnv(
    variables={"self": cel.Type.DYN, "dep": cel.Type.DYN},
    extensions=[ExtOptional(), ExtStrings()],
)


class DependencyNotReady(Exception):
    """A dependency is missing or not ready; the message names it."""


class InvalidReadyExpr(Exception):
    """A ``readyExpr`` cannot be compiled or does not return a bool; the message names it."""


def check_ready_expr(source: str, own: KubeObject, dependency: KubeObject, shown: str) -> None:
    """Raise unless ``source`` holds for ``own`` (``self``) and ``dependency`` (``dep``);
    ``shown`` names the dependency in messages."""
    try:
        expression = _compile_ready_expr(source)
    except RuntimeError as error:
        raise InvalidReadyExpr(
            f"{shown}: readyExpr {source!r} is invalid: {_first_line(error)}; fix the expression"
        ) from error
    result = expression.eval(data={"self": own, "dep": dependency})
    value = result.value()
    if result.type() == cel.Type.ERROR:
        raise DependencyNotReady(f"{shown}: readyExpr {source!r} could not be evaluated: {value}")
    if not isinstance(value, bool):
        raise InvalidReadyExpr(f"{shown}: readyExpr {source!r} returned {value!r}, not a bool")
    if not value:
        raise DependencyNotReady(f"{shown} is not ready according to readyExpr eval")


@lru_cache(maxsize=256)
def _compile_ready_expr(source: str) -> cel.Expression:
    """Compile ``source``; raises :class:`RuntimeError` with the CEL error."""
    expression = _READY_ENV.compile(source)
    returns = expression.return_type()
    if returns not in (cel.Type.BOOL, cel.Type.DYN):
        raise RuntimeError(f"returns {returns.name().lower()}, not bool")
    return expression


def _first_line(error: RuntimeError) -> str:
    """The first line of a CEL compiler error, without the status code and input name."""
    first = str(error).splitlines()[0] if str(error) else "invalid expression"
    return first.removeprefix("INVALID_ARGUMENT: ").removeprefix("ERROR: <input>:")
