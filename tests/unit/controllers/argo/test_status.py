"""Argo CD's status from a comparison: the SharedResourceWarning of objects another
Application tracks, set by one comparison and removed by the next that finds none."""

from __future__ import annotations

from typing import Any

from lockstep.api.argo import Application, ApplicationStatus
from lockstep.apply import Action, Plan, PlannedObject
from lockstep.controllers.argo.status import (
    SHARED_RESOURCE_WARNING,
    Comparison,
    Desired,
    report,
    shared_resources,
)
from lockstep.controllers.argo.tracking import mark_tracked


def config_map(name: str, tracked_by: str | None = None) -> dict[str, Any]:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
    }
    if tracked_by is None:
        return manifest
    return mark_tracked(manifest, tracked_by, destination_namespace="shop")


def comparison(*lives: dict[str, Any] | None) -> Comparison:
    planned = [
        PlannedObject(desired=config_map(f"cm{i}"), action=Action.CONFIGURED, live=live)
        for i, live in enumerate(lives)
    ]
    return Comparison(
        Plan(objects=planned), [p.desired for p in planned], [], healths=[None] * len(planned)
    )


def application() -> Application:
    return Application.model_validate(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"project": "default", "destination": {"namespace": "shop"}},
        }
    )


def test_an_object_another_application_tracks_is_named_with_both() -> None:
    compared = comparison(
        config_map("cm0", tracked_by="apps_web"),
        config_map("cm1", tracked_by="other"),
        config_map("cm2"),
        None,
    )

    assert shared_resources(compared, "apps_web") == [
        "ConfigMap/cm1 is part of applications apps/web and other"
    ]


def test_report_sets_the_warning_and_a_later_comparison_without_sharing_removes_it() -> None:
    app = application()
    status = ApplicationStatus(controller_namespace="argocd")
    desired = Desired([], ["1" * 40], ["Directory"])

    report(app, status, comparison(config_map("cm0", tracked_by="web")), desired, None)

    [warning] = status.conditions
    assert warning.type == SHARED_RESOURCE_WARNING
    assert warning.message == "ConfigMap/cm0 is part of applications apps/web and web"

    report(app, status, comparison(config_map("cm0", tracked_by="apps_web")), desired, None)

    assert status.conditions == []
