"""Health of Namespaces.

``Active`` is current. ``Terminating`` is in progress: objects cannot be
created in it until its deletion finishes and it is created again.

Registered in :mod:`lockstep.health.dispatch`.
"""

from __future__ import annotations

from lockstep.health.conditions import status_of
from lockstep.health.result import Health, KubeObject, current, in_progress


def namespace_health(obj: KubeObject) -> Health:
    phase = status_of(obj).get("phase", "Active")
    if phase == "Terminating":
        return in_progress("terminating")
    return current(str(phase).lower())
