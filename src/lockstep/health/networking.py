"""Health of Services and Ingresses: things that may wait for an external address.

A ``LoadBalancer`` Service is current once its load balancer reports at least
one ingress address; every other Service type is current as soon as it exists.
An Ingress is current as soon as it exists, as with kstatus, which has no rule for
Ingresses: Flux's ``wait`` does not wait for an ingress controller to publish an
address, and clusters without one must still become Ready.

Registered in :mod:`lockstep.health.dispatch`.
"""

from __future__ import annotations

from lockstep.health.conditions import status_of
from lockstep.health.result import Health, KubeObject, current, in_progress


def _addresses(obj: KubeObject) -> list[str]:
    ingress = (status_of(obj).get("loadBalancer") or {}).get("ingress") or []
    return [str(entry.get("ip") or entry.get("hostname") or "") for entry in ingress]


def service_health(obj: KubeObject) -> Health:
    service_type = (obj.get("spec") or {}).get("type", "ClusterIP")
    if service_type != "LoadBalancer":
        return current(f"type {service_type}")
    if addresses := _addresses(obj):
        return current(f"load balancer at {', '.join(addresses)}")
    return in_progress("waiting for the load balancer to get an address")


def ingress_health(obj: KubeObject) -> Health:
    if addresses := _addresses(obj):
        return current(f"served at {', '.join(addresses)}")
    return current("no address published")
