"""Condition bookkeeping: transition times move only when a status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lockstep.api.conditions import find_condition, mark_failed, mark_ready, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_same_status_keeps_the_transition_time() -> None:
    first = set_condition([], "Ready", "True", "Succeeded", "stored rev 1", generation=1, now=T0)
    second = set_condition(
        first, "Ready", "True", "Succeeded", "stored rev 2", generation=2, now=T1
    )
    ready = find_condition(second, "Ready")
    assert ready is not None
    assert ready.last_transition_time == T0
    assert ready.message == "stored rev 2"
    assert ready.observed_generation == 2


def test_changed_status_moves_the_transition_time() -> None:
    first = set_condition([], "Ready", "True", "Succeeded", "ok", generation=1, now=T0)
    second = set_condition(
        first, "Ready", "False", "FetchFailed", "auth failed", generation=1, now=T1
    )
    assert find_condition(second, "Ready").last_transition_time == T1  # type: ignore[union-attr]


def test_retryable_failure_then_success() -> None:
    failed = mark_failed(
        [], "FetchFailed", "host unreachable", terminal=False, generation=3, now=T0
    )
    assert [(c.type, c.status, c.reason) for c in failed] == [
        ("Ready", "False", "FetchFailed"),
        ("Reconciling", "True", "ProgressingWithRetry"),
    ]
    recovered = mark_ready(
        failed, "stored artifact for revision main@sha1:abc", generation=3, now=T1
    )
    assert [(c.type, c.status, c.reason) for c in recovered] == [
        ("Ready", "True", "ReconciliationSucceeded")
    ]


def test_terminal_failure_stalls() -> None:
    stalled = mark_failed([], "InvalidRef", "no such ref", terminal=True, generation=1, now=T0)
    assert [(c.type, c.status) for c in stalled] == [("Ready", "False"), ("Stalled", "True")]


def test_identical_state_gives_identical_conditions() -> None:
    once = mark_ready([], "ok", generation=1, now=T0)
    twice = mark_ready(once, "ok", generation=1, now=T1)
    assert once == twice
