"""Health of CustomResourceDefinitions.

A CRD is current once ``Established`` is True: the API server serves its kind,
so objects of that kind (applied in a later stage) can be created. A
``NamesAccepted`` condition that is False means its names clash with another
CRD's; that needs a fix in the manifests, so it is a failure.

Registered in :mod:`lockstep.health.dispatch`; the apply engine waits on it
between its CRD stage and the rest.
"""

from __future__ import annotations

from lockstep.health.conditions import explain, find_condition
from lockstep.health.result import Health, KubeObject, current, failed, in_progress


def crd_health(obj: KubeObject) -> Health:
    names = find_condition(obj, "NamesAccepted")
    if names and names.get("status") == "False":
        return failed(f"names not accepted: {explain(names)}")
    established = find_condition(obj, "Established")
    if established and established.get("status") == "True":
        return current("established")
    if established:
        return in_progress(f"not established: {explain(established)}")
    return in_progress("not established yet")
