"""Comparison: whether a server-side dry-run result differs from the live object.

The dry-run result is what the object would be after the apply; if it equals the
live object once the fields the server rewrites on every write are set aside,
the object has not drifted and is not written, so its resourceVersion is not
bumped and watchers are not woken for nothing.

Called by :mod:`lockstep.apply.plan` and :mod:`lockstep.apply.diff`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockstep.kube import KubeObject

IGNORED_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"}
)


def comparable(obj: Mapping[str, Any]) -> KubeObject:
    """A copy of ``obj`` without status and without the metadata the server maintains."""
    stripped: KubeObject = dict(obj)
    stripped.pop("status", None)
    metadata = stripped.get("metadata") or {}
    stripped["metadata"] = {
        key: value for key, value in metadata.items() if key not in IGNORED_METADATA
    }
    return stripped


def has_drifted(dry_run_result: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    return comparable(dry_run_result) != comparable(live)
