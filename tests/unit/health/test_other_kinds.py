"""PersistentVolumeClaims, Services, Ingresses, CRDs and Namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.health import HealthState, evaluate

from .objects import condition, kube_object


@pytest.mark.parametrize(
    ("phase", "state"),
    [
        ("Bound", HealthState.CURRENT),
        ("Pending", HealthState.IN_PROGRESS),
        ("Lost", HealthState.FAILED),
    ],
)
def test_pvc_follows_its_phase(phase: str, state: HealthState) -> None:
    obj = kube_object("v1", "PersistentVolumeClaim", "data", spec={}, status={"phase": phase})
    assert evaluate(obj).state is state


def test_pending_pvc_says_so() -> None:
    obj = kube_object("v1", "PersistentVolumeClaim", "data", spec={}, status={"phase": "Pending"})
    assert evaluate(obj).message == (
        "PersistentVolumeClaim/apps/data: Pending, not bound to a volume yet"
    )


def service(service_type: str, ingress: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return kube_object(
        "v1",
        "Service",
        "web",
        spec={"type": service_type, "ports": [{"port": 80}]},
        status={"loadBalancer": {"ingress": ingress} if ingress else {}},
    )


def test_cluster_ip_service_is_current_at_once() -> None:
    assert evaluate(service("ClusterIP")).state is HealthState.CURRENT


def test_load_balancer_without_an_address_is_in_progress() -> None:
    assert evaluate(service("LoadBalancer")).state is HealthState.IN_PROGRESS


def test_load_balancer_with_an_address_is_current() -> None:
    health = evaluate(service("LoadBalancer", [{"ip": "203.0.113.7"}]))
    assert health.state is HealthState.CURRENT
    assert health.message == "Service/apps/web: load balancer at 203.0.113.7"


@pytest.mark.parametrize("ingress", [[], [{"hostname": "lb.example.com"}]])
def test_ingress_is_current_with_or_without_an_address(ingress: list[dict[str, str]]) -> None:
    obj = kube_object(
        "networking.k8s.io/v1",
        "Ingress",
        "web",
        spec={"rules": []},
        status={"loadBalancer": {"ingress": ingress}},
    )
    assert evaluate(obj).state is HealthState.CURRENT


def crd(*conditions: dict[str, str]) -> dict[str, Any]:
    return kube_object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "widgets.example.com",
        namespace=None,
        spec={"group": "example.com"},
        status={"conditions": list(conditions)},
    )


def test_established_crd_is_current() -> None:
    health = evaluate(
        crd(
            condition("NamesAccepted", "True"),
            condition("Established", "True", "InitialNamesAccepted"),
        )
    )
    assert health.state is HealthState.CURRENT
    assert health.message.startswith("CustomResourceDefinition/widgets.example.com: ")


def test_crd_not_yet_established_is_in_progress() -> None:
    health = evaluate(
        crd(condition("NamesAccepted", "True"), condition("Established", "False", "Installing"))
    )
    assert health.state is HealthState.IN_PROGRESS
    assert "not established: Installing" in health.message


def test_crd_whose_names_clash_has_failed() -> None:
    clash = condition("NamesAccepted", "False", "NameConflict", '"widgets" is already in use')
    assert evaluate(crd(clash, condition("Established", "False"))).state is HealthState.FAILED


@pytest.mark.parametrize(
    ("phase", "state"),
    [("Active", HealthState.CURRENT), ("Terminating", HealthState.IN_PROGRESS)],
)
def test_namespace_follows_its_phase(phase: str, state: HealthState) -> None:
    obj = kube_object("v1", "Namespace", "apps", namespace=None, spec={}, status={"phase": phase})
    assert evaluate(obj).state is state


def test_object_being_deleted_is_in_progress() -> None:
    obj = service("ClusterIP")
    obj["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    assert evaluate(obj).message == "Service/apps/web: being deleted"
