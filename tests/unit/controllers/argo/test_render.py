"""An Application's source rendered as Argo CD renders it: the type detected, a plain
directory read with recurse, include and exclude, Kustomize's settings, values files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.api.argo import ApplicationSource
from lockstep.controllers.argo.project import glob_match
from lockstep.controllers.argo.render import (
    RenderContext,
    SourceType,
    UnsupportedSource,
    helm_values,
    kustomize_image,
    render_source,
    source_type_of,
)
from lockstep.render.errors import InvalidManifest, InvalidPath
from lockstep.render.kustomize import Image

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def source(**fields: object) -> ApplicationSource:
    return ApplicationSource.model_validate({"repoURL": "https://git.example/apps.git", **fields})


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def names(root: Path, **fields: object) -> list[str]:
    rendered = render_source(source(**fields), root, RenderContext("guestbook", "apps"))
    return [obj["metadata"]["name"] for obj in rendered.objects]


def test_the_type_is_the_one_set_else_found_from_the_files(tmp_path: Path) -> None:
    write(tmp_path, {"chart/Chart.yaml": "", "kust/kustomization.yaml": "", "plain/a.yaml": ""})

    assert source_type_of(source(path="chart"), tmp_path / "chart") is SourceType.HELM
    assert source_type_of(source(path="kust"), tmp_path / "kust") is SourceType.KUSTOMIZE
    assert source_type_of(source(path="plain"), tmp_path / "plain") is SourceType.DIRECTORY
    assert source_type_of(source(chart="redis"), None) is SourceType.HELM
    chosen = source(path="kust", directory={"recurse": True})
    assert source_type_of(chosen, tmp_path / "kust") is SourceType.DIRECTORY
    with pytest.raises(InvalidManifest, match="multiple source types set"):
        source_type_of(source(helm={}, kustomize={}), tmp_path)
    with pytest.raises(UnsupportedSource, match="plugins are not supported"):
        source_type_of(source(plugin={"name": "cdk8s"}), tmp_path)


def test_a_directory_reads_its_manifests_and_recurses_only_when_asked(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/b.yaml": CONFIG_MAP.format(name="b"),
            "app/a.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}',
            "app/notes.md": "not read",
            "app/.hidden/c.yaml": CONFIG_MAP.format(name="hidden"),
            "app/nested/d.yml": CONFIG_MAP.format(name="d"),
        },
    )

    assert names(tmp_path, path="app") == ["a", "b"]
    assert names(tmp_path, path="app", directory={"recurse": True}) == ["a", "b", "d"]


def test_include_and_exclude_match_paths_with_alternatives(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            f"app/{name}": CONFIG_MAP.format(name=name.split(".")[0])
            for name in ("a.yaml", "b.yml", "c.yaml")
        },
    )

    assert names(tmp_path, path="app", directory={"include": "{a.yaml,b.yml}"}) == ["a", "b"]
    assert names(tmp_path, path="app", directory={"exclude": "*.yml"}) == ["a", "c"]
    assert glob_match("env-*/*", "env-eu/config.yaml")
    assert glob_match("*.yaml", "nested/x.yaml"), "* crosses folders, as in Argo CD"
    assert not glob_match("{a,b}.yaml", "c.yaml")


def test_jsonnet_is_refused_unless_excluded(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CONFIG_MAP.format(name="a"), "app/main.jsonnet": "{}"})

    with pytest.raises(UnsupportedSource, match=r"^app/main\.jsonnet: Jsonnet is not supported"):
        names(tmp_path, path="app")
    assert names(tmp_path, path="app", directory={"exclude": "*.jsonnet"}) == ["a"]


def test_a_missing_path_names_the_source_and_the_revision(tmp_path: Path) -> None:
    with pytest.raises(InvalidPath, match="path 'nowhere' is not a folder of revision main"):
        names(tmp_path, path="nowhere", targetRevision="main")
    with pytest.raises(InvalidPath, match="leaves the repository"):
        names(tmp_path, path="../elsewhere")


@pytest.mark.parametrize(
    ("text", "image"),
    [
        ("nginx:1.27", Image("nginx", new_tag="1.27")),
        ("nginx=registry.example/nginx:1.27", Image("nginx", "registry.example/nginx", "1.27")),
        ("registry.example:5000/app", Image("registry.example:5000/app")),
        ("app=app@sha256:abc", Image("app", digest="sha256:abc")),
    ],
)
def test_kustomize_images_are_read_as_kustomize_edit_reads_them(text: str, image: Image) -> None:
    assert kustomize_image(text) == image


def test_values_files_then_inline_values_merge_in_order(tmp_path: Path) -> None:
    chart = write(
        tmp_path / "chart",
        {
            "values-base.yaml": "replicas: 1\nimage: {repository: web, tag: '1'}\n",
            "values-prod.yaml": "image: {tag: '2'}\n",
        },
    )
    shared = write(tmp_path / "shared", {"env/prod.yaml": "region: eu\n"})
    helm = {
        "valueFiles": [
            "values-base.yaml",
            "values-prod.yaml",
            "$values/env/prod.yaml",
            "gone.yaml",
        ],
        "values": "replicas: 3\n",
        "ignoreMissingValueFiles": True,
    }
    app_source = source(path="chart", helm=helm)
    assert app_source.helm is not None
    context = RenderContext("guestbook", "apps", refs={"values": shared})

    values = helm_values(chart, app_source, app_source.helm, context)

    assert values == {"replicas": 3, "image": {"repository": "web", "tag": "2"}, "region": "eu"}


def test_a_missing_values_file_or_ref_is_named(tmp_path: Path) -> None:
    context = RenderContext("guestbook", "apps")
    missing = source(path=".", helm={"valueFiles": ["gone.yaml"]})
    unknown_ref = source(path=".", helm={"valueFiles": ["$other/values.yaml"]})
    remote = source(path=".", helm={"valueFiles": ["https://example.com/values.yaml"]})

    for app_source, message in (
        (missing, "values file gone.yaml does not exist"),
        (unknown_ref, "names source ref 'other'"),
        (remote, "is a URL"),
    ):
        assert app_source.helm is not None
        with pytest.raises((InvalidPath, UnsupportedSource), match=message):
            helm_values(tmp_path, app_source, app_source.helm, context)
