"""Health of the apps/v1 workload controllers: Deployment, StatefulSet, DaemonSet, ReplicaSet.

A workload is current when its controller has rolled every replica to the latest
template and they are all ready and available; until then it is in progress,
with a message counting what is missing. A Deployment is current only once its
controller says so too, as kstatus reads it: ``Available=True``, and (when it has
a progress deadline, which the API server sets by default) ``Progressing=True``
with reason ``NewReplicaSetAvailable``; a Deployment its controller has not seen
yet has neither, even scaled to zero. The one failure is a Deployment whose
``Progressing`` condition reports ``ProgressDeadlineExceeded``: Kubernetes has
given up on the rollout, so waiting longer cannot help.

Registered in :mod:`lockstep.health.dispatch`; the generation check there runs first.
"""

from __future__ import annotations

from lockstep.health.conditions import (
    explain,
    find_condition,
    int_field,
    spec_replicas,
    status_of,
)
from lockstep.health.result import Health, KubeObject, current, failed, in_progress

NO_PROGRESS_DEADLINE = 2**31 - 1
"""``spec.progressDeadlineSeconds`` meaning "none": the controller then never sets
``Progressing`` (and an omitted field reads as this too)."""


def _replica_shortfall(counts: list[tuple[str, int]], desired: int) -> Health | None:
    """In progress on the first count (in rollout order) that falls short of ``desired``."""
    for label, count in counts:
        if count < desired:
            return in_progress(f"{count} of {desired} replicas {label}")
    return None


def deployment_health(obj: KubeObject) -> Health:
    status = status_of(obj)
    progressing = find_condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return failed(f"rollout failed: {explain(progressing)}")
    desired = spec_replicas(obj)
    shortfall = _replica_shortfall(
        [
            ("created", int_field(status, "replicas")),
            ("updated", int_field(status, "updatedReplicas")),
            ("ready", int_field(status, "readyReplicas")),
            ("available", int_field(status, "availableReplicas")),
        ],
        desired,
    )
    if shortfall:
        return shortfall
    if (surplus := int_field(status, "replicas") - desired) > 0:
        return in_progress(f"{surplus} old replicas pending termination")
    deadline = int_field(obj.get("spec") or {}, "progressDeadlineSeconds", NO_PROGRESS_DEADLINE)
    if deadline != NO_PROGRESS_DEADLINE and not (
        progressing
        and progressing.get("status") == "True"
        and progressing.get("reason") == "NewReplicaSetAvailable"
    ):
        return in_progress(
            f"rollout not complete: {explain(progressing)}"
            if progressing
            else "not seen by the deployment controller yet"
        )
    available = find_condition(obj, "Available")
    if not available or available.get("status") != "True":
        return in_progress(
            f"not available: {explain(available)}"
            if available
            else "not seen by the deployment controller yet"
        )
    return current(f"{desired} replicas up to date and available")


def statefulset_health(obj: KubeObject) -> Health:
    spec = obj.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        # Pods are replaced only when someone deletes them: there is no rollout to wait for.
        return current("update strategy OnDelete: rollout is manual")
    status = status_of(obj)
    desired = spec_replicas(obj)
    if shortfall := _replica_shortfall([("ready", int_field(status, "readyReplicas"))], desired):
        return shortfall
    partition = int_field(strategy.get("rollingUpdate") or {}, "partition")
    if partition > 0:
        # Only ordinals at or above the partition move to the new revision.
        to_update = max(desired - partition, 0)
        updated = int_field(status, "updatedReplicas")
        if updated < to_update:
            return in_progress(f"{updated} of {to_update} replicas above partition updated")
        return current(f"partitioned rollout complete: {to_update} of {desired} replicas updated")
    if shortfall := _replica_shortfall(
        [("updated", int_field(status, "updatedReplicas"))], desired
    ):
        return shortfall
    if status.get("currentRevision") != status.get("updateRevision"):
        return in_progress(f"waiting for revision {status.get('updateRevision')} to become current")
    if (surplus := int_field(status, "replicas") - desired) > 0:
        return in_progress(f"{surplus} old replicas pending termination")
    return current(f"{desired} replicas ready at revision {status.get('currentRevision')}")


def daemonset_health(obj: KubeObject) -> Health:
    status = status_of(obj)
    if "desiredNumberScheduled" not in status:
        return in_progress("controller has not counted the nodes yet")
    desired = int_field(status, "desiredNumberScheduled")
    for label, field in (
        ("scheduled", "currentNumberScheduled"),
        ("updated", "updatedNumberScheduled"),
        ("ready", "numberReady"),
        ("available", "numberAvailable"),
    ):
        if (count := int_field(status, field)) < desired:
            return in_progress(f"{count} of {desired} pods {label}")
    return current(f"{desired} pods updated and available")


def replicaset_health(obj: KubeObject) -> Health:
    status = status_of(obj)
    replica_failure = find_condition(obj, "ReplicaFailure")
    if replica_failure and replica_failure.get("status") == "True":
        # Usually a quota or admission refusal that can clear up, so kstatus keeps waiting.
        return in_progress(f"cannot create pods: {explain(replica_failure)}")
    desired = spec_replicas(obj)
    shortfall = _replica_shortfall(
        [
            ("labeled", int_field(status, "fullyLabeledReplicas")),
            ("ready", int_field(status, "readyReplicas")),
            ("available", int_field(status, "availableReplicas")),
        ],
        desired,
    )
    if shortfall:
        return shortfall
    if (surplus := int_field(status, "replicas") - desired) > 0:
        return in_progress(f"{surplus} replicas pending termination")
    return current(f"{desired} replicas ready and available")
