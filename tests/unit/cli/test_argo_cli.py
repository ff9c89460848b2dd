"""``lockstep app`` and ``lockstep proj`` without a cluster: the Application ``app create``
builds and ``app set`` changes, the patches sent to the engine, what the commands print of
an Application or AppProject, and the states ``app sync`` and ``app wait`` wait for, in
fake time."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console, RenderableType
from typer.testing import CliRunner

from lockstep.cli.argo import kubeconfig_user, poll
from lockstep.cli.argo_objects import (
    SpecFlags,
    SyncPolicyChoice,
    application_row,
    application_view,
    applications_table,
    awaited,
    finalizer_patch,
    finished_sync,
    history_table,
    last_seen,
    project_row,
    project_view,
    projects_table,
    reached,
    rollback_patch,
    short_revision,
    sync_request,
    sync_results_table,
    sync_summary,
    with_flags,
)
from lockstep.cli.context import CliState, UserError
from lockstep.cli.main import app
from lockstep.cli.waiting import POLL_SECONDS, TimedOut
from lockstep.kube import KubeObject

runner = CliRunner()

SHA = "0123456789abcdef0123456789abcdef01234567"
IN_CLUSTER = "https://kubernetes.default.svc"


def export(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["app", "create", *args, "--export"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("---\n")
    manifest: dict[str, Any] = yaml.safe_load(result.stdout)
    return manifest


def refusal(*args: str) -> tuple[int, str]:
    """The exit code and message of a command that must fail, as ``lockstep`` prints them."""
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, UserError):
        return result.exception.code, str(result.exception)
    return result.exit_code, result.output


def text(renderable: RenderableType) -> list[str]:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]


def cells(lines: list[str]) -> list[list[str]]:
    return [line.split() for line in lines]


def application(**status: Any) -> KubeObject:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "apps", "resourceVersion": "7"},
        "spec": {
            "project": "team",
            "source": {"repoURL": "https://git.example/apps.git", "path": "guestbook"},
            "destination": {"server": IN_CLUSTER, "namespace": "web"},
            "syncPolicy": {"automated": {"prune": True}},
        },
        "status": status,
    }


SUCCEEDED = {
    "phase": "Succeeded",
    "message": "successfully synced (all tasks run)",
    "startedAt": "2026-12-07T10:00:05Z",
    "finishedAt": "2026-12-07T10:00:07Z",
    "syncResult": {
        "revision": SHA,
        "resources": [
            {
                "group": "batch",
                "version": "v1",
                "kind": "Job",
                "namespace": "web",
                "name": "migrate",
                "status": "Synced",
                "message": "synced",
                "hookType": "PreSync",
                "hookPhase": "Succeeded",
            },
            {
                "version": "v1",
                "kind": "ConfigMap",
                "namespace": "web",
                "name": "settings",
                "status": "Synced",
                "message": "synced",
            },
            {
                "version": "v1",
                "kind": "Secret",
                "namespace": "web",
                "name": "old",
                "status": "Pruned",
                "message": "pruned",
            },
        ],
    },
}

STATUS: dict[str, Any] = {
    "sync": {"status": "Synced", "revision": SHA},
    "health": {"status": "Progressing", "message": "rolling out"},
    "operationState": SUCCEEDED,
    "resources": [
        {
            "version": "v1",
            "kind": "ConfigMap",
            "namespace": "web",
            "name": "settings",
            "status": "Synced",
            "health": {"status": "Healthy"},
        },
        {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": "web",
            "name": "web",
            "status": "OutOfSync",
            "health": {"status": "Progressing", "message": "rolling out"},
        },
        {
            "version": "v1",
            "kind": "Secret",
            "namespace": "web",
            "name": "stale",
            "status": "OutOfSync",
            "requiresPruning": True,
        },
    ],
    "history": [
        {"id": 0, "revision": SHA, "deployedAt": "2026-12-07T09:00:00Z", "initiatedBy": {"automated": True}},
        {"id": 1, "revision": "1.2.0", "deployedAt": "2026-12-07T10:00:07Z", "initiatedBy": {"username": "jane"}},
    ],
}  # fmt: skip


# --- app create --export and app set -------------------------------------------------------


def test_create_exports_every_flag() -> None:
    assert export(
        "web", "-n", "apps", "--repo", "https://git.example/web.git", "--path", "chart",
        "--revision", "v2", "--dest-namespace", "web", "--project", "team",
        "--sync-policy", "automated", "--auto-prune", "--self-heal",
        "--sync-option", "CreateNamespace=true", "--sync-option", "PruneLast=true",
        "--helm-set", "replicas=2", "--helm-set", "image.tag=1.27",
        "--values", "values.yaml", "--values", "values-prod.yaml",
    ) == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "source": {
                "repoURL": "https://git.example/web.git",
                "path": "chart",
                "targetRevision": "v2",
                "helm": {
                    "valueFiles": ["values.yaml", "values-prod.yaml"],
                    "parameters": [
                        {"name": "replicas", "value": "2"},
                        {"name": "image.tag", "value": "1.27"},
                    ],
                },
            },
            "destination": {"server": IN_CLUSTER, "namespace": "web"},
            "project": "team",
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "PruneLast=true"],
            },
        },
    }  # fmt: skip


def test_create_defaults_to_argo_cds_namespace_the_default_project_and_this_cluster() -> None:
    manifest = export("guestbook", "--repo", "https://git.example/a.git", "--path", "guestbook",
                      "--dest-namespace", "default")  # fmt: skip
    assert manifest["metadata"] == {"name": "guestbook", "namespace": "argocd"}
    assert manifest["spec"] == {
        "source": {"repoURL": "https://git.example/a.git", "path": "guestbook"},
        "destination": {"server": IN_CLUSTER, "namespace": "default"},
        "project": "default",
    }
    named = export("guestbook", "--repo", "r", "--path", "p", "--dest-namespace", "default",
                   "--dest-name", "in-cluster")  # fmt: skip
    assert named["spec"]["destination"] == {"name": "in-cluster", "namespace": "default"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--auto-prune"], "Application argocd/web: --auto-prune applies to automated syncs"),
        (["--self-heal"], "--self-heal applies to automated syncs; add --sync-policy automated"),
        (["--dest-server", IN_CLUSTER, "--dest-name", "in-cluster"], "not both"),
        (["--helm-set", "replicas"], '--helm-set "replicas" is not key=value'),
        (["--sync-option", "=true"], '--sync-option "=true" is not key=value'),
        (["--sync-policy", "sometimes"], "Invalid value for '--sync-policy'"),
    ],
)
def test_create_refuses_flags_that_do_not_fit(flags: list[str], message: str) -> None:
    code, output = refusal(
        "app", "create", "web", "--repo", "r", "--path", "p", "--dest-namespace", "d", *flags,
        "--export",
    )  # fmt: skip
    assert code == 2
    assert message in output


def test_set_changes_what_the_flags_give_and_keeps_the_rest() -> None:
    spec = {
        "source": {
            "repoURL": "https://git.example/web.git",
            "path": "chart",
            "targetRevision": "v1",
            "helm": {"parameters": [{"name": "replicas", "value": "1"}], "releaseName": "web"},
        },
        "destination": {"name": "in-cluster", "namespace": "web"},
        "project": "team",
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["CreateNamespace=true", "PruneLast=true"],
        },
        "revisionHistoryLimit": 3,
    }
    changed = with_flags(
        "Application apps/web",
        spec,
        SpecFlags(
            revision="v2",
            dest_server=IN_CLUSTER,
            self_heal=False,
            sync_options=("PruneLast=false",),
            helm_sets=("replicas=3", "debug=true"),
        ),
    )
    assert changed == {
        "source": {
            "repoURL": "https://git.example/web.git",
            "path": "chart",
            "targetRevision": "v2",
            "helm": {
                "parameters": [
                    {"name": "replicas", "value": "3"},
                    {"name": "debug", "value": "true"},
                ],
                "releaseName": "web",
            },
        },
        "destination": {"server": IN_CLUSTER, "namespace": "web"},
        "project": "team",
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": False},
            "syncOptions": ["CreateNamespace=true", "PruneLast=false"],
        },
        "revisionHistoryLimit": 3,
    }
    assert spec["source"]["targetRevision"] == "v1", "the live spec is left as read"
    manual = with_flags("Application apps/web", spec, SpecFlags(sync_policy=SyncPolicyChoice.NONE))
    assert manual["syncPolicy"] == {"syncOptions": ["CreateNamespace=true", "PruneLast=true"]}
    assert with_flags("Application apps/web", spec, SpecFlags()) == spec


def test_set_turns_automated_sync_back_on_and_refuses_multi_source_changes() -> None:
    disabled = {
        "destination": {},
        "syncPolicy": {"automated": {"enabled": False, "prune": True}},
    }
    flags = SpecFlags(sync_policy=SyncPolicyChoice.AUTOMATED)
    assert with_flags("a", disabled, flags)["syncPolicy"] == {"automated": {"prune": True}}
    sources = {"sources": [{"repoURL": "a"}, {"repoURL": "b"}], "destination": {}}
    with pytest.raises(UserError, match=r"has several sources; change spec\.sources"):
        with_flags("Application apps/web", sources, SpecFlags(revision="v2"))
    assert with_flags("a", sources, SpecFlags(project="team"))["project"] == "team"


def test_set_without_a_flag_and_delete_without_a_terminal_refuse_before_connecting() -> None:
    assert refusal("app", "set", "web", "-n", "apps") == (
        2,
        "Application apps/web: nothing to change; give a flag, see --help",
    )
    code, message = refusal("app", "delete", "web")
    assert code == 2
    assert "asks before deleting Application argocd/web" in message
    assert message.endswith("add --yes")


# --- the requests ---------------------------------------------------------------------------


def test_a_sync_request_names_who_asked(tmp_path: Path) -> None:
    assert sync_request(True, "jane") == {
        "sync": {"prune": True},
        "initiatedBy": {"username": "jane"},
    }
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dev",
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "jane"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "jane", "user": {"token": "t"}}],
            }
        )
    )
    assert kubeconfig_user(CliState(kubeconfig, None, False)) == "jane"
    assert kubeconfig_user(CliState(tmp_path / "missing", None, False)) == "lockstep"


def test_the_finalizer_is_put_on_for_a_cascading_delete_and_taken_off_otherwise() -> None:
    bare = application()
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert finalizer_patch(bare, cascade=True) == [
        test,
        {"op": "add", "path": "/metadata/finalizers", "value": ["resources-finalizer.argocd.argoproj.io"]},
    ]  # fmt: skip
    assert finalizer_patch(bare, cascade=False) == []
    held = application()
    held["metadata"]["finalizers"] = ["other", "resources-finalizer.argocd.argoproj.io/background"]
    assert finalizer_patch(held, cascade=True) == []
    assert finalizer_patch(held, cascade=False) == [
        test,
        {"op": "add", "path": "/metadata/finalizers", "value": ["other"]},
    ]


# --- what is printed ------------------------------------------------------------------------


def test_list_rows_and_table() -> None:
    row = application_row(application(**STATUS))
    assert row.data() == {
        "namespace": "apps",
        "name": "guestbook",
        "sync": "Synced",
        "health": "Progressing",
        "revision": SHA,
        "project": "team",
    }
    unseen = application_row({"metadata": {"name": "new", "namespace": "apps"}, "spec": {}})
    assert (unseen.sync, unseen.health, unseen.revision, unseen.project) == (
        "Unknown", "Unknown", "", "default",
    )  # fmt: skip
    assert cells(text(applications_table([row, unseen], all_namespaces=True))) == [
        ["NAMESPACE", "NAME", "SYNC", "STATUS", "HEALTH", "STATUS", "REVISION", "PROJECT"],
        ["apps", "guestbook", "Synced", "Progressing", "0123456", "team"],
        ["apps", "new", "Unknown", "Unknown", "default"],
    ]
    assert text(applications_table([row], all_namespaces=False))[0].split()[0] == "NAME"


def test_get_shows_the_application_its_last_sync_conditions_and_objects() -> None:
    status = {
        **STATUS,
        "conditions": [{"type": "SyncError", "message": "hook failed", "lastTransitionTime": "t1"}],
    }
    lines = text(application_view(application(**status)))
    assert lines[:12] == [
        "Name:            apps/guestbook",
        "Project:         team",
        f"Server:          {IN_CLUSTER}",
        "Namespace:       web",
        "Source:",
        "- Repo:          https://git.example/apps.git",
        "  Path:          guestbook",
        "Sync Policy:     Automated (Prune)",
        "Sync Status:     Synced at 0123456",
        "Health Status:   Progressing: rolling out",
        "Last Operation:  Succeeded at 2026-12-07T10:00:05Z: successfully synced (all tasks run)",
        "",
    ]
    assert cells(lines[12:14]) == [
        ["CONDITION", "MESSAGE", "LAST", "TRANSITION"],
        ["SyncError", "hook", "failed", "t1"],
    ]
    assert cells(lines[15:]) == [
        ["KIND", "NAME", "STATUS", "HEALTH", "MESSAGE"],
        ["ConfigMap", "web/settings", "Synced", "Healthy"],
        ["Deployment", "web/web", "OutOfSync", "Progressing", "rolling", "out"],
        ["Secret", "web/stale", "OutOfSync", "requires", "pruning"],
    ]


def test_get_of_an_application_never_reconciled() -> None:
    obj = application()
    obj["operation"] = sync_request(False, "jane")
    lines = text(application_view(obj))
    assert "Sync Status:     Unknown" in lines
    assert "Last Operation:  pending" in lines
    assert lines[-1] == "Last Operation:  pending"


def test_sync_results_and_summary() -> None:
    obj = application(**STATUS)
    assert sync_summary(obj, SUCCEEDED) == (
        "Application apps/guestbook: sync Succeeded at 0123456: successfully synced (all tasks run)"
    )
    assert cells(text(sync_results_table(SUCCEEDED))) == [
        ["KIND", "NAME", "STATUS", "HOOK", "MESSAGE"],
        ["Job", "web/migrate", "Synced", "PreSync", "(Succeeded)", "synced"],
        ["ConfigMap", "web/settings", "Synced", "synced"],
        ["Secret", "web/old", "Pruned", "pruned"],
    ]


def test_history() -> None:
    assert cells(text(history_table(application(**STATUS)))) == [
        ["ID", "DATE", "REVISION", "INITIATED", "BY"],
        ["0", "2026-12-07T09:00:00Z", "0123456", "automated"],
        ["1", "2026-12-07T10:00:07Z", "1.2.0", "jane"],
    ]
    assert short_revision("v1.2.0") == "v1.2.0"


def test_projects() -> None:
    project = {
        "metadata": {"name": "team", "namespace": "argocd"},
        "spec": {
            "description": "the team's apps",
            "sourceRepos": ["https://git.example/*"],
            "destinations": [
                {"server": IN_CLUSTER, "namespace": "web"},
                {"name": "in-cluster", "namespace": "db"},
            ],
            "sourceNamespaces": ["apps"],
        },
    }
    row = project_row(project)
    assert (row.description, row.destinations, row.sources) == ("the team's apps", 2, 1)
    assert cells(text(projects_table([row], all_namespaces=False))) == [
        ["NAME", "DESCRIPTION", "DESTINATIONS", "SOURCES"],
        ["team", "the", "team's", "apps", "2", "1"],
    ]
    assert text(project_view(project)) == [
        "Name:                 argocd/team",
        "Description:          the team's apps",
        "Source Repositories:  https://git.example/*",
        f"Destinations:         {IN_CLUSTER} web, in-cluster db",
        "Source Namespaces:    apps",
        "Cluster Resources:    <none>",
        "Sync Windows:         0",
    ]


# --- the states waited for ------------------------------------------------------------------


def test_wait_conditions() -> None:
    both = awaited(sync=False, health=False)
    assert str(both) == "Synced and Healthy"
    assert str(awaited(sync=False, health=True)) == "Healthy"
    progressing = application(**STATUS)
    assert not reached(progressing, both)
    assert reached(progressing, awaited(sync=True, health=False))
    assert not reached(progressing, awaited(sync=False, health=True))
    healthy = application(**{**STATUS, "health": {"status": "Healthy"}})
    assert reached(healthy, both)
    healthy["operation"] = sync_request(False, "jane")
    assert not reached(healthy, both), "a requested sync is about to change the status"
    assert last_seen(healthy) == "Synced at 0123456, Healthy, a requested sync not started yet"
    failing = application(
        sync={"status": "Unknown"},
        conditions=[{"type": "ComparisonError", "message": "rendering failed"}],
    )
    assert last_seen(failing) == "Unknown, Unknown, ComparisonError: rendering failed"


def test_a_sync_is_finished_once_another_operation_has_ended() -> None:
    earlier = {**SUCCEEDED, "message": "the sync before"}
    finished = application(**STATUS)
    assert finished_sync(finished, earlier) == SUCCEEDED
    assert finished_sync(finished, {}) == SUCCEEDED
    assert finished_sync(finished, SUCCEEDED) is None, "the one seen before the request"
    running = application(operationState={**SUCCEEDED, "phase": "Running"})
    assert finished_sync(running, earlier) is None
    pending = application(**STATUS)
    pending["operation"] = sync_request(False, "jane")
    assert finished_sync(pending, earlier) is None
    failed = application(operationState={**SUCCEEDED, "phase": "Failed", "message": "boom"})
    assert finished_sync(failed, earlier) == {**SUCCEEDED, "phase": "Failed", "message": "boom"}
    assert finished_sync(application(), {}) is None


def test_a_rollback_turns_automated_sync_off_and_syncs_the_entry_s_revision() -> None:
    obj = application(**STATUS)
    obj["metadata"]["resourceVersion"] = "42"
    obj["spec"]["syncPolicy"] = {"automated": {"prune": True}, "syncOptions": ["A=b"]}

    patch = rollback_patch(obj, {"id": 3, "revision": "abc"}, "jane")

    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "remove", "path": "/spec/syncPolicy/automated"},
        {
            "op": "add",
            "path": "/operation",
            "value": {
                "sync": {"prune": False, "revision": "abc"},
                "initiatedBy": {"username": "jane"},
            },
        },
    ]
    del obj["spec"]["syncPolicy"]
    multi = rollback_patch(obj, {"id": 1, "revisions": ["a", "b"]}, "jane")
    assert [op["op"] for op in multi] == ["test", "add"]
    assert multi[-1]["value"]["sync"]["revisions"] == ["a", "b"]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reads(*seen: KubeObject) -> Any:
    states: Iterator[KubeObject] = iter(seen)
    last: list[KubeObject] = []

    async def read() -> KubeObject:
        last[:] = [next(states, last[0] if last else {})]
        return last[0]

    return read


async def test_poll_returns_what_the_check_finds() -> None:
    time = FakeTime()
    progressing, healthy = (
        application(**STATUS),
        application(**{**STATUS, "health": {"status": "Healthy"}}),
    )
    wanted = awaited(False, False)
    found = await poll(
        reads(progressing, progressing, healthy),
        lambda o: o if reached(o, wanted) else None,
        10,
        clock=time.clock,
        sleep=time.sleep,
    )  # fmt: skip
    assert found is healthy
    assert time.sleeps == [POLL_SECONDS, POLL_SECONDS]


async def test_poll_times_out_with_the_last_object_read() -> None:
    time = FakeTime()
    progressing = application(**STATUS)
    with pytest.raises(TimedOut) as timed_out:
        await poll(reads(progressing), lambda o: None, 3, clock=time.clock, sleep=time.sleep)
    assert timed_out.value.last is progressing
    assert time.now == 3
    assert len(time.sleeps) == int(3 / POLL_SECONDS)
