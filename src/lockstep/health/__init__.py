"""Health of applied objects: is each one what its manifest asks for yet, and if not, why.

A pure library over objects as the API server returns them (plain dictionaries);
it imports nothing else of lockstep. It follows kstatus, the library Flux waits
with, kind by kind:

- :func:`evaluate` reads one object and returns a :class:`Health`: a
  :class:`HealthState` (``CURRENT < IN_PROGRESS < FAILED``, so "worst of" is
  ``max``) and one line saying why, e.g.
  ``Deployment/apps/web: 1 of 3 replicas available``.
- :func:`aggregate` folds many results into one for the Kustomization's status.
- :func:`compile_health_check_exprs` turns ``spec.healthCheckExprs`` into
  overrides for :func:`evaluate`; a bad expression is a :class:`HealthCheckExprError`.

One module per kind family (``workloads``, ``pods``, ``storage``, ``networking``,
``apiextensions``, ``namespaces``, ``generic``), the table in ``dispatch``, the
CEL override in ``cel``.

Argo CD's vocabulary lives beside it: :func:`argo_health` gives the
:class:`ArgoHealth` Argo CD would report (``Healthy`` ... ``Unknown``, or
``None`` for kinds without health), :func:`aggregate_argo_health` the app's,
and :class:`LuaHealthChecks` runs argocd-cm's custom Lua health scripts in a
sandbox (modules ``argo`` and ``lua``).

Called by the Kustomization reconciler's wait step, and by the Argo CD
Application reconciler.
"""

from lockstep.health.argo import (
    ArgoHealth,
    ArgoHealthStatus,
    aggregate_argo_health,
    argo_health,
)
from lockstep.health.cel import HealthCheckExpr, HealthCheckExprError, compile_health_check_exprs
from lockstep.health.dispatch import HEALTH_CHECKS, evaluate
from lockstep.health.lua import (
    LuaHealthChecks,
    LuaHealthConfigError,
    LuaLimits,
    parse_health_scripts,
    run_health_script,
)
from lockstep.health.result import (
    GroupKind,
    Health,
    HealthCheck,
    HealthState,
    KubeObject,
    aggregate,
)

__all__ = [
    "HEALTH_CHECKS",
    "ArgoHealth",
    "ArgoHealthStatus",
    "GroupKind",
    "Health",
    "HealthCheck",
    "HealthCheckExpr",
    "HealthCheckExprError",
    "HealthState",
    "KubeObject",
    "LuaHealthChecks",
    "LuaHealthConfigError",
    "LuaLimits",
    "aggregate",
    "aggregate_argo_health",
    "argo_health",
    "compile_health_check_exprs",
    "evaluate",
    "parse_health_scripts",
    "run_health_script",
]
