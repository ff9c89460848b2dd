"""status.history: one snapshot per desired state, newest first, at most five."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lockstep.controllers.kustomization_history import (
    HISTORY_LIMIT,
    objects_digest,
    record_snapshot,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_digest_ignores_key_order() -> None:
    assert objects_digest([{"a": 1, "b": 2}]) == objects_digest([{"b": 2, "a": 1}])
    assert objects_digest([{"a": 1}]) != objects_digest([{"a": 2}])
    assert objects_digest([]).startswith("sha256:")


def test_the_same_objects_count_up_the_newest_snapshot() -> None:
    first = record_snapshot(
        [],
        digest="sha256:a",
        revision="main@sha1:1",
        started=T0,
        finished=T0 + timedelta(seconds=1.5),
        outcome="ReconciliationSucceeded",
    )
    again = record_snapshot(
        first,
        digest="sha256:a",
        revision="main@sha1:2",
        started=T0 + timedelta(minutes=5),
        finished=T0 + timedelta(minutes=6, seconds=2.25),
        outcome="HealthCheckFailed",
    )
    assert len(again) == 1
    snapshot = again[0]
    assert snapshot.total_reconciliations == 2
    assert snapshot.first_reconciled == T0 + timedelta(seconds=1.5)
    assert snapshot.last_reconciled_duration == "1m2.25s"
    assert snapshot.last_reconciled_status == "HealthCheckFailed"
    assert snapshot.metadata == {"revision": "main@sha1:2"}


def test_new_objects_start_a_snapshot_and_old_ones_fall_off() -> None:
    history = []
    for n in range(HISTORY_LIMIT + 2):
        history = record_snapshot(
            history,
            digest=f"sha256:{n}",
            revision=f"r{n}",
            started=T0,
            finished=T0,
            outcome="ReconciliationSucceeded",
        )
    assert [s.digest for s in history] == [f"sha256:{n}" for n in range(HISTORY_LIMIT + 1, 1, -1)]
    assert history[0].last_reconciled_duration == "0s"
