"""status.history: one snapshot per desired state, newest first, at most five."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lockstep.controllers.kustomize.history import (
    HISTORY_LIMIT,
    go_duration,
    record_snapshot,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


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


def test_an_origin_revision_is_kept_beside_the_revision() -> None:
    (snapshot,) = record_snapshot(
        [],
        digest="sha256:a",
        revision="latest@sha256:abc",
        started=T0,
        finished=T0 + timedelta(microseconds=293_687),
        outcome="ReconciliationSucceeded",
        origin_revision="main@sha1:1234",
    )
    assert snapshot.metadata == {
        "revision": "latest@sha256:abc",
        "originRevision": "main@sha1:1234",
    }
    assert snapshot.last_reconciled_duration == "293.687ms"


# What Go's time.Duration(n).String() prints, n in nanoseconds (checked with Go 1.26).
GO_DURATIONS = [
    (0, "0s"),
    (1, "1ns"),
    (999, "999ns"),
    (1_000, "1µs"),
    (1_500, "1.5µs"),
    (999_999, "999.999µs"),
    (1_000_000, "1ms"),
    (1_000_001, "1.000001ms"),
    (35_000_000, "35ms"),
    (293_687_579, "293.687579ms"),
    (999_999_999, "999.999999ms"),
    (1_000_000_000, "1s"),
    (1_500_000_000, "1.5s"),
    (60_000_000_000, "1m0s"),
    (61_000_000_001, "1m1.000000001s"),
    (62_300_000_000, "1m2.3s"),
    (90_000_000_000, "1m30s"),
    (300_000_000_000, "5m0s"),
    (3_600_000_000_000, "1h0m0s"),
    (3_661_001_000_000, "1h1m1.001s"),
    (100_000_000_000_000, "27h46m40s"),
    (-1, "-1ns"),
    (-1_500_000_000, "-1.5s"),
]


@pytest.mark.parametrize(("nanoseconds", "expected"), GO_DURATIONS)
def test_durations_are_written_as_go_writes_them(nanoseconds: int, expected: str) -> None:
    assert go_duration(nanoseconds) == expected
