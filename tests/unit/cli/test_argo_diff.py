"""The parts of ``lockstep app diff`` that decide without the cluster: which sources it
renders for ``--revision`` and ``--local``, and which objects of the status it shows as
deletions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockstep.api.argo import Application
from lockstep.cli.argo_diff import DiffRequest, _no_longer_rendered, _sources
from lockstep.cli.context import UserError


def application(**spec: Any) -> Application:
    return Application.model_validate(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "destination": {"namespace": "shop"},
                "source": {"repoURL": "https://git.example/a.git", "path": "web"},
                **spec,
            },
            "status": {
                "resources": [
                    {"version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "kept"},
                    {"version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "gone"},
                    {"group": "batch", "version": "v1", "kind": "Job", "namespace": "shop",
                     "name": "hook", "hook": True},
                ]
            },
        }
    )  # fmt: skip


def test_only_objects_no_longer_rendered_are_shown_as_deletions() -> None:
    rendered = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "namespace": "shop"}}
    ]

    stale = _no_longer_rendered(application(), rendered)

    assert [entry.id for entry in stale] == ["shop_gone__ConfigMap"]


def test_revision_and_local_replace_the_one_source(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "overlays" / "prod").mkdir(parents=True)
    app = application()

    [at] = _sources(app, DiffRequest({}, "argocd", revision="v2"))
    [local] = _sources(app, DiffRequest({}, "argocd", local=tmp_path / "overlays" / "prod"))

    assert at.target_revision == "v2"
    assert local.path == "overlays/prod"


def test_revision_is_refused_for_several_sources() -> None:
    sources = [{"repoURL": "https://git.example/a.git", "path": p} for p in ("a", "b")]
    app = application(source=None, sources=sources)

    with pytest.raises(UserError, match="this Application has 2"):
        _sources(app, DiffRequest({}, "argocd", revision="v2"))
