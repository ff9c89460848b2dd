"""``status.history`` of a Kustomization: the last reconciliations, one snapshot per desired state.

A snapshot is keyed by the digest of the built objects (Flux's:
:func:`lockstep.render.resmap_yaml.build_digest`), so reapplying the same
objects (a drift repair, a requested reconcile) counts up the newest snapshot,
while a new build starts a new one. Most recent first, at most
:data:`HISTORY_LIMIT`; each records the source revision, when it was first and
last reconciled, how long the last reconciliation took (a Go duration string,
such as ``293.687579ms``, formatted by :func:`go_duration` exactly as Go's
``time.Duration.String()``), and its outcome (the Ready reason). Its metadata holds
the source ``revision`` and, for an artifact that carries one, the
``originRevision``, as Flux's. The history records applies and failures: a reconcile that found
the cluster as the last apply left it, and applied nothing, records nothing.

Called by the Kustomization reconciler once per reconciliation that built
objects and applied them or failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from lockstep.api.kustomize import ReconciliationSnapshot

HISTORY_LIMIT = 5
REVISION_KEY = "revision"
ORIGIN_REVISION_KEY = "originRevision"

_SECOND = 1_000_000_000


def record_snapshot(
    history: Sequence[ReconciliationSnapshot],
    *,
    digest: str,
    revision: str,
    started: datetime,
    finished: datetime,
    outcome: str,
    origin_revision: str = "",
) -> list[ReconciliationSnapshot]:
    """``history`` with this reconciliation counted in."""
    duration = go_duration((finished - started) // timedelta(microseconds=1) * 1000)
    metadata = {REVISION_KEY: revision}
    if origin_revision:
        metadata[ORIGIN_REVISION_KEY] = origin_revision
    if history and history[0].digest == digest:
        newest = history[0].model_copy(
            update={
                "last_reconciled": finished,
                "last_reconciled_duration": duration,
                "last_reconciled_status": outcome,
                "total_reconciliations": history[0].total_reconciliations + 1,
                "metadata": metadata,
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
        metadata=metadata,
    )
    return [snapshot, *history][:HISTORY_LIMIT]


def go_duration(nanoseconds: int) -> str:
    """``nanoseconds`` as Go's ``time.Duration.String()`` writes it: ``0s``, ``750ns``,
    ``1.5µs``, ``293.687579ms``, ``1.5s``, ``1m2.3s``, ``1h0m0s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    size = abs(nanoseconds)
    if size < 1_000:
        return f"{sign}{size}ns"
    if size < _SECOND:
        unit, precision = ("µs", 3) if size < 1_000_000 else ("ms", 6)
        whole, fraction = _split_fraction(size, precision)
        return f"{sign}{whole}{fraction}{unit}"
    seconds, fraction = _split_fraction(size, 9)
    minutes, seconds = divmod(seconds, 60)
    text = f"{seconds}{fraction}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def _split_fraction(value: int, precision: int) -> tuple[int, str]:
    """``value`` / 10**precision as a whole part and ``.digits`` without trailing zeros."""
    whole, fraction = divmod(value, 10**precision)
    digits = f"{fraction:0{precision}d}".rstrip("0")
    return whole, f".{digits}" if digits else ""
