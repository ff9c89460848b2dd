"""The one adapter to the Kubernetes API.

Everything else in lockstep talks to a cluster through :class:`KubeClient`, with
objects as plain dictionaries exactly as the API server returns them, and sees
failures as the small error hierarchy of :mod:`lockstep.kube.errors`.
"""

from lockstep.kube.client import KubeClient, KubeObject, ObjectRef, WatchEvent
from lockstep.kube.errors import (
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    Unreachable,
)

__all__ = [
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "KubeClient",
    "KubeError",
    "KubeObject",
    "NotFound",
    "ObjectRef",
    "ServerError",
    "Unreachable",
    "WatchEvent",
]
