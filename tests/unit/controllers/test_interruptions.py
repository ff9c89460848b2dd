"""What interrupts a running pipeline: its object's deletion or a new spec, never a
status write."""

from __future__ import annotations

from typing import Any

from lockstep.controllers.interruptions import Interruptions
from lockstep.runtime.informer import Change

KEY = ("team", "web")


def _release(generation: int, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": KEY[0], "name": KEY[1], "generation": generation, **metadata},
        "status": {"observedGeneration": generation - 1},
    }


def test_a_status_write_does_not_interrupt_but_a_new_spec_does() -> None:
    interruptions = Interruptions()
    with interruptions.running(KEY, 2) as run:
        assert interruptions.event(KEY) is run.cancelled
        interruptions.observe(Change("MODIFIED", KEY, _release(2), _release(2)))
        assert not run.cancelled.is_set()
        interruptions.observe(Change("MODIFIED", KEY, _release(3), _release(2)))
        assert run.cancelled.is_set()
        assert interruptions.why(KEY) == "has a new spec (generation 3)"
        # The first reason stands.
        interruptions.observe(
            Change("MODIFIED", KEY, _release(3, deletionTimestamp="now"), _release(3))
        )
        assert interruptions.why(KEY) == "has a new spec (generation 3)"
    assert not interruptions.event(KEY).is_set(), "a fresh event once the run is over"
    assert interruptions.why(KEY) == ""


def test_a_deletion_interrupts() -> None:
    interruptions = Interruptions()
    with interruptions.running(KEY, 2) as run:
        interruptions.observe(
            Change("MODIFIED", KEY, _release(2, deletionTimestamp="now"), _release(2))
        )
        assert run.cancelled.is_set()
        assert run.why == "is being deleted"
    with interruptions.running(KEY, 2) as run:
        interruptions.observe(Change("DELETED", KEY, _release(2)))
        assert run.why == "is being deleted"


def test_changes_of_other_objects_and_outside_a_run_are_ignored() -> None:
    interruptions = Interruptions()
    interruptions.observe(Change("MODIFIED", KEY, _release(5), _release(4)))
    with interruptions.running(KEY, 5) as run:
        other = ("team", "api")
        interruptions.observe(Change("MODIFIED", other, _release(6), _release(5)))
        assert not run.cancelled.is_set()
