"""Waiting for definitions (CRDs Established and served, Namespaces Active), and for deletions.

Objects of the next stage cannot even be dry-run before the kinds and
namespaces they need exist, so :func:`lockstep.apply.apply_all` waits here after
each stage. Only these two kinds are waited for; the health of workloads is a
separate verb. An object recreated because an immutable field changed is waited
for until it is really gone (finalizers may hold it) before it is created again.

Called by :mod:`lockstep.apply.apply`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

WAITED_KINDS = frozenset({"CustomResourceDefinition", "Namespace"})


async def wait_for_definitions(
    kube: KubeClient, objects: Iterable[KubeObject], *, within: float, interval: float
) -> list[str]:
    """Poll until every CRD and Namespace in ``objects`` is ready, at most ``within`` seconds.

    Returns what is still not ready when time is up, one line per object
    (``CustomResourceDefinition/widgets.example.com not ready: Established is False``);
    an empty list when everything is ready.
    """
    pending = [ObjectRef.of(obj) for obj in objects if obj.get("kind") in WAITED_KINDS]
    deadline = time.monotonic() + within
    while True:
        waiting = [
            f"{ref} not ready: {reason}"
            for ref in pending
            if (reason := await _not_ready_reason(kube, ref))
        ]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        await asyncio.sleep(interval)


async def wait_until_deleted(
    kube: KubeClient, ref: ObjectRef, uid: str, *, within: float, interval: float
) -> str:
    """Poll until the instance ``uid`` of ``ref`` is gone, at most ``within`` seconds.

    Returns why it is still there when time is up (``still there 60s after it was
    deleted, held by finalizers example.com/hold``); an empty string once it is
    gone, or replaced by another instance.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            live = await kube.get(ref)
        except NotFound:
            return ""
        metadata = live.get("metadata") or {}
        if metadata.get("uid") != uid:
            return ""
        if time.monotonic() >= deadline:
            finalizers = ", ".join(metadata.get("finalizers") or [])
            held = f", held by finalizers {finalizers}" if finalizers else ""
            return f"still there {within:.0f}s after it was deleted{held}"
        await asyncio.sleep(interval)


async def _not_ready_reason(kube: KubeClient, ref: ObjectRef) -> str:
    """Why ``ref`` is not ready yet, or an empty string when it is."""
    try:
        live = await kube.get(ref)
    except KubeError as error:
        return error.message
    if ref.kind == "Namespace":
        phase = (live.get("status") or {}).get("phase", "")
        return "" if phase == "Active" else f"phase is {phase or 'unknown'}"
    return await _crd_not_ready_reason(kube, live)


async def _crd_not_ready_reason(kube: KubeClient, crd: KubeObject) -> str:
    conditions = (crd.get("status") or {}).get("conditions") or []
    established: dict[str, str] = next(
        (c for c in conditions if c.get("type") == "Established"), {}
    )
    if established.get("status") != "True":
        return f"Established is {established.get('status', 'Unknown')}"
    # Established can come a moment before discovery serves the kind, and the
    # next stage's dry-run goes through discovery.
    spec = crd.get("spec") or {}
    kind = (spec.get("names") or {}).get("kind", "")
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        api_version = f"{spec.get('group', '')}/{version.get('name', '')}"
        try:
            await kube.resource_info(api_version, kind)
        except NotFound:
            return f"{kind} is not yet served in {api_version}"
    return ""
