"""The one adapter to the Kubernetes API.

Everything else in lockstep talks to a cluster through :class:`KubeClient`, with
objects as plain dictionaries exactly as the API server returns them, and sees
failures as the small error hierarchy of :mod:`lockstep.kube.errors`.
"""

from lockstep.kube.client import (
    FIELD_MANAGER,
    KubeClient,
    KubeObject,
    Labels,
    ObjectRef,
    Propagation,
    WatchEvent,
)
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
    "FIELD_MANAGER",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "KubeClient",
    "KubeError",
    "KubeObject",
    "Labels",
    "NotFound",
    "ObjectRef",
    "Propagation",
    "ServerError",
    "Unreachable",
    "WatchEvent",
]
