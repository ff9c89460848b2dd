"""The order objects are applied in: three stages, then kinds in dependency order.

Stage 1 holds what other objects need to exist before they can even be validated
(CustomResourceDefinitions, Namespaces, ClusterRoles); stage 2 the ``*Class``
kinds (StorageClass, IngressClass, PriorityClass ...) that workloads refer to by
name; stage 3 everything else. ClusterRoleBindings stay in stage 3, like in
Flux: they refer to ServiceAccounts, which live in namespaces. Within a stage,
kinds follow a dependency table (a namespace before its quotas, a ServiceAccount
before the workloads that run as it, webhooks last so they cannot block the
objects they would admit); kinds not in the table (custom resources) come after,
by kind name; objects of one kind are ordered by namespace, then name.

Called by :mod:`lockstep.apply.apply` (stages) and :mod:`lockstep.apply.inventory`
(reverse order for pruning).
"""

from __future__ import annotations

from collections.abc import Iterable

from lockstep.kube import KubeObject, ObjectRef

CLUSTER_DEFINITION_KINDS = frozenset({"CustomResourceDefinition", "Namespace", "ClusterRole"})

KIND_ORDER: tuple[str, ...] = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)

_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


def apply_stage(kind: str) -> int:
    """1 for cluster definitions, 2 for ``*Class`` kinds, 3 for the rest."""
    if kind in CLUSTER_DEFINITION_KINDS:
        return 1
    if kind.endswith("Class"):
        return 2
    return 3


def apply_order_key(ref: ObjectRef) -> tuple[int, int, str, str, str]:
    """Sort key: stage, kind rank (unknown kinds last, by name), namespace, name."""
    return (
        apply_stage(ref.kind),
        _RANK.get(ref.kind, len(KIND_ORDER)),
        ref.kind,
        ref.namespace,
        ref.name,
    )


def sort_for_apply(objects: Iterable[KubeObject]) -> list[KubeObject]:
    return sorted(objects, key=lambda obj: apply_order_key(ObjectRef.of(obj)))


def split_into_stages(objects: Iterable[KubeObject]) -> list[list[KubeObject]]:
    """The objects in apply order, cut into their stages; empty stages are left out."""
    stages: dict[int, list[KubeObject]] = {}
    for obj in sort_for_apply(objects):
        stages.setdefault(apply_stage(str(obj.get("kind", ""))), []).append(obj)
    return [stages[stage] for stage in sorted(stages)]
