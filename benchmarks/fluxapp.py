"""The application of Flux's own benchmark, and the Flux objects that deliver it.

fluxcd/flux-benchmark delivers N copies of one small application, each through its
own Kustomization in one namespace, as Flux's users write them: a Deployment scaled
to 0, a ServiceAccount, a Service and an Ingress; ``prune``, ``wait`` (health of
every object), ``targetNamespace``, the application applied as a namespace-admin
service account (``serviceAccountName``), and a postBuild variable that makes each
copy's names unique. Here all N Kustomizations read one folder of one Git
repository (:func:`write_app`); Flux's benchmark gives each its own OCI artifact of
the same content.

:func:`app_objects` renders copy ``index`` in Python, exactly as the engine applies
it, for the engine-less baseline (W5). Used by W1 and its fleet shapes
(:mod:`benchmarks.shapes`), W4 and W5.
"""

from __future__ import annotations

from typing import Any

import yaml

from benchmarks.ground import KUSTOMIZATION_API, SOURCE_API
from lockstep.dev.gitserver import WorkingCopy
from lockstep.kube import KubeObject

APP_PATH = "app"
APPLIER = "bench-applier"
"""The service account every copy is applied as, bound to the namespace's ``admin`` role."""

APP = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-${INDEX}
---
apiVersion: v1
kind: Service
metadata:
  name: app-${INDEX}
spec:
  selector:
    app: app-${INDEX}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${INDEX}
spec:
  replicas: 0
  selector:
    matchLabels:
      app: app-${INDEX}
  template:
    metadata:
      labels:
        app: app-${INDEX}
    spec:
      serviceAccountName: app-${INDEX}
      containers:
        - name: app
          image: registry.invalid/bench/app:1.0.0
          ports:
            - name: http
              containerPort: 8080
          resources:
            requests:
              cpu: 1m
              memory: 16Mi
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-${INDEX}
spec:
  rules:
    - host: app-${INDEX}.bench.invalid
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: app-${INDEX}
                port:
                  name: http
"""

OBJECTS_PER_APP = 4


def write_app(work: WorkingCopy) -> None:
    """Commit and push the application's folder."""
    work.write(f"{APP_PATH}/app.yaml", APP)
    work.commit("the benchmark application")
    work.push()


def applier_rbac(namespace: str) -> list[KubeObject]:
    """The service account the copies are applied as, admin of ``namespace`` only."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": APPLIER, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": APPLIER, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": APPLIER, "namespace": namespace}],
        },
    ]


def git_repository(name: str, namespace: str, url: str, interval: str = "1h") -> KubeObject:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": interval, "url": url, "ref": {"branch": "main"}},
    }


def app_kustomization(
    index: int, namespace: str, source: str, *, interval: str = "60m"
) -> KubeObject:
    """The Kustomization of copy ``index``."""
    return kustomization(
        f"app-{index}", namespace, source, f"./{APP_PATH}", interval, {"INDEX": str(index)}
    )


def kustomization(
    name: str,
    namespace: str,
    source: str,
    path: str,
    interval: str,
    substitute: dict[str, str] | None = None,
) -> KubeObject:
    """A Kustomization with the settings of Flux's benchmark."""
    spec: KubeObject = {
        "sourceRef": {"kind": "GitRepository", "name": source},
        "path": path,
        "interval": interval,
        "retryInterval": "2m",
        "timeout": "1m",
        "prune": True,
        "wait": True,
        "targetNamespace": namespace,
        "serviceAccountName": APPLIER,
    }
    if substitute:
        spec["postBuild"] = {"substitute": substitute}
    return {
        "apiVersion": KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def app_objects(index: int, namespace: str) -> list[KubeObject]:
    """The objects copy ``index`` applies, as its Kustomization renders them."""
    objects: list[KubeObject] = []
    for obj in yaml.safe_load_all(APP.replace("${INDEX}", str(index))):
        metadata: dict[str, Any] = obj["metadata"]
        metadata["namespace"] = namespace
        metadata["labels"] = {
            "kustomize.toolkit.fluxcd.io/name": f"app-{index}",
            "kustomize.toolkit.fluxcd.io/namespace": namespace,
        }
        objects.append(obj)
    return objects
