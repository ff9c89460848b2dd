"""Kustomize's errors as the engine shows them: one line, the same at every build, and
naming the file where Kustomize does not."""

from __future__ import annotations

from pathlib import Path

from lockstep.render.failures import kustomize_message
from unit.render.trees import config_map, write


def copy_of(tmp_path: Path, files: dict[str, str]) -> tuple[Path, list[Path]]:
    """A build's copy, as ``<scratch>/artifact``, and its kustomization files."""
    root = tmp_path / "lockstep-render-abc" / "artifact"
    write(root, files)
    return root, sorted(root.glob("**/kustomization.yaml"))


def test_paths_of_the_copy_and_above_it_are_made_relative_to_the_artifact(
    tmp_path: Path,
) -> None:
    root, files = copy_of(tmp_path, {"app/kustomization.yaml": "resources: []\n"})
    error = (
        f"read {root}/app/x.txt; read {root.parent}/x.txt: path '{root.parent.parent}/y' "
        f"is not in or below '{root}'; /var{root.parent.parent}/z stays"
    )

    message = kustomize_message(error, root, files)

    assert message == (
        f"read app/x.txt; read ../x.txt: path '../../y' is not in or below '.'; "
        f"/var{root.parent.parent}/z stays"
    )


def test_go_pointers_are_left_out(tmp_path: Path) -> None:
    root, files = copy_of(tmp_path, {"app/kustomization.yaml": "resources: []\n"})

    message = kustomize_message(
        "merging from generator &{0xc000123450 <nil>}: id exists", root, files
    )

    assert message == "merging from generator: id exists"


def test_a_duplicate_key_names_the_listed_manifest(tmp_path: Path) -> None:
    root, files = copy_of(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [ok.yaml, twice.yaml]\n",
            "app/ok.yaml": config_map("ok"),
            "app/twice.yaml": config_map("twice") + "data:\n  a: one\n  a: two\n",
        },
    )
    error = (
        "map[string]interface {}(nil): yaml: unmarshal errors:\n"
        '  line 7: mapping key "a" already defined at line 6'
    )

    message = kustomize_message(error, root, files)

    assert (
        message
        == "app/twice.yaml:7: mapping key 'a' is already defined at line 6; keep one of them"
    )


def test_a_duplicate_key_found_in_no_listed_manifest_keeps_kustomizes_words(
    tmp_path: Path,
) -> None:
    root, files = copy_of(
        tmp_path,
        {"app/kustomization.yaml": "resources: [ok.yaml]\n", "app/ok.yaml": config_map("ok")},
    )
    error = 'yaml: unmarshal errors:\n  line 7: mapping key "a" already defined at line 6'

    message = kustomize_message(error, root, files)

    assert message == 'yaml: unmarshal errors: line 7: mapping key "a" already defined at line 6'


def test_an_unnamed_configurations_error_names_the_configurations_files(
    tmp_path: Path,
) -> None:
    root, files = copy_of(
        tmp_path,
        {
            "app/kustomization.yaml": "configurations: [names.yaml]\nresources: [../base]\n",
            "base/kustomization.yaml": "configurations: [more.yaml]\n",
        },
    )

    message = kustomize_message("error unmarshaling JSON: json: unknown field", root, files)

    assert message == (
        "error unmarshaling JSON: json: unknown field "
        "(in configurations: app/names.yaml, base/more.yaml)"
    )
