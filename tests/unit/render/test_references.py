"""Builds stay inside the artifact: remote bases, ``../`` escapes and outward links are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.render.errors import ForbiddenReference, MissingReference
from lockstep.render.references import changes_schema
from unit.render.trees import build, config_map, write


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/acme/app//deploy?ref=v1",
        "github.com/acme/app/deploy",
        "git::https://example.com/app.git",
        "git@github.com:acme/app.git",
        "example.com/app/deploy?ref=main",
    ],
)
def test_remote_resource_is_refused_naming_file_and_entry(tmp_path: Path, entry: str) -> None:
    write(tmp_path, {"app/kustomization.yaml": f"resources:\n  - '{entry}'\n"})

    with pytest.raises(ForbiddenReference) as caught:
        build(tmp_path, "app")

    assert str(caught.value).startswith(
        f"app/kustomization.yaml: resources entry '{entry}' is a remote base"
    )


def test_remote_base_deep_in_a_base_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [../base]\n",
            "base/kustomization.yaml": "components: ['https://example.com/c.git']\n",
        },
    )

    with pytest.raises(ForbiddenReference, match=r"^base/kustomization.yaml: components entry"):
        build(tmp_path, "app")


def test_escape_with_dot_dot_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    write(
        tmp_path,
        {
            "artifact/app/kustomization.yaml": "resources: [../../outside]\n",
            "outside/kustomization.yaml": "resources: [cm.yaml]\n",
            "outside/cm.yaml": config_map("secret-stuff"),
        },
    )

    with pytest.raises(
        ForbiddenReference, match=r"resources entry '\.\./\.\./outside' resolves outside"
    ):
        build(artifact, "app")


def test_patch_path_escape_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app/kustomization.yaml": "patches:\n  - path: ../../../etc/passwd\n"},
    )

    with pytest.raises(ForbiddenReference, match=r"patches entry '\.\./\.\./\.\./etc/passwd'"):
        build(tmp_path, "app")


def test_symbolic_link_out_of_a_plain_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"outside/cm.yaml": config_map("x"), "artifact/app/ok.yaml": config_map("ok")})
    (tmp_path / "artifact/app/link.yaml").symlink_to(tmp_path / "outside/cm.yaml")

    with pytest.raises(ForbiddenReference, match=r"^app/link.yaml is a symbolic link"):
        build(tmp_path / "artifact", "app")


def test_missing_local_base_is_reported_before_kustomize_tries_it_as_a_url(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources: [../base]\n"})

    with pytest.raises(MissingReference, match=r"resources entry '\.\./base' does not exist"):
        build(tmp_path, "app")


def test_kustomizations_naming_openapi_or_crds_change_the_schema(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "plain/kustomization.yaml": "resources: [cm.yaml]\n",
            "openapi/kustomization.yaml": "openapi: {path: schema.json}\n",
            "crds/kustomization.yaml": "crds: [crd.json]\n",
        },
    )

    def changes(*folders: str) -> bool:
        return changes_schema([tmp_path / f / "kustomization.yaml" for f in folders], tmp_path)

    assert not changes("plain")
    assert changes("plain", "openapi")
    assert changes("crds")
