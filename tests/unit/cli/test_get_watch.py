"""``lockstep get --watch`` when not in a terminal: the listing, then one line per real change,
resuming the watch where it ended and relisting after 410 Gone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lockstep.cli.get import Query, show_status
from lockstep.cli.objects import KUSTOMIZATION
from lockstep.cli.output import OutputFormat
from lockstep.kube import Expired, KubeObject, WatchEvent


class Stop(Exception):
    """Ends the otherwise endless watch of a test."""


def ks(name: str, version: str, ready: str = "True", suspend: bool = False) -> KubeObject:
    return {
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version},
        "spec": {"suspend": suspend},
        "status": {"conditions": [{"type": "Ready", "status": ready, "message": "m"}]},
    }


class WatchingKube:
    """Answers each list with the next of ``listings`` and each watch with the next of
    ``streams`` (events, or an error to raise)."""

    def __init__(
        self, listings: list[list[KubeObject]], streams: list[list[WatchEvent] | Exception]
    ) -> None:
        self.listings = listings
        self.streams = streams
        self.watched_from: list[str] = []

    async def __aenter__(self) -> WatchingKube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def resource_info(self, api_version: str, kind: str) -> None:
        return None

    async def list_with_version(self, *args: Any, **kwargs: Any) -> tuple[list[KubeObject], str]:
        return self.listings.pop(0), "10"

    async def watch(
        self, *args: Any, resource_version: str, **kwargs: Any
    ) -> AsyncIterator[WatchEvent]:
        self.watched_from.append(resource_version)
        if not self.streams:
            raise Stop
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        for event in stream:
            yield event


async def test_json_lines_for_each_change_only(capsys: pytest.CaptureFixture[str]) -> None:
    kube = WatchingKube(
        [
            [ks("apps", "10"), ks("other", "10", ready="False")],
            [ks("apps", "13", suspend=True), ks("other", "10", ready="False")],
        ],
        [
            [
                WatchEvent("MODIFIED", ks("apps", "11")),  # status rewritten, row unchanged
                WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
            ],
            [WatchEvent("MODIFIED", ks("apps", "13", suspend=True))],
            Expired("too old", code=410),
            [WatchEvent("DELETED", ks("apps", "14", suspend=True))],
        ],
    )
    query = Query((KUSTOMIZATION,), None, "ns", OutputFormat.JSON)
    with pytest.raises(Stop):
        await show_status(kube, query, watch=True)  # type: ignore[arg-type]
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(row["event"], row["name"], row["suspended"], row["ready"]) for row in rows] == [
        ("ADDED", "apps", False, "True"),
        ("ADDED", "other", False, "False"),
        ("MODIFIED", "apps", True, "True"),
        ("DELETED", "apps", True, "True"),
    ], "the relist after 410 changes nothing visible, so prints nothing"
    assert kube.watched_from == ["10", "12", "13", "10", "14"]
    assert kube.listings == [], "listed again after 410 Gone"


async def test_table_then_one_line_per_change(capsys: pytest.CaptureFixture[str]) -> None:
    kube = WatchingKube(
        [[ks("apps", "1"), ks("other", "1")]],
        [[WatchEvent("MODIFIED", ks("apps", "2", ready="False"))]],
    )
    query = Query((KUSTOMIZATION,), "apps", "ns", OutputFormat.TABLE)
    with pytest.raises(Stop):
        await show_status(kube, query, watch=True)  # type: ignore[arg-type]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:5] for line in lines] == [
        ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"],
        ["apps", "False", "True", "m", "<unknown>"],
        ["apps", "False", "False", "m", "<unknown>"],
    ]
