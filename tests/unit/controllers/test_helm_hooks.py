"""The pure parts of Helm's hooks (:mod:`lockstep.controllers.helm.hooks`): the order
Helm runs a hook event in, Flux's test filters as Helm applies them, the test result
in Flux's ``testHooks`` shape and durations written as Go writes them.
tests/integration/test_helm_hooks.py runs hooks on the real control plane."""

from __future__ import annotations

from datetime import UTC, datetime

from lockstep.api.helm import ReleaseTestFilter
from lockstep.controllers.helm.hooks import (
    TestResult,
    TestRun,
    go_duration,
    hooks_in_order,
    select_tests,
)
from lockstep.controllers.helm.storage import HookPhase
from lockstep.render.helm import Hook


def hook(
    name: str, events: tuple[str, ...] = ("test",), weight: int = 0, kind: str = "Pod"
) -> Hook:
    return Hook(name, kind, f"web/templates/{name}.yaml", "", events, weight, (), ())


def names(hooks: list[Hook]) -> list[str]:
    return [h.name for h in hooks]


def test_hooks_run_by_weight_then_name_the_given_order_kept_between_equals() -> None:
    hooks = [
        hook("late", ("pre-install",), 5),
        hook("same", ("pre-install",), 0, kind="Job"),
        hook("same", ("pre-install",), 0, kind="ConfigMap"),
        hook("early", ("pre-install",), -5),
        hook("alpha", ("pre-install", "pre-upgrade"), 0),
        hook("elsewhere", ("post-install",), -10),
    ]

    ordered = hooks_in_order(hooks, "pre-install")

    assert names(ordered) == ["early", "alpha", "same", "same", "late"]
    assert [h.kind for h in ordered[2:4]] == ["Job", "ConfigMap"]
    assert names(hooks_in_order(hooks, "pre-upgrade")) == ["alpha"]


def test_without_filters_every_test_runs() -> None:
    tests = [hook("a"), hook("b")]

    assert select_tests(tests, []) == (tests, [])


def test_excluded_tests_are_left_out() -> None:
    tests = [hook("a"), hook("b"), hook("c")]

    selected, skipped = select_tests(tests, [ReleaseTestFilter(name="b", exclude=True)])

    assert (names(selected), names(skipped)) == (["a", "c"], ["b"])


def test_named_tests_run_alone_and_exclusion_wins() -> None:
    tests = [hook("a"), hook("b"), hook("c")]
    filters = [
        ReleaseTestFilter(name="a"),
        ReleaseTestFilter(name="b"),
        ReleaseTestFilter(name="b", exclude=True),
    ]

    selected, skipped = select_tests(tests, filters)

    assert (names(selected), names(skipped)) == (["a"], ["b", "c"])


def test_the_result_reads_as_flux_test_hooks() -> None:
    started = datetime(2026, 12, 7, 12, 0, 0, 500000, tzinfo=UTC)
    completed = datetime(2026, 12, 7, 12, 0, 3, tzinfo=UTC)
    result = TestResult(
        runs=(
            TestRun("smoke", HookPhase.SUCCEEDED, started, completed),
            TestRun("e2e", HookPhase.FAILED, started, completed),
        ),
        skipped=("load",),
        failure="test hook Pod/e2e failed: Pod failed",
    )

    assert not result.succeeded
    assert (result.passed, result.failed) == (["smoke"], ["e2e"])
    assert result.test_hooks()["smoke"].model_dump(mode="json", by_alias=True) == {
        "lastStarted": "2026-12-07T12:00:00Z",
        "lastCompleted": "2026-12-07T12:00:03Z",
        "phase": "Succeeded",
    }


def test_durations_read_as_go_writes_them() -> None:
    seconds = (300, 90, 1, 1.5, 3600, 5400)
    assert [go_duration(s) for s in seconds] == ["5m", "1m30s", "1s", "1.5s", "1h", "1h30m"]
