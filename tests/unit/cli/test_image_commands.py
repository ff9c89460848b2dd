"""The image automation verbs' surface: the columns ``get images`` shows for each kind, what
``reconcile image`` prints when it is done, and help with an example for every command."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from lockstep.cli.get import Query, render_tables
from lockstep.cli.main import app
from lockstep.cli.objects import FLUX_KINDS, IMAGE_KINDS, flux_kind_named
from lockstep.cli.output import OutputFormat, status_row, status_table
from lockstep.cli.reconcile import outcome

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
READY = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok"}

COMMANDS = [
    ["get", "images", "repository"],
    ["get", "images", "policy"],
    ["get", "images", "update"],
    ["get", "images", "all"],
    ["reconcile", "image", "repository"],
    ["reconcile", "image", "update"],
    ["suspend", "image", "repository"],
    ["suspend", "image", "update"],
    ["resume", "image", "repository"],
    ["resume", "image", "update"],
]


def image_object(kind: str, status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": kind,
        "metadata": {
            "name": "podinfo",
            "namespace": "flux-system",
            "creationTimestamp": "2025-06-01T11:58:00Z",
        },
        "spec": spec,
        "status": {"conditions": [READY], **status},
    }


def lines(rows: list[Any]) -> list[list[str]]:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(status_table(rows, now=NOW, all_namespaces=False))
    return [line.split() for line in console.export_text().splitlines()]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout


def test_image_kinds_are_named_as_everywhere_else() -> None:
    assert flux_kind_named("imagerepo") is IMAGE_KINDS[0]
    assert flux_kind_named("ImagePolicy") is IMAGE_KINDS[1]
    assert flux_kind_named("imageupdateautomations") is IMAGE_KINDS[2]


def test_repository_rows_show_the_last_scan() -> None:
    scanned = {"lastScanResult": {"tagCount": 3, "scanTime": "2025-06-01T11:59:30Z"}}
    row = status_row(image_object("ImageRepository", scanned, suspend=True), webhook_base_url="")
    assert lines([row]) == [
        ["NAME", "LAST", "SCAN", "SUSPENDED", "READY", "MESSAGE", "AGE"],
        ["podinfo", "2025-06-01T11:59:30Z", "True", "True", "ok", "2m"],
    ]
    assert row.data()["last_scan"] == "2025-06-01T11:59:30Z"


def test_policy_rows_show_the_latest_image_and_no_suspended_column() -> None:
    elected = {"latestRef": {"name": "ghcr.io/acme/app", "tag": "1.3.0"}}
    row = status_row(image_object("ImagePolicy", elected), webhook_base_url="")
    assert lines([row]) == [
        ["NAME", "LATEST", "IMAGE", "READY", "MESSAGE", "AGE"],
        ["podinfo", "ghcr.io/acme/app:1.3.0", "True", "ok", "2m"],
    ]


def test_a_v1beta2_policy_status_gives_the_latest_image_too() -> None:
    status = {"latestImage": "ghcr.io/acme/app:1.2.0"}
    row = status_row(image_object("ImagePolicy", status), webhook_base_url="")
    assert row.latest_image == "ghcr.io/acme/app:1.2.0"


def test_update_rows_show_the_last_run() -> None:
    ran = {"lastAutomationRunTime": "2025-06-01T11:59:00Z", "lastPushCommit": "abc"}
    row = status_row(image_object("ImageUpdateAutomation", ran), webhook_base_url="")
    assert lines([row])[0] == ["NAME", "LAST", "RUN", "SUSPENDED", "READY", "MESSAGE", "AGE"]
    assert lines([row])[1][:2] == ["podinfo", "2025-06-01T11:59:00Z"]
    assert "webhook_url" not in row.data()


def test_a_repository_never_scanned_shows_an_empty_last_scan() -> None:
    row = status_row(image_object("ImageRepository", {}), webhook_base_url="")
    assert row.kind_column() == ("LAST SCAN", "")


def test_get_all_shows_images_between_sources_and_kustomizations() -> None:
    kinds = [kind.kind for kind in FLUX_KINDS]
    assert kinds.index("OCIRepository") < kinds.index("ImageRepository")
    assert kinds.index("ImageUpdateAutomation") < kinds.index("Kustomization")
    rows = [
        status_row(image_object(kind.kind, {}), webhook_base_url="")
        for kind in reversed(IMAGE_KINDS)
    ]
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(
        render_tables(Query(IMAGE_KINDS, None, "flux-system", OutputFormat.TABLE), rows, NOW)
    )
    names = [line.split()[0] for line in console.export_text().splitlines() if "podinfo" in line]
    assert names == [
        "imagerepository/podinfo",
        "imagepolicy/podinfo",
        "imageupdateautomation/podinfo",
    ]


def test_reconcile_image_repository_prints_the_tag_count() -> None:
    scanned = image_object("ImageRepository", {"lastScanResult": {"tagCount": 12}})
    assert outcome(scanned) == "scan fetched 12 tags"


def test_reconcile_image_update_prints_a_new_commit_or_up_to_date() -> None:
    before = image_object("ImageUpdateAutomation", {"lastPushCommit": "aaa"})
    pushed = image_object("ImageUpdateAutomation", {"lastPushCommit": "bbb"})
    assert outcome(pushed, before=before) == "pushed commit bbb"
    assert outcome(before, before=before) == "repository up-to-date"
    never = image_object("ImageUpdateAutomation", {})
    assert outcome(never, before=never) == "repository up-to-date"
    assert outcome(pushed, before=never) == "pushed commit bbb"
