"""The entry point: which rules read an object's health, and the override hook.

:data:`HEALTH_CHECKS` maps (group, kind) to the kind modules' rules; kinds not in
it are read by their ``Ready`` condition (:mod:`lockstep.health.generic`).
Before a kind's rules, the rules every kind shares run (generation, ``Stalled``,
``Reconciling``; see :func:`~lockstep.health.conditions.common_health`).

``overrides`` replace all of that for the kinds they name; the Kustomization
reconciler passes its compiled ``healthCheckExprs`` there
(:func:`lockstep.health.cel.compile_health_check_exprs`).

Called by the Kustomization reconciler's wait step, once per applied object per poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from lockstep.health.apiextensions import crd_health
from lockstep.health.conditions import common_health
from lockstep.health.generic import ready_condition_health
from lockstep.health.namespaces import namespace_health
from lockstep.health.networking import ingress_health, service_health
from lockstep.health.pods import job_health, pod_health
from lockstep.health.result import GroupKind, Health, HealthCheck, KubeObject, group_kind, object_id
from lockstep.health.storage import pvc_health
from lockstep.health.workloads import (
    daemonset_health,
    deployment_health,
    replicaset_health,
    statefulset_health,
)

HEALTH_CHECKS: Mapping[GroupKind, HealthCheck] = MappingProxyType(
    {
        ("apps", "Deployment"): deployment_health,
        ("apps", "StatefulSet"): statefulset_health,
        ("apps", "DaemonSet"): daemonset_health,
        ("apps", "ReplicaSet"): replicaset_health,
        ("", "Pod"): pod_health,
        ("batch", "Job"): job_health,
        ("", "PersistentVolumeClaim"): pvc_health,
        ("", "Service"): service_health,
        ("networking.k8s.io", "Ingress"): ingress_health,
        ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_health,
        ("", "Namespace"): namespace_health,
    }
)


def evaluate(obj: KubeObject, overrides: Mapping[GroupKind, HealthCheck] | None = None) -> Health:
    """The health of ``obj``, its message prefixed with ``Kind/namespace/name``."""
    key = group_kind(obj)
    override = overrides.get(key) if overrides else None
    if override is not None:
        health = override(obj)
    else:
        health = common_health(obj) or HEALTH_CHECKS.get(key, ready_condition_health)(obj)
    return Health(health.state, f"{object_id(obj)}: {health.message}")
