"""The one reconciler shell, with a small kind of its own: invalid spec, suspend, finalizer,
transient and terminal failures, status written only when it changed, Ready events."""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal, cast

import pytest

from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION, ApiModel, ApiObject, ObjectStatus
from lockstep.controllers.shell import (
    RERUN,
    WAITING,
    Failure,
    Ordering,
    Ready,
    ReconcilerShell,
    Rerun,
    Waiting,
)
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Success, TerminalFailure, TransientFailure

NAMESPACE = "apps"
KEY = (NAMESPACE, "web")


class WidgetSpec(ApiModel):
    size: int
    interval: str = "2m"
    suspend: bool = False


class WidgetStatus(ObjectStatus):
    size: int | None = None


class Widget(ApiObject):
    kind: Literal["Widget"] = "Widget"
    spec: WidgetSpec
    status: WidgetStatus | None = None


class FakeKube:
    """The calls the shell makes: status writes land in the cache, as the informer shows them."""

    def __init__(self, cache: FakeCache) -> None:
        self.cache = cache
        self.status_writes: list[KubeObject] = []
        self.events: list[KubeObject] = []
        self.patches: list[list[KubeObject]] = []
        self.calls: list[str] = []
        """``status`` and ``event``, in the order they were made."""

    async def apply_status(self, obj: KubeObject) -> KubeObject:
        written = copy.deepcopy(obj)
        self.status_writes.append(written)
        self.calls.append("status")
        self.cache.objects[KEY] = written
        return written

    async def create(self, obj: KubeObject) -> KubeObject:
        self.events.append(obj)
        self.calls.append("event")
        return obj

    async def json_patch(self, ref: ObjectRef, operations: list[KubeObject]) -> KubeObject:
        self.patches.append(operations)
        metadata = self.cache.objects[KEY]["metadata"]
        for op in operations:
            if op["op"] == "add" and op["path"] == "/metadata/finalizers":
                metadata["finalizers"] = list(op["value"])
            elif op["op"] == "add":
                metadata["finalizers"].append(op["value"])
            elif op["op"] == "remove":
                del metadata["finalizers"][int(op["path"].rsplit("/", 1)[1])]
        return self.cache.objects[KEY]

    def client(self) -> KubeClient:
        return cast(KubeClient, self)


class FakeCache:
    def __init__(self, *objects: KubeObject) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, key: ObjectKey) -> KubeObject | None:
        return self.objects.get(key)

    def items(self) -> list[KubeObject]:
        return list(self.objects.values())


class WidgetReconciler(ReconcilerShell[Widget, WidgetStatus]):
    """A kind costs this much: its names, its model, its pipeline."""

    kind: ClassVar[str] = "Widget"
    api_version: ClassVar[str] = "example.com/v1"
    name: ClassVar[str] = "widget"
    model = Widget
    status_model = WidgetStatus

    def __init__(self, kube: KubeClient, cache: FakeCache) -> None:
        super().__init__(kube, cache)
        self.failure: Failure | None = None
        self.result: Ready | Waiting | Rerun = Ready("widget built")
        self.runs = 0
        self.finalized: list[str] = []
        self.forgotten: list[ObjectKey] = []

    async def pipeline(self, obj: Widget, status: WidgetStatus) -> Ready | Waiting | Rerun:
        self.runs += 1
        status.size = obj.spec.size
        if self.failure is not None:
            raise self.failure
        return self.result

    async def finalize(self, obj: Widget) -> None:
        self.finalized.append(obj.metadata.name)

    async def forget(self, key: ObjectKey) -> None:
        self.forgotten.append(key)


class FinalizedWidgetReconciler(WidgetReconciler):
    finalizer: ClassVar[str | None] = "example.com/finalizer"


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "web", "namespace": NAMESPACE, "generation": 3},
        "spec": {"size": 2, **spec},
    }


class Setup:
    def __init__(
        self, obj: KubeObject | None = None, reconciler: type[WidgetReconciler] = WidgetReconciler
    ) -> None:
        self.cache = FakeCache(*([obj] if obj is not None else []))
        self.kube = FakeKube(self.cache)
        self.reconciler = reconciler(self.kube.client(), self.cache)

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.cache.objects[KEY]["status"]
        return status

    def condition(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.status["conditions"] if c["type"] == kind), None)

    def events(self) -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in self.kube.events]


async def test_success_writes_ready_once_and_requeues_after_the_interval() -> None:
    obj = widget()
    obj["metadata"]["annotations"] = {RECONCILE_REQUEST_ANNOTATION: "now"}
    setup = Setup(obj)

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=120)

    ready = setup.condition("Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "Succeeded",
        "widget built",
    )
    assert setup.status["size"] == 2
    assert setup.status["observedGeneration"] == 3
    assert setup.status["lastHandledReconcileAt"] == "now"
    assert setup.events() == [("Normal", "Succeeded", "widget built")]

    # Nothing changed since: no write, no event.
    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=120)
    assert len(setup.kube.status_writes) == 1
    assert len(setup.kube.events) == 1
    assert setup.reconciler.runs == 2


async def test_an_invalid_spec_is_terminal_stalled_and_says_what_to_correct() -> None:
    setup = Setup(widget(size="large"))

    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()

    message = "Widget apps/web is invalid at spec.size: "
    ready, stalled = setup.condition("Ready"), setup.condition("Stalled")
    assert ready is not None
    assert stalled is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith(message)
    assert ready["message"].endswith("; correct it")
    assert stalled["status"] == "True"
    assert setup.condition("Reconciling") is None
    assert setup.status["observedGeneration"] == 3
    [(kind, reason, said)] = setup.events()
    assert (kind, reason) == ("Warning", "InvalidSpec")
    assert said == ready["message"]
    assert setup.reconciler.runs == 0

    # Told once: the same invalid object again writes and records nothing.
    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()
    assert len(setup.kube.status_writes) == 1
    assert len(setup.kube.events) == 1


async def test_an_invalid_spec_keeps_the_other_status_fields() -> None:
    obj = widget(size="large")
    obj["status"] = {"size": 7, "observedGeneration": 2}
    setup = Setup(obj)

    await setup.reconciler.reconcile(KEY)

    assert setup.status["size"] == 7
    assert setup.status["observedGeneration"] == 3


async def test_a_suspended_object_is_left_alone() -> None:
    setup = Setup(widget(suspend=True))

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.reconciler.runs == 0
    assert setup.kube.status_writes == []
    assert setup.kube.patches == []


async def test_a_gone_object_is_forgotten() -> None:
    setup = Setup()
    assert await setup.reconciler.reconcile(KEY) == Success()
    assert setup.reconciler.forgotten == [KEY]


async def test_the_finalizer_is_added_first_even_when_suspended() -> None:
    setup = Setup(widget(suspend=True), FinalizedWidgetReconciler)

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.cache.objects[KEY]["metadata"]["finalizers"] == ["example.com/finalizer"]
    assert setup.reconciler.runs == 0
    await setup.reconciler.reconcile(KEY)
    assert len(setup.kube.patches) == 1, "added once"


async def test_deletion_finalizes_then_releases_only_its_own_finalizer() -> None:
    obj = widget()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    obj["metadata"]["finalizers"] = ["other.example.com/keep", "example.com/finalizer"]
    setup = Setup(obj, FinalizedWidgetReconciler)

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.reconciler.finalized == ["web"]
    assert setup.reconciler.runs == 0
    assert setup.kube.patches == [
        [
            {"op": "test", "path": "/metadata/finalizers/1", "value": "example.com/finalizer"},
            {"op": "remove", "path": "/metadata/finalizers/1"},
        ]
    ]
    assert setup.cache.objects[KEY]["metadata"]["finalizers"] == ["other.example.com/keep"]


async def test_a_kind_without_finalizer_does_not_reconcile_an_object_being_deleted() -> None:
    obj = widget()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    setup = Setup(obj)

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert (setup.reconciler.runs, setup.reconciler.finalized, setup.kube.patches) == (0, [], [])


async def test_a_transient_failure_is_retried_within_the_interval() -> None:
    setup = Setup(widget())
    setup.reconciler.failure = Failure(
        "FetchFailed", "Widget apps/web: host unreachable; retrying", condition="FetchFailed"
    )

    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=120)

    ready, reconciling = setup.condition("Ready"), setup.condition("Reconciling")
    assert ready is not None
    assert reconciling is not None
    assert (ready["status"], ready["reason"]) == ("False", "FetchFailed")
    assert reconciling["reason"] == "ProgressingWithRetry"
    assert setup.condition("Stalled") is None
    fetch = setup.condition("FetchFailed")
    assert fetch is not None
    assert fetch["status"] == "True"
    assert setup.status["size"] == 2, "what the pipeline set before failing is kept"
    assert setup.events() == [
        ("Warning", "FetchFailed", "Widget apps/web: host unreachable; retrying")
    ]

    # The same failure again is not told again.
    await setup.reconciler.reconcile(KEY)
    assert len(setup.kube.events) == 1


async def test_a_terminal_failure_stalls_and_is_not_retried() -> None:
    setup = Setup(widget())
    setup.reconciler.failure = Failure("InvalidSize", "size 2 is too small; set 3", terminal=True)

    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()

    stalled = setup.condition("Stalled")
    assert stalled is not None
    assert stalled["reason"] == "InvalidSize"
    assert setup.condition("Reconciling") is None


async def test_a_failure_that_waits_for_a_dependency_is_not_polled() -> None:
    setup = Setup(widget())
    setup.reconciler.failure = Failure("DependencyNotReady", "waiting for the base", retry=False)

    assert await setup.reconciler.reconcile(KEY) == Success()

    ready = setup.condition("Ready")
    assert ready is not None
    assert ready["reason"] == "DependencyNotReady"
    assert setup.condition("Reconciling") is not None


async def test_recovery_clears_the_failure_conditions_and_is_told() -> None:
    class Reconciler(WidgetReconciler):
        failure_conditions: ClassVar[tuple[str, ...]] = ("FetchFailed",)

    setup = Setup(widget(), Reconciler)
    setup.reconciler.failure = Failure("FetchFailed", "unreachable", condition="FetchFailed")
    await setup.reconciler.reconcile(KEY)
    setup.reconciler.failure = None

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=120)

    assert [c["type"] for c in setup.status["conditions"]] == ["Ready"]
    assert setup.events()[-1] == ("Normal", "Succeeded", "widget built")


async def test_waiting_writes_nothing() -> None:
    setup = Setup(widget())
    setup.reconciler.result = WAITING

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.kube.status_writes == []


@pytest.mark.parametrize(
    ("announced", "expected"),
    [
        ("Normal", [("Normal", "Pushed", "pushed abc")]),
        ("Warning", [("Warning", "Pushed", "pushed abc"), ("Normal", "Succeeded", "widget built")]),
    ],
)
async def test_a_normal_event_of_the_pipeline_stands_for_the_ready_event(
    announced: Literal["Normal", "Warning"], expected: list[tuple[str, str, str]]
) -> None:
    setup = Setup(widget())
    setup.reconciler.result = Ready("widget built", events=((announced, "Pushed", "pushed abc"),))

    await setup.reconciler.reconcile(KEY)

    assert setup.events() == expected


async def test_observed_generation_only_on_success_when_the_kind_says_so() -> None:
    class Reconciler(WidgetReconciler):
        generation_observed_on_failure: ClassVar[bool] = False

    obj = widget()
    obj["status"] = {"observedGeneration": 2}
    setup = Setup(obj, Reconciler)
    setup.reconciler.failure = Failure("Broken", "broken")

    await setup.reconciler.reconcile(KEY)
    assert setup.status["observedGeneration"] == 2

    setup.reconciler.failure = None
    await setup.reconciler.reconcile(KEY)
    assert setup.status["observedGeneration"] == 3


async def test_a_kind_names_its_ready_reason_and_retry_interval() -> None:
    class Reconciler(WidgetReconciler):
        ready_reason: ClassVar[str] = "ReconciliationSucceeded"

        def retry_interval(self, obj: Widget) -> float | None:
            return 30.0

    setup = Setup(widget(), Reconciler)
    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=120)
    assert setup.condition("Ready")["reason"] == "ReconciliationSucceeded"

    setup.reconciler.failure = Failure("Broken", "broken")
    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=30.0)


async def test_a_failure_that_is_not_retried_may_ask_to_be_checked_again() -> None:
    setup = Setup(widget())
    setup.reconciler.failure = Failure(
        "DependencyNotReady", "waiting for the base", retry=False, requeue_after=10
    )

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=10)

    assert setup.condition("Stalled") is None
    assert setup.events() == [("Warning", "DependencyNotReady", "waiting for the base")]


async def test_a_rerun_writes_the_status_as_left_tells_nothing_and_runs_again_at_once() -> None:
    setup = Setup(widget())
    setup.reconciler.result = RERUN

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=0)

    assert setup.status["size"] == 2
    assert setup.status["observedGeneration"] == 3
    assert "conditions" not in setup.status, "no outcome: Ready is not set"
    assert setup.kube.events == []


async def test_on_stored_runs_after_the_write_and_only_on_success() -> None:
    setup = Setup(widget())
    writes_seen: list[int] = []
    setup.reconciler.result = Ready(
        "widget built", on_stored=lambda: writes_seen.append(len(setup.kube.status_writes))
    )

    await setup.reconciler.reconcile(KEY)
    assert writes_seen == [1], "after the status was written"

    await setup.reconciler.reconcile(KEY)
    assert writes_seen == [1, 1], "also when the status was found as it was"

    setup.reconciler.failure = Failure("Broken", "broken")
    await setup.reconciler.reconcile(KEY)
    assert writes_seen == [1, 1]


class OrderedWidgetReconciler(FinalizedWidgetReconciler):
    ordering: ClassVar[Ordering] = Ordering(
        finalizer_when_suspended=False, events_before_status=True
    )


@pytest.mark.parametrize(
    ("reconciler", "calls"),
    [
        (WidgetReconciler, ["status", "event", "event"]),
        (OrderedWidgetReconciler, ["event", "status", "event"]),
    ],
)
async def test_a_kind_may_record_its_events_before_the_status(
    reconciler: type[WidgetReconciler], calls: list[str]
) -> None:
    setup = Setup(widget(), reconciler)
    setup.reconciler.result = Ready("widget built", events=(("Warning", "Resized", "to 2"),))

    await setup.reconciler.reconcile(KEY)

    assert setup.kube.calls == calls
    assert setup.events()[-1] == ("Normal", "Succeeded", "widget built"), "Ready after the write"


async def test_a_kind_may_add_its_finalizer_only_once_not_suspended() -> None:
    setup = Setup(widget(suspend=True), OrderedWidgetReconciler)

    assert await setup.reconciler.reconcile(KEY) == Success()
    assert setup.kube.patches == []
    assert "finalizers" not in setup.cache.objects[KEY]["metadata"]

    setup.cache.objects[KEY]["spec"]["suspend"] = False
    await setup.reconciler.reconcile(KEY)
    assert setup.cache.objects[KEY]["metadata"]["finalizers"] == ["example.com/finalizer"]
    assert setup.reconciler.runs == 1


class SlowFinalizer(FinalizedWidgetReconciler):
    def __init__(self, kube: KubeClient, cache: FakeCache) -> None:
        super().__init__(kube, cache)
        self.finalize_result: float | Failure | None = None

    async def finalize(self, obj: Widget) -> float | None:
        await super().finalize(obj)
        if isinstance(self.finalize_result, Failure):
            raise self.finalize_result
        return self.finalize_result


def deleted_widget() -> dict[str, Any]:
    obj = widget()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    obj["metadata"]["finalizers"] = ["example.com/finalizer"]
    return obj


async def test_a_finalize_that_must_look_again_keeps_the_finalizer() -> None:
    setup = Setup(deleted_widget(), SlowFinalizer)
    reconciler = cast(SlowFinalizer, setup.reconciler)
    reconciler.finalize_result = 2.0

    assert await reconciler.reconcile(KEY) == Success(requeue_after=2.0)
    assert setup.kube.patches == []

    reconciler.finalize_result = None
    assert await reconciler.reconcile(KEY) == Success()
    assert setup.cache.objects[KEY]["metadata"]["finalizers"] == []
    assert reconciler.finalized == ["web", "web"]


async def test_a_failed_finalize_is_told_keeps_the_finalizer_and_is_retried() -> None:
    setup = Setup(deleted_widget(), SlowFinalizer)
    reconciler = cast(SlowFinalizer, setup.reconciler)
    reconciler.finalize_result = Failure("PruneFailed", "deletion: forbidden")

    assert await reconciler.reconcile(KEY) == TransientFailure(max_delay=120)

    assert setup.kube.patches == []
    assert setup.kube.status_writes == []
    assert setup.events() == [("Warning", "PruneFailed", "deletion: forbidden")]


class ProgressWidgetReconciler(WidgetReconciler):
    """Shows ``size`` 0 while it works, then the spec's size (or ``final``)."""

    final: int | None = None

    async def pipeline(self, obj: Widget, status: WidgetStatus) -> Ready | Waiting | Rerun:
        progress = status.model_copy(update={"size": 0})
        await self.write_progress(obj, progress)
        status.size = obj.spec.size if self.final is None else self.final
        return Ready("widget built")


async def test_the_final_write_compares_with_the_progress_written_meanwhile() -> None:
    setup = Setup(widget(), ProgressWidgetReconciler)
    await setup.reconciler.reconcile(KEY)
    assert [w["status"].get("size") for w in setup.kube.status_writes] == [0, 2]

    # The stored status is the final one again, but the progress replaced it: written.
    await setup.reconciler.reconcile(KEY)
    assert [w["status"].get("size") for w in setup.kube.status_writes] == [0, 2, 0, 2]


async def test_a_final_status_equal_to_the_progress_is_not_written_again() -> None:
    setup = Setup(widget(), ProgressWidgetReconciler)
    await setup.reconciler.reconcile(KEY)
    cast(ProgressWidgetReconciler, setup.reconciler).final = 0
    written = len(setup.kube.status_writes)

    await setup.reconciler.reconcile(KEY)

    assert len(setup.kube.status_writes) == written + 1, "the progress only"
    assert setup.reconciler._progress == {}, "forgotten once the run is over"
