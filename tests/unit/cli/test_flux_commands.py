"""The flux-style commands' surface: help with examples, usage errors, events and trace output."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console
from typer.testing import CliRunner

from lockstep.cli.events import events_table, is_about_served_kind, lockstep_events
from lockstep.cli.main import app
from lockstep.cli.objects import flux_kind_named, kind_named
from lockstep.cli.trace import Trace, trace_report
from lockstep.kube import KubeObject, ObjectRef

COMMANDS = [
    ["get", "sources", "git"],
    ["get", "sources", "oci"],
    ["get", "sources", "helm"],
    ["get", "sources", "chart"],
    ["get", "sources", "all"],
    ["get", "kustomizations"],
    ["get", "helmreleases"],
    ["get", "receivers"],
    ["get", "all"],
    ["tree", "kustomization"],
    ["tree", "helmrelease"],
    ["build", "helmrelease"],
    ["diff", "helmrelease"],
    ["events"],
    ["trace"],
    ["reconcile", "source", "git"],
    ["reconcile", "source", "oci"],
    ["reconcile", "kustomization"],
    ["reconcile", "source", "helm"],
    ["reconcile", "source", "chart"],
    ["reconcile", "helmrelease"],
    ["suspend", "source", "git"],
    ["suspend", "source", "oci"],
    ["suspend", "kustomization"],
    ["suspend", "helmrelease"],
    ["resume", "source", "git"],
    ["resume", "source", "oci"],
    ["resume", "kustomization"],
    ["resume", "helmrelease"],
    ["create", "source", "git"],
    ["create", "source", "oci"],
    ["create", "kustomization"],
    ["create", "helmrelease"],
    ["delete", "source", "git"],
    ["delete", "source", "oci"],
    ["delete", "kustomization"],
    ["delete", "helmrelease"],
    ["delete", "source", "helm"],
    ["delete", "source", "chart"],
    ["export", "helmrelease"],
    ["export", "source", "helm"],
    ["export", "source", "chart"],
]


def text(renderable: object) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).stdout


@pytest.mark.parametrize(
    "args",
    [
        ["get", "ks", "-o", "xml"],
        ["reconcile", "ks", "apps", "--timeout", "soon"],
        ["create", "ks", "apps"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert CliRunner().invoke(app, args).exit_code == 2


def test_kinds_are_found_by_their_usual_spellings() -> None:
    assert kind_named("ks") == ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert kind_named("gitrepo") == ("source.toolkit.fluxcd.io/v1", "GitRepository")
    assert kind_named("Deployment") == ("apps/v1", "Deployment")
    assert kind_named("cm") == ("v1", "ConfigMap")
    assert kind_named("certificate") is None
    assert flux_kind_named("Receivers") is not None


def event(kind: str, name: str, at: str, reason: str = "Progressing") -> KubeObject:
    api_version = {"Kustomization": "kustomize.toolkit.fluxcd.io/v1", "Pod": "v1"}[kind]
    return {
        "metadata": {"namespace": "flux-system", "creationTimestamp": at},
        "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name},
        "type": "Warning" if reason.endswith("Failed") else "Normal",
        "reason": reason,
        "message": f"{reason} {name}",
    }


class Events:
    def __init__(self, *listed: KubeObject) -> None:
        self.listed = list(listed)

    async def list(self, api_version: str, kind: str, *, namespace: str | None) -> list[KubeObject]:
        assert (api_version, kind) == ("v1", "Event")
        return self.listed


async def test_events_are_lockstep_kinds_only_oldest_first() -> None:
    newer = event("Kustomization", "apps", "2025-06-01T12:00:05Z", "BuildFailed")
    older = event("Kustomization", "infra", "2025-06-01T12:00:00Z")
    pod = event("Pod", "web", "2025-06-01T12:00:01Z")
    found = await lockstep_events(Events(newer, pod, older), "flux-system")  # type: ignore[arg-type]
    assert found == [older, newer]
    assert not is_about_served_kind(pod)
    now = datetime(2025, 6, 1, 12, 1, tzinfo=UTC)
    lines = text(events_table(found, now=now, all_namespaces=False)).splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[2].split() == [
        "55s",
        "Warning",
        "BuildFailed",
        "Kustomization/apps",
        "BuildFailed",
        "apps",
    ]


def test_trace_report_shows_the_chain() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"path": "./apps"},
        "status": {
            "lastAppliedRevision": "main@sha1:abc",
            "inventory": {"entries": [{"id": "apps_web_apps_Deployment", "v": "v1"}]},
            "conditions": [
                {"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:abc"}
            ],
        },
    }
    source_ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "repo", "flux-system")
    source = {
        "spec": {"url": "https://example.com/repo.git"},
        "status": {"artifact": {"revision": "main@sha1:abc"}},
    }
    shown = text(trace_report(Trace(deployment, kustomization, source_ref, source)))
    assert [line.strip().split(maxsplit=1) for line in shown.splitlines()] == [
        ["Object", "Deployment/apps/web"],
        ["Kustomization", "Kustomization/flux-system/apps"],
        ["Path", "./apps"],
        ["Revision", "main@sha1:abc"],
        ["Ready", "True: Applied revision: main@sha1:abc"],
        ["Source", "GitRepository/flux-system/repo"],
        ["URL", "https://example.com/repo.git"],
        ["Revision", "main@sha1:abc"],
        ["Ready", "Unknown: waiting to be reconciled"],
    ]
    kustomization["status"]["inventory"]["entries"] = []  # type: ignore[index]
    orphaned = text(trace_report(Trace(deployment, kustomization, source_ref, None)))
    assert "not in the Kustomization's inventory" in orphaned
    assert orphaned.splitlines()[-1].split() == ["not", "found"]
