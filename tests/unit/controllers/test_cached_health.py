"""Health from watched copies: an answer only when every object is there and healthy."""

from __future__ import annotations

from lockstep.controllers.kustomization_health import cached_health
from lockstep.kube import KubeObject, ObjectRef

WEB = ObjectRef("apps/v1", "Deployment", "web", "default")
SETTINGS = ObjectRef("v1", "ConfigMap", "settings", "default")


def _deployment(available: int) -> KubeObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


SETTINGS_OBJECT: KubeObject = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "default"},
}


def test_all_cached_and_healthy_is_the_answer() -> None:
    cached = {WEB: _deployment(available=2), SETTINGS: SETTINGS_OBJECT}
    health = cached_health(cached.get, [WEB, SETTINGS], {})
    assert health is not None
    assert health.healthy
    assert health.message == "2 objects are healthy"


def test_a_missing_or_unhealthy_copy_leaves_it_to_the_api_server() -> None:
    assert cached_health({WEB: _deployment(available=2)}.get, [WEB, SETTINGS], {}) is None
    unhealthy = {WEB: _deployment(available=1), SETTINGS: SETTINGS_OBJECT}
    assert cached_health(unhealthy.get, [WEB, SETTINGS], {}) is None
