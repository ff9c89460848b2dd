"""What ``lockstep get`` prints: status rows, ages, tables and data."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from rich.console import Console

from lockstep.cli.get import Query, render_tables
from lockstep.cli.objects import FLUX_KINDS, KUSTOMIZATION
from lockstep.cli.output import OutputFormat, age, data_text, status_row, status_table

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ready(status: str, message: str) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "message": message, "reason": "X"}


def kustomization(name: str = "apps", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": name,
            "namespace": "flux-system",
            "creationTimestamp": "2025-06-01T11:00:00Z",
        },
        "spec": {"suspend": False},
        "status": status,
    }


def text(renderable: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=3, seconds=20), "3m20s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=45, seconds=10), "45m"),
        (timedelta(hours=5, minutes=30), "5h30m"),
        (timedelta(hours=30, minutes=5), "30h"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=300), "300d"),
        (timedelta(days=800), "2y70d"),
    ],
)
def test_age_loses_precision_as_it_grows(elapsed: timedelta, shown: str) -> None:
    assert age(NOW - elapsed, NOW) == shown


def test_age_of_an_unknown_or_future_time() -> None:
    assert age(None, NOW) == "<unknown>"
    assert age(NOW + timedelta(seconds=5), NOW) == "0s", "clock skew shows as just now"


def test_kustomization_row_shows_the_applied_revision_and_ready() -> None:
    obj = kustomization(
        lastAppliedRevision="main@sha1:abc",
        conditions=[ready("False", "kustomization path not found")],
    )
    row = status_row(obj, webhook_base_url="http://127.0.0.1:9292")
    assert (row.name, row.namespace, row.revision) == ("apps", "flux-system", "main@sha1:abc")
    assert (row.ready, row.message, row.suspended) == (
        "False",
        "kustomization path not found",
        False,
    )
    assert "webhook_url" not in row.data()


def test_source_row_shows_the_artifact_revision() -> None:
    obj = {
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "ns"},
        "spec": {"suspend": True},
        "status": {"artifact": {"revision": "main@sha1:def"}, "conditions": [ready("True", "ok")]},
    }
    row = status_row(obj, webhook_base_url="")
    assert (row.revision, row.suspended, row.ready) == ("main@sha1:def", True, "True")


def test_an_object_never_reconciled_is_unknown() -> None:
    row = status_row(kustomization(), webhook_base_url="")
    assert (row.ready, row.message, row.revision) == ("Unknown", "waiting to be reconciled", "")


def test_receiver_row_joins_the_webhook_path_to_the_base_url() -> None:
    obj = {
        "kind": "Receiver",
        "metadata": {"name": "github", "namespace": "ns"},
        "status": {"webhookPath": "/hook/abc123", "conditions": [ready("True", "ok")]},
    }
    row = status_row(obj, webhook_base_url="https://hooks.example.com/")
    assert row.webhook_url == "https://hooks.example.com/hook/abc123"
    assert text(status_table([row], now=NOW, all_namespaces=False)).split()[:6] == [
        "NAME",
        "WEBHOOK",
        "SUSPENDED",
        "READY",
        "MESSAGE",
        "AGE",
    ]


def test_table_has_flux_columns_and_a_namespace_column_with_all_namespaces() -> None:
    row = status_row(
        kustomization(lastAppliedRevision="main@sha1:abc", conditions=[ready("True", "Applied")]),
        webhook_base_url="",
    )
    lines = text(status_table([row], now=NOW, all_namespaces=True)).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "REVISION",
        "SUSPENDED",
        "READY",
        "MESSAGE",
        "AGE",
    ]
    assert lines[1].split() == [
        "flux-system",
        "apps",
        "main@sha1:abc",
        "False",
        "True",
        "Applied",
        "60m",
    ]


def test_get_all_prefixes_names_with_their_kind() -> None:
    rows = [
        status_row(kustomization("b"), webhook_base_url=""),
        status_row(kustomization("a"), webhook_base_url=""),
    ]
    query = Query(FLUX_KINDS, None, "flux-system", OutputFormat.TABLE)
    names = [line.split()[0] for line in text(render_tables(query, rows, NOW)).splitlines()[1:]]
    assert names == ["kustomization/a", "kustomization/b"]


def test_single_kind_tables_show_bare_names() -> None:
    query = Query((KUSTOMIZATION,), None, "flux-system", OutputFormat.TABLE)
    shown = text(render_tables(query, [status_row(kustomization(), webhook_base_url="")], NOW))
    assert shown.splitlines()[1].split()[0] == "apps"


def test_data_output_is_json_or_yaml_of_the_rows() -> None:
    data = [status_row(kustomization(), webhook_base_url="").data()]
    assert yaml.safe_load(data_text(data, OutputFormat.YAML)) == data
    assert yaml.safe_load(data_text(data, OutputFormat.JSON)) == data
    assert data[0]["created"] == "2025-06-01T11:00:00Z"
