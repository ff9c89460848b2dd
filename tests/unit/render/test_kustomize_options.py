"""The Kustomization spec's build options, each on its own, applied by real Kustomize."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.render.errors import ForbiddenReference, MissingReference
from lockstep.render.kustomize import BuildOptions, Image, Patch, PatchTarget
from unit.render.trees import DEPLOYMENT, build, config_map, names, write


@pytest.fixture
def app(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": """
                resources: [deploy.yaml, config.yaml]
                namePrefix: own-
                """,
            "app/deploy.yaml": DEPLOYMENT,
            "app/config.yaml": config_map("settings", namespace="elsewhere", mode="base"),
            "components/debug/kustomization.yaml": """
                apiVersion: kustomize.config.k8s.io/v1alpha1
                kind: Component
                resources: [debug.yaml]
                """,
            "components/debug/debug.yaml": config_map("debug"),
        },
    )
    return tmp_path


def deployment(objects: list[dict]) -> dict:
    return next(obj for obj in objects if obj["kind"] == "Deployment")


def test_target_namespace_overrides_every_namespace(app: Path) -> None:
    objects = build(app, "app", BuildOptions(target_namespace="team"))

    assert {obj["metadata"]["namespace"] for obj in objects} == {"team"}


def test_name_prefix_and_suffix_replace_the_kustomization_ones(app: Path) -> None:
    objects = build(app, "app", BuildOptions(name_prefix="p-", name_suffix="-s"))

    assert sorted(names(objects)) == ["ConfigMap/p-settings-s", "Deployment/p-web-s"]


def test_strategic_merge_patch_with_target(app: Path) -> None:
    patch = Patch(
        patch="""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: any
spec:
  replicas: 5
""",
        target=PatchTarget(kind="Deployment", label_selector="app=web"),
    )

    objects = build(app, "app", BuildOptions(patches=(patch,)))

    assert deployment(objects)["spec"]["replicas"] == 5


def test_json6902_patch(app: Path) -> None:
    patch = Patch(
        patch="- op: add\n  path: /data/added\n  value: yes-it-is\n",
        target=PatchTarget(kind="ConfigMap", name="settings"),
    )

    objects = build(app, "app", BuildOptions(patches=(patch,)))

    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")
    assert config["data"] == {"mode": "base", "added": "yes-it-is"}


def test_images_replace_name_and_tag_or_digest(app: Path) -> None:
    image = Image(name="ghcr.io/acme/web", new_name="registry.local/web", new_tag="2.0.0")

    objects = build(app, "app", BuildOptions(images=(image,)))

    container = deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/web:2.0.0"

    digest = "sha256:" + "a" * 64
    objects = build(
        app, "app", BuildOptions(images=(Image(name="ghcr.io/acme/web", digest=digest),))
    )
    container = deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/acme/web@{digest}"


def test_components_are_relative_to_the_path(app: Path) -> None:
    objects = build(app, "app", BuildOptions(components=("../components/debug",)))

    assert "ConfigMap/own-debug" in names(objects)


def test_component_outside_the_artifact_or_missing_is_refused(app: Path) -> None:
    with pytest.raises(
        ForbiddenReference, match=r"spec.components entry '\.\./\.\./\.\.' resolves outside"
    ):
        build(app, "app", BuildOptions(components=("../../..",)))
    with pytest.raises(
        MissingReference, match=r"spec.components entry '\.\./components/nope' does not exist"
    ):
        build(app, "app", BuildOptions(components=("../components/nope",)))


def test_missing_components_are_left_out_when_ignored(app: Path) -> None:
    options = BuildOptions(
        components=("../components/nope", "../components/debug"), ignore_missing_components=True
    )

    objects = build(app, "app", options)

    assert "ConfigMap/own-debug" in names(objects)


def test_ignoring_missing_components_still_refuses_one_outside_the_artifact(app: Path) -> None:
    options = BuildOptions(components=("../../../etc",), ignore_missing_components=True)

    with pytest.raises(ForbiddenReference, match="resolves outside"):
        build(app, "app", options)


def test_build_metadata_adds_origin_annotations(app: Path) -> None:
    objects = build(app, "app", BuildOptions(build_metadata=("originAnnotations",)))

    origins = {
        names([obj])[0]: obj["metadata"]["annotations"]["config.kubernetes.io/origin"]
        for obj in objects
    }
    assert origins == {
        "ConfigMap/own-settings": "path: config.yaml\n",
        "Deployment/own-web": "path: deploy.yaml\n",
    }
