"""``status.history`` of a Kustomization: the last reconciliations, one snapshot per desired state.

A snapshot is keyed by the digest of the built objects, so reapplying the same
objects (a drift repair, a requested reconcile) counts up the newest snapshot,
while a new build starts a new one. Most recent first, at most
:data:`HISTORY_LIMIT`; each records the source revision, when it was first and
last reconciled, how long the last reconciliation took, and its outcome (the
Ready reason). The history records applies and failures: a reconcile that found
the cluster as the last apply left it, and applied nothing, records nothing.

Called by the Kustomization reconciler once per reconciliation that built
objects and applied them or failed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from lockstep.api.kustomize import ReconciliationSnapshot
from lockstep.kube import KubeObject

HISTORY_LIMIT = 5
REVISION_KEY = "revision"


def objects_digest(objects: Sequence[KubeObject]) -> str:
    """``sha256:<hex>`` of the objects, independent of key order."""
    canonical = json.dumps(list(objects), sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


def record_snapshot(
    history: Sequence[ReconciliationSnapshot],
    *,
    digest: str,
    revision: str,
    started: datetime,
    finished: datetime,
    outcome: str,
) -> list[ReconciliationSnapshot]:
    """``history`` with this reconciliation counted in."""
    duration = _go_duration((finished - started).total_seconds())
    if history and history[0].digest == digest:
        newest = history[0].model_copy(
            update={
                "last_reconciled": finished,
                "last_reconciled_duration": duration,
                "last_reconciled_status": outcome,
                "total_reconciliations": history[0].total_reconciliations + 1,
                "metadata": {**history[0].metadata, REVISION_KEY: revision},
            }
        )
        return [newest, *history[1:]]
    snapshot = ReconciliationSnapshot(
        digest=digest,
        first_reconciled=finished,
        last_reconciled=finished,
        last_reconciled_duration=duration,
        last_reconciled_status=outcome,
        total_reconciliations=1,
        metadata={REVISION_KEY: revision},
    )
    return [snapshot, *history][:HISTORY_LIMIT]


def _go_duration(seconds: float) -> str:
    """A duration as Go prints it at millisecond precision: ``1.234s``, ``2m3.5s``."""
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
