"""The dependency gate of a Kustomization: every ``spec.dependsOn`` entry must be ready.

- An entry without ``kind`` (or naming a Kustomization) is another Kustomization,
  read from the controller's cache: it must be Ready for its current generation
  and, when both build the same source, have applied the revision about to be
  applied here, so an app never runs ahead of the infrastructure of its commit.
- Beyond Flux, an entry may name any object by ``apiVersion`` and ``kind`` (a
  CRD, a Deployment, a database claim): it is read from the API server and must
  be healthy by the same rules as ``wait`` (``healthCheckExprs`` included).
- An entry with ``readyExpr`` is ready when that CEL expression is true, instead
  of the checks above (as Flux without its ``AdditiveCELDependencyCheck`` gate):
  ``self`` is this Kustomization and ``dep`` the dependency, whole objects, with
  the strings and optional-field extensions, e.g.
  ``dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')``.

A failed gate is :class:`DependencyNotReady`; the reconciler reports it and
retries without growing backoff. A ``readyExpr`` that does not compile, or
does not return a bool, is :class:`InvalidReadyExpr`, which only a spec change
fixes (both from :mod:`lockstep.controllers.dependencies`, shared with the
HelmRelease reconciler). Called by the Kustomization reconciler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from lockstep.api.kustomize import DependencyReference, Kustomization
from lockstep.api.meta import Artifact
from lockstep.apply import resolve
from lockstep.controllers.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_ready_expr,
)
from lockstep.health import GroupKind, HealthCheck, HealthState, evaluate
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey

KUSTOMIZATION_API_GROUP = "kustomize.toolkit.fluxcd.io"


def is_kustomization(dependency: DependencyReference) -> bool:
    return dependency.kind in (None, "Kustomization") and (
        dependency.api_version is None
        or dependency.api_version.startswith(f"{KUSTOMIZATION_API_GROUP}/")
    )


def kustomization_dependencies(obj: Mapping[str, Any]) -> list[ObjectKey]:
    """The keys of the Kustomizations a Kustomization (as a raw object) depends on."""
    own_namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    found = []
    for raw in (obj.get("spec") or {}).get("dependsOn") or []:
        try:
            dependency = DependencyReference.model_validate(raw)
        except ValidationError:
            # Reported when that Kustomization is reconciled; watch handlers must not raise.
            continue
        if is_kustomization(dependency):
            found.append((dependency.namespace or own_namespace, dependency.name))
    return found


async def check_dependencies(
    kustomization: Kustomization,
    artifact: Artifact,
    cache: Any,
    kube: KubeClient,
    overrides: Mapping[GroupKind, HealthCheck],
) -> None:
    """Raise :class:`DependencyNotReady` for the first dependency that is not ready, and
    :class:`InvalidReadyExpr` for an unusable ``readyExpr``."""
    own_namespace = kustomization.metadata.namespace or ""
    own = cache.get((own_namespace, kustomization.metadata.name)) or kustomization.to_manifest()
    for dependency in kustomization.spec.depends_on:
        namespace = dependency.namespace or own_namespace
        if is_kustomization(dependency):
            key = (namespace, dependency.name)
            obj = cache.get(key)
            if dependency.ready_expr and obj is not None:
                check_ready_expr(dependency.ready_expr, own, obj, f"dependency '{key[0]}/{key[1]}'")
            else:
                _check_kustomization(kustomization, artifact, obj, key)
        else:
            await _check_object(kube, dependency, namespace, overrides, own)


def _check_kustomization(
    kustomization: Kustomization, artifact: Artifact, obj: KubeObject | None, key: ObjectKey
) -> None:
    shown = f"dependency '{key[0]}/{key[1]}'"
    if obj is None:
        raise DependencyNotReady(f"{shown} does not exist")
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if (
        not ready
        or ready.get("status") != "True"
        or status.get("observedGeneration") != obj["metadata"].get("generation")
    ):
        raise DependencyNotReady(f"{shown} is not ready")
    own_source = _source_key(kustomization.to_manifest(), kustomization.metadata.namespace or "")
    if (
        _source_key(obj, key[0]) == own_source
        and status.get("lastAppliedRevision") != artifact.revision
    ):
        raise DependencyNotReady(f"{shown} has not applied revision {artifact.revision} yet")


async def _check_object(
    kube: KubeClient,
    dependency: DependencyReference,
    namespace: str,
    overrides: Mapping[GroupKind, HealthCheck],
    own: KubeObject,
) -> None:
    if not dependency.api_version or not dependency.kind:
        raise DependencyNotReady(
            f"dependency '{dependency.name}' names a kind without an apiVersion; set both"
        )
    ref = ObjectRef(dependency.api_version, dependency.kind, dependency.name, namespace)
    try:
        ref = await resolve(kube, ref)
        live = await kube.get(ref)
    except NotFound as error:
        raise DependencyNotReady(f"dependency {ref} does not exist") from error
    except KubeError as error:
        raise DependencyNotReady(f"dependency {ref} cannot be read: {error.message}") from error
    if dependency.ready_expr:
        check_ready_expr(dependency.ready_expr, own, live, f"dependency {ref}")
        return
    health = evaluate(live, overrides)
    if health.state != HealthState.CURRENT:
        raise DependencyNotReady(f"dependency {health.message}")


def _source_key(obj: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    return (str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))


__all__ = [
    "DependencyNotReady",
    "InvalidReadyExpr",
    "check_dependencies",
    "is_kustomization",
    "kustomization_dependencies",
]
