"""Kustomize builds with the real kubectl: overlays on bases, plain folders, the artifact untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.render.errors import BuildTimeout, InvalidPath, KustomizeFailed
from lockstep.render.kustomize import BuildOptions
from unit.render.trees import DEPLOYMENT, build, config_map, names, write


def test_overlay_on_base_builds_with_the_overlay_changes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deploy.yaml, config.yaml]\n",
            "base/deploy.yaml": DEPLOYMENT,
            "base/config.yaml": config_map("settings", mode="base"),
            "overlays/prod/kustomization.yaml": """
                resources: [../../base]
                namespace: prod
                patches:
                  - path: replicas.yaml
                """,
            "overlays/prod/replicas.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web
                spec:
                  replicas: 3
                """,
        },
    )

    objects = build(tmp_path, "./overlays/prod")

    assert sorted(names(objects)) == ["ConfigMap/settings", "Deployment/web"]
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert {obj["metadata"]["namespace"] for obj in objects} == {"prod"}


def test_plain_folder_gets_a_generated_kustomization_listing_nested_files(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "apps/web/deploy.yaml": DEPLOYMENT,
            "apps/web/config/one.yml": config_map("one"),
            "apps/web/config/deeper/two.yaml": config_map("two") + "---\n" + config_map("three"),
            "apps/web/README.md": "not a manifest\n",
            "apps/web/packaged/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: pkg-\n",
            "apps/web/packaged/cm.yaml": config_map("inner"),
        },
    )

    objects = build(tmp_path, "apps/web")

    assert sorted(names(objects)) == [
        "ConfigMap/one",
        "ConfigMap/pkg-inner",
        "ConfigMap/three",
        "ConfigMap/two",
        "Deployment/web",
    ]


def test_artifact_is_not_modified(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})

    build(tmp_path, "app", BuildOptions(name_prefix="x-"))

    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["cm.yaml"]


def test_empty_path_means_the_artifact_root(tmp_path: Path) -> None:
    write(tmp_path, {"cm.yaml": config_map("one")})

    assert names(build(tmp_path, "")) == ["ConfigMap/one"]


def test_path_outside_the_artifact_is_refused(tmp_path: Path) -> None:
    (tmp_path / "artifact").mkdir()
    write(tmp_path, {"elsewhere/cm.yaml": config_map("one")})

    with pytest.raises(InvalidPath, match=r"spec.path '\.\./elsewhere' resolves outside"):
        build(tmp_path / "artifact", "../elsewhere")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidPath, match=r"spec.path './nope' is not a folder"):
        build(tmp_path, "./nope")


def test_kustomize_errors_name_the_path_without_temporary_folders(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [cm.yaml, cm2.yaml]\n",
            "app/cm.yaml": config_map("same"),
            "app/cm2.yaml": config_map("same"),
        },
    )

    with pytest.raises(KustomizeFailed) as caught:
        build(tmp_path, "app")

    message = str(caught.value)
    assert message.startswith("app: kustomize build failed: ")
    assert "already registered id" in message
    assert "lockstep-render-" not in message
    assert "\n" not in message


def test_build_time_limit(tmp_path: Path) -> None:
    write(tmp_path, {"cm.yaml": config_map("one")})

    with pytest.raises(BuildTimeout, match=r"did not finish within 1e-06s"):
        build(tmp_path, "", BuildOptions(timeout=0.000001))
