"""Folding many results into one: the worst state and a bounded list of what is not ready."""

from __future__ import annotations

from lockstep.health import Health, HealthState, aggregate


def test_states_are_ordered_so_worst_is_max() -> None:
    assert HealthState.CURRENT < HealthState.IN_PROGRESS < HealthState.FAILED
    assert max(HealthState.IN_PROGRESS, HealthState.FAILED) is HealthState.FAILED


def test_all_current_is_current() -> None:
    results = [Health(HealthState.CURRENT, "a"), Health(HealthState.CURRENT, "b")]
    assert aggregate(results) == Health(HealthState.CURRENT, "2 objects are healthy")


def test_nothing_to_check_is_current() -> None:
    assert aggregate([]).state is HealthState.CURRENT


def test_worst_state_wins_and_failures_are_listed_first() -> None:
    results = [
        Health(HealthState.CURRENT, "Service/apps/web: type ClusterIP"),
        Health(HealthState.IN_PROGRESS, "Deployment/apps/web: 1 of 3 replicas available"),
        Health(HealthState.FAILED, "Job/apps/migrate: failed: BackoffLimitExceeded"),
    ]
    assert aggregate(results) == Health(
        HealthState.FAILED,
        "2 of 3 objects not ready: Job/apps/migrate: failed: BackoffLimitExceeded; "
        "Deployment/apps/web: 1 of 3 replicas available",
    )


def test_message_stays_bounded_for_many_objects() -> None:
    results = [Health(HealthState.IN_PROGRESS, f"Pod/apps/p{i}: " + "x" * 1000) for i in range(50)]
    message = aggregate(results).message
    assert message.startswith("50 of 50 objects not ready: Pod/apps/p0: ")
    assert message.endswith("; and 45 more")
    assert len(message) < 2000
