"""Comparing what Flux's own controllers and lockstep do to the same cluster.

Snapshots of the objects a Kustomization applied, and status comparisons that
name every difference at once. Durations (``"Health check passed in 35ms"``,
``lastReconciledDuration``), timestamps, namespaces and the artifact server's
address differ from run to run and are masked before comparing; everything
else must be equal. Used by tests/oracle/ (``make flux-oracle``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ground.gitops import KUBECTL
from lockstep.dev.flux import (
    CONTROLLERS,
    HELM_CONTROLLER,
    FluxControllers,
    FluxHelmController,
    crd_files,
)
from lockstep.kube import KubeClient, KubeObject

KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
GITREPOSITORY_API = "source.toolkit.fluxcd.io/v1"
APPLIED_KINDS = (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"))
SERVER_SIDE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation")
# Written by the cluster's controllers at their own pace, or allocated per object.
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/",)
ALLOCATED_SERVICE_FIELDS = ("clusterIP", "clusterIPs")

# A Go duration ("35ms", "1m2.5s", "293.687579ms") or a decimal number of seconds.
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s))*\b")
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
HEX_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def kubectl_run(kubeconfig: Path, *args: str) -> str:
    """Run the virtualenv's kubectl; its output, or fail the test with its error."""
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def install_flux_crds(kubeconfig: Path) -> list[str]:
    """Apply Flux's own CRDs (server-side, taking over any earlier definition of the same
    kinds) and wait until they are served; their names."""
    names: list[str] = []
    for path in crd_files():
        kubectl_run(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(path))
        group, plural = path.stem.split("_", 1)  # e.g. source.toolkit.fluxcd.io_buckets
        names.append(f"{plural}.{group}")
    crds = (f"crd/{name}" for name in names)
    kubectl_run(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *crds)
    return names


def show_logs(controllers: FluxControllers, helm: FluxHelmController | None = None) -> str:
    """The end of each controller's log (the helm-controller's too, when given), to
    explain a failure."""
    logs = [(name, controllers.log(name)) for name in CONTROLLERS]
    if helm is not None:
        logs.append((HELM_CONTROLLER, helm.log()))
    return "\n".join(
        f"--- {name} (last lines)\n{log.read_text()[-3000:]}" for name, log in logs if log.exists()
    )


async def applied_objects(kube: KubeClient, namespace: str) -> dict[str, KubeObject]:
    """The objects of :data:`APPLIED_KINDS` in ``namespace`` that a Kustomization labels,
    by ``Kind/name``."""
    found: dict[str, KubeObject] = {}
    for api_version, kind in APPLIED_KINDS:
        for obj in await kube.list(api_version, kind, namespace=namespace):
            labels = obj["metadata"].get("labels") or {}
            if "kustomize.toolkit.fluxcd.io/name" in labels:
                # Items of a list do not repeat their kind.
                found[f"{kind}/{obj['metadata']['name']}"] = {
                    "apiVersion": api_version,
                    "kind": kind,
                    **obj,
                }
    return found


def without_status_entries(entries: list[KubeObject]) -> list[KubeObject]:
    """Managed-field entries other than those of the status subresource, timestamps kept."""
    return [entry for entry in entries if entry.get("subresource") != "status"]


def managers(obj: Mapping[str, Any]) -> dict[str, str]:
    """``manager -> operation`` of the object's entries outside the status subresource."""
    return {
        entry["manager"]: entry["operation"]
        for entry in without_status_entries(obj["metadata"].get("managedFields") or [])
    }


def declared(obj: Mapping[str, Any], namespace: str) -> KubeObject:
    """The object as declared: no status, no server-side metadata, the namespace masked."""
    metadata = {
        key: value
        for key, value in obj["metadata"].items()
        if key not in (*SERVER_SIDE_METADATA, "managedFields")
    }
    annotations = {
        key: value
        for key, value in (metadata.pop("annotations", None) or {}).items()
        if not key.startswith(CONTROLLER_ANNOTATIONS)
    }
    if annotations:
        metadata["annotations"] = annotations
    kept: KubeObject = {
        **{key: value for key, value in obj.items() if key not in ("status", "metadata")},
        "metadata": metadata,
    }
    if obj["kind"] == "Service":
        kept["spec"] = {
            key: value for key, value in obj["spec"].items() if key not in ALLOCATED_SERVICE_FIELDS
        }
    masked: KubeObject = masked_strings(kept, namespace)
    return masked


def masked_strings(value: Any, namespace: str) -> Any:
    """``value`` with every string equal to ``namespace`` replaced by a marker."""
    if isinstance(value, dict):
        return {key: masked_strings(item, namespace) for key, item in value.items()}
    if isinstance(value, list):
        return [masked_strings(item, namespace) for item in value]
    return "<namespace>" if value == namespace else value


def mask(text: str, namespace: str = "", *hosts: str) -> str:
    """``text`` with durations, the namespace and the given hosts replaced by markers."""
    text = _DURATION.sub("<duration>", text)
    if namespace:
        text = text.replace(namespace, "<namespace>")
    for host in hosts:
        text = text.replace(host, "<host>")
    return text


def conditions(status: Mapping[str, Any], namespace: str) -> list[tuple[str, str, str, str]]:
    """``(type, status, reason, message)`` of each condition, in order, messages masked."""
    return [
        (entry["type"], entry["status"], entry["reason"], mask(entry["message"], namespace))
        for entry in status.get("conditions") or []
    ]


def differences(flux: Any, lockstep: Any, path: str = "") -> list[str]:
    """Every place where two JSON values differ, as ``path: flux … / lockstep …``."""
    if isinstance(flux, dict) and isinstance(lockstep, dict):
        found: list[str] = []
        for key in sorted(set(flux) | set(lockstep)):
            where = f"{path}.{key}" if path else str(key)
            if key not in lockstep:
                found.append(f"{where}: Flux writes {flux[key]!r}, lockstep writes nothing")
            elif key not in flux:
                found.append(f"{where}: lockstep writes {lockstep[key]!r}, Flux writes nothing")
            else:
                found += differences(flux[key], lockstep[key], where)
        return found
    if isinstance(flux, list) and isinstance(lockstep, list) and len(flux) == len(lockstep):
        return [
            difference
            for index, (left, right) in enumerate(zip(flux, lockstep, strict=True))
            for difference in differences(left, right, f"{path}[{index}]")
        ]
    if flux != lockstep:
        return [f"{path}: Flux {flux!r} / lockstep {lockstep!r}"]
    return []
