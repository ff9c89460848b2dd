"""Waiting for a deleted object to be gone before it is created again."""

from __future__ import annotations

from typing import cast

from lockstep.apply.wait import wait_until_deleted
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

JOB = ObjectRef("batch/v1", "Job", "migrate", "apps")


class _Reads:
    """Answers ``get`` with the given objects one after the other, then NotFound."""

    def __init__(self, *answers: KubeObject) -> None:
        self.answers = list(answers)
        self.reads = 0

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.reads += 1
        if not self.answers:
            raise NotFound(f"{ref} not found", code=404)
        return self.answers.pop(0)


def _job(uid: str, *finalizers: str) -> KubeObject:
    return {"metadata": {"name": "migrate", "uid": uid, "finalizers": list(finalizers)}}


async def test_gone_after_a_few_reads() -> None:
    kube = _Reads(_job("1"), _job("1"))
    reason = await wait_until_deleted(cast(KubeClient, kube), JOB, "1", within=60, interval=0)
    assert reason == ""
    assert kube.reads == 3


async def test_another_instance_under_the_name_means_ours_is_gone() -> None:
    kube = _Reads(_job("2"))
    assert await wait_until_deleted(cast(KubeClient, kube), JOB, "1", within=60, interval=0) == ""


async def test_time_up_names_the_finalizers_that_hold_it() -> None:
    kube = _Reads(_job("1", "example.com/hold", "example.com/other"))
    reason = await wait_until_deleted(cast(KubeClient, kube), JOB, "1", within=0, interval=0)
    assert reason == (
        "still there 0s after it was deleted, held by finalizers "
        "example.com/hold, example.com/other"
    )
