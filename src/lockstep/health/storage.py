"""Health of PersistentVolumeClaims.

A claim is current once ``Bound``. ``Pending`` is in progress: many storage
classes bind only when the first pod using the claim is scheduled
(``WaitForFirstConsumer``). ``Lost`` means the bound volume is gone; Kubernetes
will not recover it, so it is a failure (kstatus would keep waiting).

Registered in :mod:`lockstep.health.dispatch`.
"""

from __future__ import annotations

from lockstep.health.conditions import status_of
from lockstep.health.result import Health, KubeObject, current, failed, in_progress


def pvc_health(obj: KubeObject) -> Health:
    phase = status_of(obj).get("phase", "Pending")
    if phase == "Bound":
        return current("bound")
    if phase == "Lost":
        return failed("lost: its bound volume no longer exists")
    return in_progress(f"{phase}, not bound to a volume yet")
