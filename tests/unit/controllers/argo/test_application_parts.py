"""The parts of the Application reconciler that decide without the cluster: which changes
ask for a reconcile, which sources a requested sync names, which objects a partial sync
covers, how a retry's backoff is read, whose an object is by its tracking id."""

from __future__ import annotations

from typing import Any

from lockstep.api.argo import ApplicationSource, Operation, OperationState, SyncOperationResource
from lockstep.controllers.argo.application import Desired, _same_spec, application_changed
from lockstep.controllers.argo.operations import (
    _seconds,
    chosen_resources,
    requested_sources,
    retry_wait,
    synced_revisions,
)
from lockstep.controllers.argo.owner import tracked_application
from lockstep.runtime.informer import Change

OLD, NEW = "1" * 40, "2" * 40


def app(**fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "argocd", **fields.pop("metadata", {})},
        "spec": {"project": "default"},
        **fields,
    }


def test_a_status_write_asks_for_nothing_and_a_spec_or_operation_change_does() -> None:
    before = app(status={"sync": {"status": "OutOfSync"}})

    def asks(after: dict[str, Any]) -> bool:
        return application_changed(Change("MODIFIED", ("argocd", "web"), after, previous=before))

    assert not asks(app(status={"sync": {"status": "Synced"}}))
    assert asks(app(operation={"sync": {}}))
    assert asks({**app(), "spec": {"project": "other"}})
    assert asks(app(metadata={"annotations": {"argocd.argoproj.io/refresh": "normal"}}))


def source(revision: str) -> ApplicationSource:
    return ApplicationSource.model_validate(
        {"repoURL": "https://git.example/apps.git", "targetRevision": revision, "path": "app"}
    )


def test_a_sync_of_another_revision_names_its_sources() -> None:
    desired = Desired([], [NEW], ["Directory"])
    sources = [source("main")]

    back = requested_sources(
        sources, desired, Operation.model_validate({"sync": {"revision": OLD}})
    )

    assert back is not None
    assert [s.target_revision for s in back] == [OLD]
    for same in (NEW, "main", ""):
        request = Operation.model_validate({"sync": {"revision": same}})
        assert requested_sources(sources, desired, request) is None
    assert requested_sources(sources, desired, None) is None


def test_a_partial_sync_covers_the_objects_it_names() -> None:
    chosen = chosen_resources([SyncOperationResource(group="apps", kind="Deployment", name="web")])
    every = chosen_resources([])
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
    }

    assert chosen(deployment)
    assert not chosen(service)
    assert every(service)


def test_backoff_durations_are_go_durations_or_seconds() -> None:
    assert _seconds("5s", 1) == 5
    assert _seconds("3m", 1) == 180
    assert _seconds("10", 1) == 10
    assert _seconds(None, 7) == 7
    assert _seconds("soon", 7) == 7


def test_the_revisions_an_operation_synced() -> None:
    single = OperationState.model_validate({"syncResult": {"revision": OLD}})
    multi = OperationState.model_validate({"syncResult": {"revisions": [OLD, NEW]}})

    assert synced_revisions(single) == [OLD]
    assert synced_revisions(multi) == [OLD, NEW]
    assert synced_revisions(None) == []


def test_the_owner_of_an_object_is_read_from_its_tracking_id() -> None:
    def tracked(tracking: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "settings",
                "namespace": "shop",
                "annotations": {"argocd.argoproj.io/tracking-id": tracking},
            },
        }

    assert tracked_application("argocd", tracked("web:/ConfigMap:shop/settings")) == (
        "argocd",
        "web",
    )
    assert tracked_application("argocd", tracked("team_web:/ConfigMap:shop/settings")) == (
        "team",
        "web",
    )
    assert tracked_application("argocd", tracked("web:/ConfigMap:shop/copied-from")) is None


def test_a_source_object_is_the_same_whatever_defaults_the_server_added() -> None:
    manifest = {"metadata": {"labels": {"lockstep.io/argo-source": "true"}}, "spec": {"url": "u"}}
    cached = {
        "metadata": {"labels": {"lockstep.io/argo-source": "true", "other": "x"}},
        "spec": {"url": "u", "timeout": "60s"},
    }

    assert _same_spec(cached, manifest)
    assert not _same_spec({**cached, "spec": {"url": "v"}}, manifest)


def test_a_failed_sync_is_retried_after_its_backoff_up_to_the_limit() -> None:
    from datetime import UTC, datetime, timedelta

    from lockstep.api.argo import Backoff, RetryStrategy

    at = datetime(2026, 1, 1, tzinfo=UTC)
    retry = RetryStrategy(limit=2, backoff=Backoff(duration="5s", factor=2, max_duration="1m"))
    first = OperationState(phase="Failed", finished_at=at, retry_count=None)
    assert retry_wait(retry, first, at) == 5
    second = OperationState(phase="Failed", finished_at=at, retry_count=1)
    assert retry_wait(retry, second, at + timedelta(seconds=4)) == 6
    assert retry_wait(retry, OperationState(phase="Failed", retry_count=2), at) is None
    assert retry_wait(None, first, at) is None
    forever = RetryStrategy(limit=-1, backoff=Backoff(duration="5s", factor=2, max_duration="8s"))
    assert (
        retry_wait(forever, OperationState(phase="Failed", finished_at=at, retry_count=9), at) == 8
    )
