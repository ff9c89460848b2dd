"""Helpers for the render tests: write small artifact trees and time real builds."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

from lockstep.render.kustomize import BuildOptions, build_kustomization


def write(root: Path, files: dict[str, str]) -> None:
    """Write each relative path with its dedented content, creating folders."""
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content).lstrip("\n"))


def config_map(name: str, namespace: str | None = None, **data: str) -> str:
    """The YAML of a ConfigMap."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    if data:
        lines.append("data:")
        lines.extend(f"  {key}: {value!r}" for key, value in data.items())
    return "\n".join(lines) + "\n"


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1.0.0
"""


def build(root: Path, path: str, options: BuildOptions | None = None) -> list[dict[str, Any]]:
    """Build with the real kubectl, printing how long it took (shown with ``pytest -s``)."""
    started = time.perf_counter()
    objects = build_kustomization(root, path, options or BuildOptions())
    print(f"render {path!r}: {len(objects)} objects in {time.perf_counter() - started:.3f}s")
    return objects


def names(objects: list[dict[str, Any]]) -> list[str]:
    """``Kind/name`` of each object, in order."""
    return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]
