"""A kustomization file that is a symbolic link: never followed out of the artifact,
never written through.

The build rewrites the path's kustomization file with the spec's options; a link there
must be replaced by a file in the build's copy, and a link that resolves outside the
artifact (possible in a local checkout, which ``lockstep build`` and ``lockstep diff``
build as it is) is refused before anything reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockstep.render.errors import ForbiddenReference
from lockstep.render.kustomize import BuildOptions, _replace_file
from lockstep.render.references import build_closure, find_kustomization_file, read_kustomization
from unit.render.trees import build, config_map, names, write

OUTSIDE = "resources: [configmap.yaml]\n"


def artifact_with_outside_file(tmp_path: Path) -> tuple[Path, Path]:
    """An artifact whose ``app`` folder holds a ConfigMap, and a kustomization beside it."""
    root = tmp_path / "artifact"
    write(root, {"app/configmap.yaml": config_map("settings")})
    outside = tmp_path / "outside.yaml"
    outside.write_text(OUTSIDE)
    return root, outside


@pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_kustomization_link_outside_is_refused_and_neither_read_nor_written(
    tmp_path: Path, name: str, relative: bool
) -> None:
    root, outside = artifact_with_outside_file(tmp_path)
    os.symlink("../../outside.yaml" if relative else outside, root / "app" / name)

    with pytest.raises(ForbiddenReference) as caught:
        build(root, "app", BuildOptions(target_namespace="pwned"))

    assert str(caught.value) == (
        f"app/{name} is a symbolic link that resolves outside the source artifact; replace "
        "it with the file itself, or make it point inside"
    )
    assert outside.read_text() == OUTSIDE


def test_dangling_kustomization_link_outside_is_not_created(tmp_path: Path) -> None:
    root, _ = artifact_with_outside_file(tmp_path)
    target = tmp_path / "not-yet-written.yaml"
    os.symlink(target, root / "app" / "kustomization.yaml")

    with pytest.raises(ForbiddenReference, match=r"^app/kustomization.yaml is a symbolic link"):
        build(root, "app", BuildOptions(target_namespace="pwned"))

    assert not target.exists()


def test_base_kustomization_link_outside_is_refused(tmp_path: Path) -> None:
    root, outside = artifact_with_outside_file(tmp_path)
    write(root, {"app/kustomization.yaml": "resources: [../base]\n"})
    (root / "base").mkdir()
    os.symlink(outside, root / "base" / "kustomization.yaml")

    with pytest.raises(ForbiddenReference, match=r"^base/kustomization.yaml is a symbolic link"):
        build(root, "app")


def test_reading_a_kustomization_never_follows_a_link_out(tmp_path: Path) -> None:
    root, outside = artifact_with_outside_file(tmp_path)
    link = root / "app" / "kustomization.yaml"
    os.symlink(outside, link)

    with pytest.raises(ForbiddenReference):
        find_kustomization_file(root / "app", root)
    with pytest.raises(ForbiddenReference):
        read_kustomization(link, root)
    assert build_closure(root / "app", root) == [root / "app"]


def test_kustomization_link_inside_the_artifact_builds_without_changing_its_target(
    tmp_path: Path,
) -> None:
    root = tmp_path / "artifact"
    write(
        root,
        {
            "shared/kustomization.yaml": "resources: [configmap.yaml]\n",
            "shared/configmap.yaml": config_map("shared"),
            "app/configmap.yaml": config_map("settings"),
        },
    )
    os.symlink("../shared/kustomization.yaml", root / "app" / "kustomization.yaml")

    objects = build(root, "app", BuildOptions(name_prefix="app-"))

    assert names(objects) == ["ConfigMap/app-settings"]
    assert (root / "shared/kustomization.yaml").read_text() == "resources: [configmap.yaml]\n"
    assert (root / "app/kustomization.yaml").is_symlink()


def test_the_rewritten_kustomization_replaces_a_link_instead_of_writing_through_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "target.yaml"
    target.write_text(OUTSIDE)
    link = tmp_path / "folder" / "kustomization.yaml"
    link.parent.mkdir()
    os.symlink(target, link)

    _replace_file(link, "namespace: pwned\n")

    assert target.read_text() == OUTSIDE
    assert not link.is_symlink()
    assert link.read_text() == "namespace: pwned\n"
    assert [path.name for path in link.parent.iterdir()] == ["kustomization.yaml"]
