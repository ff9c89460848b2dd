"""Deployments, StatefulSets, DaemonSets and ReplicaSets: rollouts counted replica by replica."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.health import HealthState, evaluate

from .objects import condition, kube_object


def deployment(
    replicas: int = 3, *, generation: int = 2, observed: int = 2, **status: Any
) -> dict[str, Any]:
    full_status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable"),
            condition("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    }
    full_status.update(status)
    return kube_object(
        "apps/v1",
        "Deployment",
        "web",
        generation=generation,
        spec={"replicas": replicas},
        status=full_status,
    )


def test_rolled_out_deployment_is_current() -> None:
    health = evaluate(deployment())
    assert health.state is HealthState.CURRENT
    assert health.message == "Deployment/apps/web: 3 replicas up to date and available"


def test_deployment_whose_status_is_for_an_older_spec_is_in_progress() -> None:
    health = evaluate(deployment(generation=3, observed=2))
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Deployment/apps/web: status is for generation 2, spec is at 3"


def test_deployment_with_replicas_missing_says_how_many() -> None:
    health = evaluate(deployment(availableReplicas=1))
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Deployment/apps/web: 1 of 3 replicas available"


def test_deployment_mid_rollout_is_in_progress() -> None:
    health = evaluate(deployment(replicas=3, updatedReplicas=1, readyReplicas=3))
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Deployment/apps/web: 1 of 3 replicas updated"


def test_deployment_with_old_replicas_still_terminating_is_in_progress() -> None:
    obj = deployment(replicas=3)
    obj["status"]["replicas"] = 4
    health = evaluate(obj)
    assert health.state is HealthState.IN_PROGRESS
    assert "1 old replicas pending termination" in health.message


def test_deployment_past_its_progress_deadline_has_failed() -> None:
    stuck = condition(
        "Progressing",
        "False",
        "ProgressDeadlineExceeded",
        'ReplicaSet "web-7d4b" has timed out progressing.',
    )
    health = evaluate(deployment(availableReplicas=0, conditions=[stuck]))
    assert health.state is HealthState.FAILED
    assert "ProgressDeadlineExceeded" in health.message


def test_deployment_without_status_yet_is_in_progress() -> None:
    obj = kube_object("apps/v1", "Deployment", "web", spec={"replicas": 2})
    health = evaluate(obj)
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Deployment/apps/web: 0 of 2 replicas created"


def test_deployment_scaled_to_zero_is_current_once_its_controller_says_so() -> None:
    assert evaluate(deployment(0)).state is HealthState.CURRENT


def test_deployment_not_seen_by_its_controller_is_in_progress_even_scaled_to_zero() -> None:
    # As the API server stores a new one: defaults set, no status yet.
    obj = kube_object(
        "apps/v1",
        "Deployment",
        "web",
        spec={"replicas": 0, "progressDeadlineSeconds": 600},
        status={},
    )
    health = evaluate(obj)
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Deployment/apps/web: not seen by the deployment controller yet"


def test_deployment_rollout_not_complete_until_the_new_replica_set_is_available() -> None:
    obj = deployment(
        conditions=[
            condition("Available", "True", "MinimumReplicasAvailable"),
            condition("Progressing", "True", "ReplicaSetUpdated"),
        ]
    )
    obj["spec"]["progressDeadlineSeconds"] = 600
    health = evaluate(obj)
    assert health.state is HealthState.IN_PROGRESS
    assert "rollout not complete: ReplicaSetUpdated" in health.message


def test_deployment_without_progress_deadline_needs_only_to_be_available() -> None:
    obj = deployment(conditions=[condition("Available", "True", "MinimumReplicasAvailable")])
    assert evaluate(obj).state is HealthState.CURRENT
    obj["status"]["conditions"] = []
    assert evaluate(obj).message == "Deployment/apps/web: not seen by the deployment controller yet"


def statefulset(**status: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}
    full_status: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": "db-5c9f",
        "updateRevision": "db-5c9f",
    }
    full_status.update(status)
    return kube_object("apps/v1", "StatefulSet", "db", spec=spec, status=full_status)


def test_statefulset_at_its_update_revision_is_current() -> None:
    health = evaluate(statefulset())
    assert health.state is HealthState.CURRENT
    assert health.message == "StatefulSet/apps/db: 3 replicas ready at revision db-5c9f"


def test_statefulset_with_pods_not_ready_is_in_progress() -> None:
    health = evaluate(statefulset(readyReplicas=2))
    assert health.message == "StatefulSet/apps/db: 2 of 3 replicas ready"


def test_statefulset_rolling_to_a_new_revision_is_in_progress() -> None:
    health = evaluate(statefulset(updatedReplicas=3, updateRevision="db-77aa"))
    assert health.state is HealthState.IN_PROGRESS
    assert "waiting for revision db-77aa" in health.message


@pytest.mark.parametrize(
    ("updated", "state"),
    [(0, HealthState.IN_PROGRESS), (1, HealthState.CURRENT)],
)
def test_partitioned_statefulset_waits_only_for_ordinals_above_the_partition(
    updated: int, state: HealthState
) -> None:
    obj = statefulset(updatedReplicas=updated, updateRevision="db-77aa")
    obj["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    assert evaluate(obj).state is state


def test_statefulset_updated_on_delete_is_current() -> None:
    obj = statefulset(updatedReplicas=0, updateRevision="db-77aa")
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert evaluate(obj).state is HealthState.CURRENT


def daemonset(**status: int) -> dict[str, Any]:
    full_status = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 4,
        "currentNumberScheduled": 4,
        "updatedNumberScheduled": 4,
        "numberReady": 4,
        "numberAvailable": 4,
    }
    full_status.update(status)
    return kube_object("apps/v1", "DaemonSet", "agent", spec={}, status=full_status)


def test_daemonset_on_every_node_is_current() -> None:
    assert evaluate(daemonset()).state is HealthState.CURRENT


def test_daemonset_rolling_out_is_in_progress() -> None:
    health = evaluate(daemonset(updatedNumberScheduled=1))
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "DaemonSet/apps/agent: 1 of 4 pods updated"


def test_daemonset_not_yet_counted_by_its_controller_is_in_progress() -> None:
    obj = kube_object("apps/v1", "DaemonSet", "agent", spec={}, status={})
    assert evaluate(obj).state is HealthState.IN_PROGRESS


def replicaset(**status: Any) -> dict[str, Any]:
    full_status: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    full_status.update(status)
    return kube_object(
        "apps/v1", "ReplicaSet", "web-7d4b", spec={"replicas": 2}, status=full_status
    )


def test_replicaset_with_all_replicas_available_is_current() -> None:
    assert evaluate(replicaset()).state is HealthState.CURRENT


def test_replicaset_refused_pods_is_in_progress_with_the_reason() -> None:
    refused = condition("ReplicaFailure", "True", "FailedCreate", 'pods "web" is forbidden')
    health = evaluate(replicaset(readyReplicas=0, conditions=[refused]))
    assert health.state is HealthState.IN_PROGRESS
    assert "FailedCreate" in health.message
