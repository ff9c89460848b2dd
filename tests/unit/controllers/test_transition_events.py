"""Which status changes deserve an event: new artifacts, new failures, recoveries."""

from __future__ import annotations

from typing import Any

from lockstep.controllers.source.base import transition_event


def _status(
    ready: str, message: str, revision: str | None = None, reason: str = "ReconciliationSucceeded"
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}]
    }
    if revision:
        status["artifact"] = {"revision": revision}
    return status


def test_new_artifact() -> None:
    assert transition_event({}, _status("True", "stored r1", "r1")) == (
        "Normal",
        "NewArtifact",
        "stored r1",
    )
    assert (
        transition_event(_status("True", "stored r1", "r1"), _status("True", "stored r2", "r2"))[1]
        == "NewArtifact"
    )  # type: ignore[index]


def test_failures_once_per_message() -> None:
    failing = _status("False", "auth failed", reason="FetchFailed")
    assert transition_event(_status("True", "ok", "r1"), failing) == (
        "Warning",
        "FetchFailed",
        "auth failed",
    )
    assert transition_event(failing, failing) is None
    other = _status("False", "host unreachable", reason="FetchFailed")
    assert transition_event(failing, other) == ("Warning", "FetchFailed", "host unreachable")


def test_recovery_without_a_new_revision() -> None:
    before = _status("False", "auth failed", "r1", reason="FetchFailed")
    after = _status("True", "stored r1", "r1")
    assert transition_event(before, after) == ("Normal", "ReconciliationSucceeded", "stored r1")
    assert transition_event(after, after) is None
