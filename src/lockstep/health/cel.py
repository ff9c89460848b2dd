"""Health from a Kustomization's ``spec.healthCheckExprs``: CEL expressions per kind.

Each entry names an ``apiVersion`` and ``kind`` and gives up to three boolean
CEL expressions. As in Flux, the object's top-level fields are the variables
(``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``), so an expression
reads ``status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')``;
the strings and optional-field (``status.?phase.orValue('')``) extensions are
enabled. For each object of that kind:

1. an object being deleted or whose ``status.observedGeneration`` is behind its
   ``metadata.generation`` is in progress, whatever the expressions say, since
   they would be reading a status written for an older spec;
2. ``inProgress`` (optional), then ``failed`` (optional), then ``current``
   (required) are evaluated; the first that is true decides;
3. if none is true the object is in progress. So is an expression that cannot
   be evaluated, typically one reading a field the controller has not written
   yet: guard with ``has(...)`` or ``.?``.

Entries match objects by API group and kind; the version is ignored, since the
same object may be read at any served version. Expressions are compiled once
(and cached by their text across reconciliations); one that does not compile,
or does not return a bool, is a :class:`HealthCheckExprError` naming the kind
and the expression, raised before anything waits.

Called by the Kustomization reconciler, which passes the result of
:func:`compile_health_check_exprs` to :func:`lockstep.health.evaluate` as overrides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

# The wheel ships .pyi stubs but no py.typed marker, so mypy will not read them.
from cel_expr_python import cel  # type: ignore[import-untyped]
from cel_expr_python.ext.ext_optional import ExtOptional  # type: ignore[import-untyped]
from cel_expr_python.ext.ext_strings import ExtStrings  # type: ignore[import-untyped]

from lockstep.health.conditions import generation_health
from lockstep.health.result import (
    GroupKind,
    Health,
    HealthCheck,
    HealthState,
    KubeObject,
    group_of,
    in_progress,
)

VARIABLES = ("apiVersion", "kind", "metadata", "spec", "status")

_ENV = cel.NewEnv(
    variables=dict.fromkeys(VARIABLES, cel.Type.DYN),
    extensions=[ExtOptional(), ExtStrings()],
)


class HealthCheckExprError(ValueError):
    """A ``healthCheckExprs`` entry that cannot be used; the message names kind and expression."""


@dataclass(frozen=True)
class HealthCheckExpr:
    """One entry of ``spec.healthCheckExprs``; empty optional expressions are skipped."""

    api_version: str
    kind: str
    current: str
    in_progress: str = ""
    failed: str = ""


@dataclass(frozen=True)
class _Rule:
    field: str
    source: str
    expression: cel.Expression
    state: HealthState


@dataclass(frozen=True)
class CelHealthCheck:
    """The compiled expressions of one entry, as a :data:`~lockstep.health.result.HealthCheck`."""

    rules: tuple[_Rule, ...]

    def __call__(self, obj: KubeObject) -> Health:
        if lagging := generation_health(obj):
            return lagging
        variables = {name: obj[name] for name in VARIABLES if name in obj}
        for rule in self.rules:
            result = rule.expression.eval(data=variables)
            value = result.value()
            if result.type() == cel.Type.ERROR:
                return in_progress(
                    f"{rule.field} expression {rule.source!r} could not be evaluated: {value}"
                )
            if not isinstance(value, bool):
                return in_progress(f"{rule.field} expression {rule.source!r} returned {value!r}")
            if value:
                return Health(rule.state, f"{rule.field} expression is true: {rule.source}")
        return in_progress("no health check expression is true yet")


@lru_cache(maxsize=512)
def _compile(source: str) -> cel.Expression:
    """Compile ``source``; raises :class:`RuntimeError` with the CEL error."""
    expression = _ENV.compile(source)
    returns = expression.return_type()
    if returns not in (cel.Type.BOOL, cel.Type.DYN):
        raise RuntimeError(f"returns {returns.name().lower()}, not bool")
    return expression


def _cel_error(error: RuntimeError) -> str:
    """The first line of a CEL compiler error, without the status code and input name."""
    first = str(error).splitlines()[0] if str(error) else "invalid expression"
    return first.removeprefix("INVALID_ARGUMENT: ").removeprefix("ERROR: <input>:")


def _compile_entry(entry: HealthCheckExpr) -> CelHealthCheck:
    if not entry.current.strip():
        raise HealthCheckExprError(
            f"healthCheckExprs for {entry.api_version} {entry.kind}: the current expression is required"
        )
    rules = []
    for field, source, state in (
        ("inProgress", entry.in_progress, HealthState.IN_PROGRESS),
        ("failed", entry.failed, HealthState.FAILED),
        ("current", entry.current, HealthState.CURRENT),
    ):
        if not source.strip():
            continue
        try:
            expression = _compile(source)
        except RuntimeError as error:
            raise HealthCheckExprError(
                f"healthCheckExprs for {entry.api_version} {entry.kind}: {field} expression "
                f"{source!r} is invalid: {_cel_error(error)}"
            ) from error
        rules.append(_Rule(field, source, expression, state))
    return CelHealthCheck(tuple(rules))


def compile_health_check_exprs(
    entries: Iterable[HealthCheckExpr],
) -> Mapping[GroupKind, HealthCheck]:
    """Compile every entry into the overrides :func:`lockstep.health.evaluate` takes.

    Raises :class:`HealthCheckExprError` on the first invalid expression, or when
    two entries are for the same group and kind.
    """
    overrides: dict[GroupKind, HealthCheck] = {}
    for entry in entries:
        key = (group_of(entry.api_version), entry.kind)
        if key in overrides:
            raise HealthCheckExprError(
                f"healthCheckExprs has two entries for {entry.api_version} {entry.kind}; keep one"
            )
        overrides[key] = _compile_entry(entry)
    return overrides
