"""A build copies what it reads, not the repository: the path's folder and what its
kustomization files name, recursively; when that copy is not enough, the whole artifact
is built, so the outcome never depends on the shortcut."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from lockstep.render import kustomize
from lockstep.render.errors import MissingReference
from lockstep.render.kustomize import BuildOptions
from lockstep.render.references import build_closure
from unit.render.trees import build, config_map, names, write


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    files = {
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "base/cm.yaml": config_map("base"),
        "components/debug/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "resources: [debug.yaml]\n"
        ),
        "components/debug/debug.yaml": config_map("debug"),
        "plain/one.yaml": config_map("one"),
        "plain/nested/kustomization.yaml": "resources: [../../base]\n",
        "shared/extra.yaml": config_map("extra"),
        "tools/transformer/kustomization.yaml": "resources: [t.yaml]\n",
        "tools/transformer/t.yaml": config_map("t"),
    }
    for index in range(20):
        files[f"apps/app-{index}/kustomization.yaml"] = (
            f"resources: [../../base, cm.yaml]\nnameSuffix: '-{index}'\n"
        )
        files[f"apps/app-{index}/cm.yaml"] = config_map(f"app-{index}")
    files["apps/app-3/kustomization.yaml"] = (
        "resources: [cm.yaml, missing]\ntransformers: [../../tools/transformer]\n"
    )
    files["apps/app-4/kustomization.yaml"] = (
        "resources: [cm.yaml, 'https://example.com/remote.git', ../../../outside]\n"
    )
    write(tmp_path, files)
    return tmp_path


def relative(paths: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_an_app_folder_reads_itself_and_its_bases(monorepo: Path) -> None:
    closure = build_closure(monorepo / "apps/app-7", monorepo)

    assert relative(closure, monorepo) == ["apps/app-7", "base"]


def test_spec_components_and_plugin_folders_are_read_too(monorepo: Path) -> None:
    closure = build_closure(monorepo / "apps/app-3", monorepo, ["../../components/debug"])

    assert relative(closure, monorepo) == ["apps/app-3", "components/debug", "tools/transformer"]


def test_remote_entries_and_entries_outside_the_artifact_are_left_to_the_build(
    monorepo: Path,
) -> None:
    assert relative(build_closure(monorepo / "apps/app-4", monorepo), monorepo) == ["apps/app-4"]


def test_a_plain_folder_reads_what_its_nested_kustomizations_name(monorepo: Path) -> None:
    (monorepo / "plain" / "link.yaml").symlink_to(monorepo / "shared" / "extra.yaml")

    closure = build_closure(monorepo / "plain", monorepo)

    assert relative(closure, monorepo) == ["base", "plain", "shared/extra.yaml"]


def test_the_artifact_root_is_the_whole_closure(monorepo: Path) -> None:
    assert build_closure(monorepo, monorepo) == [monorepo]


def test_only_the_closure_is_copied(monorepo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copied: list[str] = []
    original = shutil.copytree

    def copytree(source: Path, target: Path, **options: Any) -> Any:
        copied.append(source.relative_to(monorepo).as_posix())
        return original(source, target, **options)

    monkeypatch.setattr(kustomize.shutil, "copytree", copytree)

    objects = build(monorepo, "apps/app-7")

    assert sorted(names(objects)) == ["ConfigMap/app-7-7", "ConfigMap/base-7"]
    assert copied == ["apps/app-7", "base"]


def test_a_closure_that_misses_a_file_falls_back_to_the_whole_artifact(
    monorepo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kustomize, "build_closure", lambda folder, root, components: [folder])

    objects = build(monorepo, "apps/app-7")

    assert sorted(names(objects)) == ["ConfigMap/app-7-7", "ConfigMap/base-7"]


def test_a_failing_build_fails_as_on_the_whole_artifact(monorepo: Path) -> None:
    with pytest.raises(MissingReference, match=r"app-3/kustomization.yaml: resources entry"):
        build(monorepo, "apps/app-3", BuildOptions())


def test_a_file_outside_the_folder_is_read_and_copied_as_in_flux(
    monorepo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(monorepo, {"apps/app-5/kustomization.yaml": "resources: [../../shared/extra.yaml]\n"})
    copied: list[str] = []
    original = shutil.copy2

    def copy2(source: Path, target: Path, **options: Any) -> Any:
        copied.append(Path(source).relative_to(monorepo).as_posix())
        return original(source, target, **options)

    monkeypatch.setattr(kustomize.shutil, "copy2", copy2)

    objects = build(monorepo, "apps/app-5")

    assert names(objects) == ["ConfigMap/extra"]
    assert copied == ["shared/extra.yaml"]
