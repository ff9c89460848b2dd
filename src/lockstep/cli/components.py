"""The manifests of lockstep itself on a cluster: namespace, service account, RBAC and
the engine's Deployment (the CRDs come from :mod:`lockstep.api.crds`).

The engine reconciles arbitrary kinds, so like Flux's controllers it is bound to
``cluster-admin``; Kustomizations with ``serviceAccountName`` narrow what each
one may do. One replica with ``--leader-elect``, so a second one can be added for
a faster hand-over. Artifacts live in an ``emptyDir``: they are rebuilt from
their sources after a restart.

Used by ``lockstep install`` and ``lockstep bootstrap``.
"""

from __future__ import annotations

from typing import Any

from lockstep import __version__
from lockstep.api.crds import crd_manifests
from lockstep.apply.owners import KUSTOMIZATION_ANNOTATIONS

DEFAULT_NAMESPACE = "flux-system"
"""Flux's namespace, so repositories that reference ``flux-system`` objects work unchanged."""
DEFAULT_IMAGE = f"ghcr.io/lockstep/lockstep:{__version__}"
NAME = "lockstep"
METRICS_PORT = 8080
ARTIFACT_PORT = 9090
PRUNE_ANNOTATION = KUSTOMIZATION_ANNOTATIONS.key("prune")
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": NAME}


def engine_manifests(namespace: str, image: str) -> list[dict[str, Any]]:
    """Namespace, ServiceAccount, ClusterRoleBinding and Deployment of the engine."""
    meta = {"name": NAME, "namespace": namespace, "labels": LABELS}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": LABELS},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{NAME}-{namespace}", "labels": LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        _deployment(meta, image),
    ]


def _deployment(meta: dict[str, Any], image: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}}
    container = {
        "name": NAME,
        "image": image,
        "args": [
            "run",
            "--leader-elect",
            "--log-json",
            "--storage-path=/data",
            f"--storage-addr=127.0.0.1:{ARTIFACT_PORT}",
            f"--metrics-addr=0.0.0.0:{METRICS_PORT}",
        ],
        "env": [
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            }
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "livenessProbe": probe,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def all_manifests(namespace: str, image: str) -> list[dict[str, Any]]:
    """The CRDs, then the engine. The CRDs and the namespace are never pruned: deleting
    them would delete every custom resource and the engine with them."""
    manifests = [*crd_manifests(), *engine_manifests(namespace, image)]
    for manifest in manifests:
        if manifest["kind"] in ("CustomResourceDefinition", "Namespace"):
            annotations = manifest["metadata"].setdefault("annotations", {})
            annotations[PRUNE_ANNOTATION] = "disabled"
    return manifests
