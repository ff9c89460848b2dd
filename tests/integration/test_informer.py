"""Informers keep a current copy of a kind from one list and one watch."""

from __future__ import annotations

import asyncio

import pytest

from ground.wait import eventually
from lockstep.kube import KubeClient, ObjectRef
from lockstep.runtime.informer import Change, Informer

pytestmark = pytest.mark.integration


def _config_map(namespace: str, name: str, colour: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"colour": colour},
    }


async def test_informer_lists_then_follows_changes(kube: KubeClient, namespace: str) -> None:
    await kube.apply(_config_map(namespace, "first", "blue"))
    informer = Informer(kube, "v1", "ConfigMap", namespace=namespace)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), timeout=10)
        assert informer.get((namespace, "first"))["data"] == {"colour": "blue"}  # type: ignore[index]

        await kube.apply(_config_map(namespace, "first", "green"))
        await kube.apply(_config_map(namespace, "second", "red"))
        await kube.delete(ObjectRef("v1", "ConfigMap", "first", namespace))

        async def seen() -> list[tuple[str, str]]:
            return [(c.type, c.key[1]) for c in changes if c.key[1] in {"first", "second"}]

        await eventually(
            seen,
            lambda s: s[-3:] == [("MODIFIED", "first"), ("ADDED", "second"), ("DELETED", "first")],
            within=10,
            what="watch events for first and second",
        )
        assert informer.get((namespace, "first")) is None
        assert informer.get((namespace, "second"))["data"] == {"colour": "red"}  # type: ignore[index]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_relist_reports_what_changed_while_not_watching(
    kube: KubeClient, namespace: str
) -> None:
    await kube.apply(_config_map(namespace, "kept", "blue"))
    await kube.apply(_config_map(namespace, "removed", "blue"))
    informer = Informer(kube, "v1", "ConfigMap", namespace=namespace)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    await informer._relist()
    changes.clear()

    await kube.delete(ObjectRef("v1", "ConfigMap", "removed", namespace))
    await kube.apply(_config_map(namespace, "kept", "green"))
    await kube.apply(_config_map(namespace, "added", "blue"))
    await informer._relist()

    reported = sorted((c.type, c.key[1]) for c in changes if c.key[1] != "kube-root-ca.crt")
    assert reported == [("ADDED", "added"), ("DELETED", "removed"), ("MODIFIED", "kept")]
