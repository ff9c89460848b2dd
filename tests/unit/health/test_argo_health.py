"""Argo CD's health: its ordering, its built-in rules per kind, kinds without health, the app's health."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lockstep.health import ArgoHealth, ArgoHealthStatus, aggregate_argo_health, argo_health

from .objects import condition, kube_object

HEALTHY = ArgoHealthStatus.HEALTHY
SUSPENDED = ArgoHealthStatus.SUSPENDED
PROGRESSING = ArgoHealthStatus.PROGRESSING
MISSING = ArgoHealthStatus.MISSING
DEGRADED = ArgoHealthStatus.DEGRADED
UNKNOWN = ArgoHealthStatus.UNKNOWN


def status_of(obj: dict[str, Any] | None) -> ArgoHealthStatus | None:
    health = argo_health(obj)
    return health.status if health else None


# The vocabulary


def test_statuses_are_ordered_as_argo_cd_ranks_them() -> None:
    assert sorted(ArgoHealthStatus) == [HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN]
    assert max(PROGRESSING, MISSING) is MISSING
    assert max(DEGRADED, UNKNOWN) is UNKNOWN


def test_statuses_are_spelled_as_argo_cd_spells_them() -> None:
    assert [status.code for status in ArgoHealthStatus] == [
        "Healthy",
        "Suspended",
        "Progressing",
        "Missing",
        "Degraded",
        "Unknown",
    ]
    assert ArgoHealthStatus.from_code("Degraded") is DEGRADED
    assert ArgoHealthStatus.from_code("degraded") is None
    assert ArgoHealthStatus.from_code("Failed") is None


# Rules every kind shares


def test_absent_object_is_missing() -> None:
    assert status_of(None) is MISSING


def test_object_being_deleted_is_progressing_whatever_its_kind() -> None:
    obj = kube_object("v1", "ConfigMap", "settings")
    obj["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    assert argo_health(obj) == ArgoHealth(PROGRESSING, "pending deletion")


def test_hook_held_by_its_finalizer_keeps_its_own_health_while_deleted() -> None:
    obj = kube_object("v1", "PersistentVolumeClaim", "data", status={"phase": "Lost"})
    obj["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    obj["metadata"]["finalizers"] = ["argocd.argoproj.io/hook-finalizer"]
    assert status_of(obj) is DEGRADED


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("example.com/v1", "Widget"),
    ],
)
def test_kinds_without_a_check_have_no_health(api_version: str, kind: str) -> None:
    assert argo_health(kube_object(api_version, kind, "x")) is None


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([condition("Ready", "True")], HEALTHY),
        ([condition("Ready", "False", "Reconciling")], PROGRESSING),
        ([condition("Stalled", "True", "InvalidSpec")], DEGRADED),
        ([condition("Reconciling", "True")], PROGRESSING),
    ],
)
def test_custom_resource_reporting_readiness_is_read_by_its_conditions(
    conditions: list[dict[str, str]], expected: ArgoHealthStatus
) -> None:
    obj = kube_object(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "apps",
        status={"observedGeneration": 1, "conditions": conditions},
    )
    assert status_of(obj) is expected


# Deployments and the other workload controllers


def deployment(**status: Any) -> dict[str, Any]:
    full_status: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable"),
            condition("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    }
    full_status.update(status)
    return kube_object("apps/v1", "Deployment", "web", spec={"replicas": 2}, status=full_status)


def test_rolled_out_deployment_is_healthy() -> None:
    assert status_of(deployment()) is HEALTHY


def test_deployment_mid_rollout_is_progressing() -> None:
    health = argo_health(deployment(updatedReplicas=1))
    assert health == ArgoHealth(PROGRESSING, "1 of 2 replicas updated")


def test_paused_deployment_is_suspended() -> None:
    obj = deployment(updatedReplicas=0)
    obj["spec"]["paused"] = True
    assert argo_health(obj) == ArgoHealth(SUSPENDED, "deployment is paused")


def test_deployment_past_its_progress_deadline_is_degraded() -> None:
    stuck = condition("Progressing", "False", "ProgressDeadlineExceeded", "timed out")
    health = argo_health(deployment(availableReplicas=0, conditions=[stuck]))
    assert health is not None
    assert health.status is DEGRADED
    assert "ProgressDeadlineExceeded: timed out" in health.message


def test_deployment_whose_new_spec_is_unseen_is_progressing_despite_an_old_deadline() -> None:
    stuck = condition("Progressing", "False", "ProgressDeadlineExceeded")
    obj = deployment(conditions=[stuck])
    obj["metadata"]["generation"] = 2
    assert status_of(obj) is PROGRESSING


def test_replicaset_that_cannot_create_pods_is_degraded() -> None:
    obj = kube_object(
        "apps/v1",
        "ReplicaSet",
        "web-1",
        spec={"replicas": 2},
        status={
            "observedGeneration": 1,
            "replicas": 0,
            "conditions": [condition("ReplicaFailure", "True", "FailedCreate", "quota exceeded")],
        },
    )
    assert argo_health(obj) == ArgoHealth(
        DEGRADED, "cannot create pods: FailedCreate: quota exceeded"
    )


def test_ondelete_daemonset_is_healthy_without_a_rollout() -> None:
    obj = kube_object(
        "apps/v1",
        "DaemonSet",
        "agent",
        spec={"updateStrategy": {"type": "OnDelete"}},
        status={"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1},
    )
    assert status_of(obj) is HEALTHY


def test_statefulset_short_of_ready_replicas_is_progressing() -> None:
    obj = kube_object(
        "apps/v1",
        "StatefulSet",
        "db",
        spec={"replicas": 3},
        status={"observedGeneration": 1, "readyReplicas": 1},
    )
    assert argo_health(obj) == ArgoHealth(PROGRESSING, "1 of 3 replicas ready")


# Pods, by Argo CD's own rules


def pod(
    phase: str,
    *,
    restart_policy: str = "Always",
    ready: bool = False,
    container: dict[str, Any] | None = None,
    message: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [condition("Ready", "True" if ready else "False")],
        "containerStatuses": [container or {"name": "app", "state": {"running": {}}}],
    }
    if message:
        status["message"] = message
    return kube_object("v1", "Pod", "web-0", spec={"restartPolicy": restart_policy}, status=status)


def waiting(reason: str) -> dict[str, Any]:
    return {"name": "app", "state": {"waiting": {"reason": reason, "message": "retrying"}}}


def test_running_ready_pod_is_healthy() -> None:
    assert status_of(pod("Running", ready=True)) is HEALTHY


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]
)
def test_restarting_pod_stuck_on_a_container_error_is_degraded(reason: str) -> None:
    health = argo_health(pod("Pending", container=waiting(reason)))
    assert health == ArgoHealth(DEGRADED, f"container app: {reason}: retrying")


def test_run_once_pod_waiting_on_its_image_stays_progressing() -> None:
    # A hook pod must not fail its sync while its image is still being pushed.
    obj = pod("Pending", restart_policy="Never", container=waiting("ImagePullBackOff"))
    assert status_of(obj) is PROGRESSING


def test_run_once_pod_still_running_is_progressing() -> None:
    assert status_of(pod("Running", restart_policy="OnFailure", ready=True)) is PROGRESSING


def test_running_pod_not_ready_after_a_restart_is_degraded() -> None:
    container = {
        "name": "app",
        "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
    }
    assert status_of(pod("Running", container=container)) is DEGRADED


def test_running_pod_not_ready_yet_is_progressing() -> None:
    assert status_of(pod("Running")) is PROGRESSING


def test_completed_pod_is_healthy() -> None:
    assert status_of(pod("Succeeded", restart_policy="Never")) is HEALTHY


def test_failed_pod_says_why_from_its_status_or_its_containers() -> None:
    evicted = pod("Failed", restart_policy="Never", message="The node was low on memory.")
    assert argo_health(evicted) == ArgoHealth(DEGRADED, "The node was low on memory.")
    exited = pod(
        "Failed",
        restart_policy="Never",
        container={"name": "job", "state": {"terminated": {"exitCode": 3}}},
    )
    assert argo_health(exited) == ArgoHealth(DEGRADED, "container job exited with code 3")
    killed = pod(
        "Failed",
        restart_policy="Never",
        container={
            "name": "job",
            "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        },
    )
    assert argo_health(killed) == ArgoHealth(DEGRADED, "container job: OOMKilled")


def test_pod_in_an_unknown_phase_is_unknown() -> None:
    assert status_of(pod("Unknown")) is UNKNOWN


# Jobs and CronJobs


def job(*conditions: dict[str, str]) -> dict[str, Any]:
    return kube_object(
        "batch/v1", "Job", "migrate", spec={}, status={"conditions": list(conditions)}
    )


def test_job_states() -> None:
    assert status_of(job()) is PROGRESSING
    assert status_of(job(condition("Complete", "True"))) is HEALTHY
    assert status_of(job(condition("Suspended", "True", "JobSuspended"))) is SUSPENDED
    failed = argo_health(
        job(condition("Failed", "True", "BackoffLimitExceeded", "Job has reached the limit"))
    )
    assert failed == ArgoHealth(DEGRADED, "failed: BackoffLimitExceeded: Job has reached the limit")


def cronjob(*, suspend: bool = False, **status: Any) -> dict[str, Any]:
    return kube_object(
        "batch/v1",
        "CronJob",
        "report",
        spec={"schedule": "0 * * * *", "suspend": suspend},
        status=status,
    )


def test_suspended_cronjob_is_suspended() -> None:
    assert status_of(cronjob(suspend=True)) is SUSPENDED


def test_cronjob_without_status_is_progressing() -> None:
    obj = cronjob()
    del obj["status"]
    assert status_of(obj) is PROGRESSING


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, HEALTHY),
        ({"lastScheduleTime": "2026-11-23T10:00:00Z"}, HEALTHY),
        (
            {
                "lastScheduleTime": "2026-11-23T11:00:00Z",
                "lastSuccessfulTime": "2026-11-23T10:00:05Z",
            },
            DEGRADED,
        ),
        (
            {
                "lastScheduleTime": "2026-11-23T11:00:00Z",
                "lastSuccessfulTime": "2026-11-23T10:00:05Z",
                "active": [{"name": "report-29"}],
            },
            HEALTHY,
        ),
        (
            {
                "lastScheduleTime": "2026-11-23T11:00:00Z",
                "lastSuccessfulTime": "2026-11-23T11:00:07Z",
            },
            HEALTHY,
        ),
    ],
)
def test_cronjob_is_degraded_only_when_its_last_run_did_not_succeed(
    status: dict[str, Any], expected: ArgoHealthStatus
) -> None:
    assert status_of(cronjob(**status)) is expected


# Storage and networking


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("Bound", HEALTHY), ("Pending", PROGRESSING), ("Lost", DEGRADED), ("Gone", UNKNOWN)],
)
def test_pvc_follows_its_phase(phase: str, expected: ArgoHealthStatus) -> None:
    obj = kube_object("v1", "PersistentVolumeClaim", "data", status={"phase": phase})
    assert status_of(obj) is expected


def service(service_type: str, ingress: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return kube_object(
        "v1",
        "Service",
        "web",
        spec={"type": service_type},
        status={"loadBalancer": {"ingress": ingress} if ingress else {}},
    )


def test_service_waits_only_for_a_load_balancer_address() -> None:
    assert status_of(service("ClusterIP")) is HEALTHY
    assert status_of(service("LoadBalancer")) is PROGRESSING
    assert status_of(service("LoadBalancer", [{"ip": "203.0.113.7"}])) is HEALTHY


@pytest.mark.parametrize("api_version", ["networking.k8s.io/v1", "extensions/v1beta1"])
def test_ingress_is_progressing_until_it_has_an_address(api_version: str) -> None:
    bare = kube_object(api_version, "Ingress", "web", status={"loadBalancer": {}})
    assert status_of(bare) is PROGRESSING
    served = kube_object(
        api_version, "Ingress", "web", status={"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
    )
    assert status_of(served) is HEALTHY


# APIServices, HPAs, CRDs


def test_apiservice_follows_its_available_condition() -> None:
    def apiservice(*conditions: dict[str, str]) -> dict[str, Any]:
        return kube_object(
            "apiregistration.k8s.io/v1",
            "APIService",
            "v1beta1.metrics.k8s.io",
            namespace=None,
            status={"conditions": list(conditions)},
        )

    assert argo_health(apiservice(condition("Available", "True", "Passed", "all checks"))) == (
        ArgoHealth(HEALTHY, "available: Passed: all checks")
    )
    assert status_of(apiservice(condition("Available", "False", "MissingEndpoints"))) is (
        PROGRESSING
    )
    assert status_of(apiservice()) is PROGRESSING


def hpa(*conditions: dict[str, str]) -> dict[str, Any]:
    return kube_object(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "web",
        spec={},
        status={"conditions": list(conditions)},
    )


def test_hpa_states() -> None:
    assert status_of(hpa()) is PROGRESSING
    assert status_of(hpa(condition("AbleToScale", "True", "ReadyForNewScale"))) is HEALTHY
    assert status_of(hpa(condition("ScalingLimited", "True", "TooFewReplicas"))) is HEALTHY
    healthy_first = argo_health(
        hpa(
            condition("AbleToScale", "True", "SucceededGetScale"),
            condition("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
        )
    )
    # The first condition that decides wins, as the controller ordered them.
    assert healthy_first == ArgoHealth(HEALTHY, "SucceededGetScale")
    first_failing = argo_health(
        hpa(
            condition("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
            condition("AbleToScale", "True", "SucceededGetScale"),
        )
    )
    assert first_failing == ArgoHealth(DEGRADED, "FailedGetResourceMetric: no metrics")


def test_autoscaling_v1_hpa_is_read_from_its_conditions_annotation() -> None:
    obj = kube_object("autoscaling/v1", "HorizontalPodAutoscaler", "web", spec={}, status={})
    assert status_of(obj) is PROGRESSING
    obj["metadata"]["annotations"] = {
        "autoscaling.alpha.kubernetes.io/conditions": json.dumps(
            [condition("AbleToScale", "False", "FailedGetScale", "no scale subresource")]
        )
    }
    assert argo_health(obj) == ArgoHealth(DEGRADED, "FailedGetScale: no scale subresource")
    obj["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"] = "{not json"
    assert status_of(obj) is UNKNOWN


def crd(*conditions: dict[str, str]) -> dict[str, Any]:
    return kube_object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "widgets.example.com",
        namespace=None,
        status={"conditions": list(conditions)},
    )


def test_crd_states() -> None:
    assert status_of(crd()) is PROGRESSING
    assert status_of(crd(condition("Established", "True"))) is HEALTHY
    assert status_of(crd(condition("Established", "False"))) is DEGRADED
    assert status_of(crd(condition("NamesAccepted", "False", "NameConflict"))) is DEGRADED
    assert status_of(crd(condition("Terminating", "True"))) is PROGRESSING
    assert (
        status_of(crd(condition("Established", "True"), condition("NonStructuralSchema", "True")))
        is DEGRADED
    )


# Overrides


def test_override_decides_first_and_none_falls_back_to_the_built_in_rule() -> None:
    def only_deployments(obj: Any) -> ArgoHealth | None:
        return ArgoHealth(DEGRADED, "custom") if obj["kind"] == "Deployment" else None

    assert argo_health(deployment(), only_deployments) == ArgoHealth(DEGRADED, "custom")
    assert argo_health(service("ClusterIP"), only_deployments) == ArgoHealth(HEALTHY)
    assert argo_health(kube_object("v1", "Secret", "s"), only_deployments) is None


def test_override_can_give_health_to_a_kind_without_one() -> None:
    def everything(obj: Any) -> ArgoHealth:
        return ArgoHealth(SUSPENDED, "custom")

    assert status_of(None) is MISSING
    assert argo_health(kube_object("v1", "ConfigMap", "c"), everything) == ArgoHealth(
        SUSPENDED, "custom"
    )


# The app's health


def test_aggregate_of_nothing_is_healthy() -> None:
    assert aggregate_argo_health([]).status is HEALTHY
    assert aggregate_argo_health([None, None]).status is HEALTHY


def test_aggregate_takes_the_worst_and_ignores_resources_without_health() -> None:
    healths = [
        ArgoHealth(HEALTHY),
        None,
        ArgoHealth(SUSPENDED, "paused"),
        ArgoHealth(PROGRESSING, "rolling out"),
        ArgoHealth(PROGRESSING, "waiting"),
    ]
    assert aggregate_argo_health(healths) == ArgoHealth(
        PROGRESSING, "3 of 4 resources not healthy: 2 Progressing, 1 Suspended"
    )
    assert aggregate_argo_health([*healths, ArgoHealth(MISSING)]).status is MISSING
    assert aggregate_argo_health([*healths, ArgoHealth(UNKNOWN), ArgoHealth(DEGRADED)]).status is (
        UNKNOWN
    )


def test_aggregate_of_healthy_resources_counts_them() -> None:
    assert aggregate_argo_health([ArgoHealth(HEALTHY), None, ArgoHealth(HEALTHY)]) == ArgoHealth(
        HEALTHY, "2 of 2 resources healthy"
    )
