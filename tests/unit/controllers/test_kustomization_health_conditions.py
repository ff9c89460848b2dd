"""The conditions of the health stage in Flux's words: while the wait runs, and after."""

from __future__ import annotations

from datetime import UTC, datetime

from lockstep.api.conditions import find_condition, mark_ready
from lockstep.controllers.kustomize.health import health_check_passed, running_health_checks

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 6, 10, 5, tzinfo=UTC)


def test_health_check_passed_is_written_as_go_writes_durations() -> None:
    assert health_check_passed(35_000_000) == "Health check passed in 35ms"
    assert health_check_passed(1_293_687_579) == "Health check passed in 1.293687579s"


def test_a_running_wait_marks_ready_unknown_and_reconciling() -> None:
    before = mark_ready([], "Applied revision: main@sha1:1", generation=1, now=T0)

    during = running_health_checks(before, revision="main@sha1:2", timeout=90, generation=2, now=T1)

    message = "Running health checks for revision main@sha1:2 with a timeout of 1m30s"
    shown = {c.type: (c.status, c.reason, c.message) for c in during}
    assert shown == {
        "Ready": ("Unknown", "Progressing", "Reconciliation in progress"),
        "Reconciling": ("True", "Progressing", message),
        "Healthy": ("Unknown", "Progressing", message),
    }
    ready = find_condition(during, "Ready")
    assert ready is not None
    assert ready.last_transition_time == T1
    assert [c.type for c in during][:2] == ["Ready", "Reconciling"]


def test_the_default_timeout_is_written_in_minutes() -> None:
    during = running_health_checks([], revision="r", timeout=270, generation=1, now=T0)

    healthy = find_condition(during, "Healthy")
    assert healthy is not None
    assert healthy.message.endswith("with a timeout of 4m30s")
