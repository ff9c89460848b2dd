"""``lockstep build`` / ``diff`` on a local checkout, which is built as it is (no artifact
packing drops its links): a kustomization file linked out of the repository is refused,
and the file it points to is left as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ground.kustomizations import kustomization
from lockstep.cli.build import _render_folder
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.render.errors import ForbiddenReference

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
OUTSIDE = "resources: [configmap.yaml]\n"


def test_kustomization_linked_out_of_the_checkout_is_refused_and_untouched(
    tmp_path: Path,
) -> None:
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    app = repository / "apps" / "web"
    app.mkdir(parents=True)
    (app / "configmap.yaml").write_text(CONFIG_MAP)
    outside = tmp_path / "home" / "kustomization.yaml"
    outside.parent.mkdir()
    outside.write_text(OUTSIDE)
    os.symlink(outside, app / "kustomization.yaml")
    web = kustomization("web", "apps", targetNamespace="pwned")

    with pytest.raises(ForbiddenReference, match=r"^apps/web/kustomization.yaml is a symbolic"):
        _render_folder(web, app, BuildInputs())

    assert outside.read_text() == OUTSIDE
