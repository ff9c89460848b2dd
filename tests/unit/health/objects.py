"""Builders for objects shaped as the API server returns them, for the health tests."""

from __future__ import annotations

from typing import Any


def kube_object(
    api_version: str,
    kind: str,
    name: str,
    *,
    namespace: str | None = "apps",
    generation: int = 1,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "generation": generation}
    if namespace:
        metadata["namespace"] = namespace
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def condition(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}
