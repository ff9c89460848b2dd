"""Ignore rules: Flux's defaults, .sourceignore files relative to their folder, spec.ignore last."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from lockstep.sources.ignore import IgnoreRules


def ignored(rules: IgnoreRules, path: str, is_dir: bool = False) -> bool:
    return rules.is_ignored(PurePosixPath(path), is_dir)


@pytest.mark.parametrize(
    ("path", "is_dir"),
    [
        (".git", True),
        ("vendor/lib/.git", True),
        (".gitignore", False),
        ("charts/.gitattributes", False),
        (".gitmodules", False),
        ("docs/logo.png", False),
        ("release.tar.gz", False),
        (".github", True),
        (".gitlab-ci.yml", False),
        ("apps/.sops.yaml", False),
        ("deep/er/.goreleaser.yml", False),
    ],
)
def test_defaults_leave_out_git_media_and_ci_files(tmp_path: Path, path: str, is_dir: bool) -> None:
    assert ignored(IgnoreRules.for_tree(tmp_path), path, is_dir)


@pytest.mark.parametrize("path", ["kustomization.yaml", "apps/deploy.yaml", "github/notes.md"])
def test_defaults_keep_manifests(tmp_path: Path, path: str) -> None:
    assert not ignored(IgnoreRules.for_tree(tmp_path), path)


def test_sourceignore_rules_are_relative_to_their_folder(tmp_path: Path) -> None:
    (tmp_path / "apps" / "staging").mkdir(parents=True)
    (tmp_path / ".sourceignore").write_text("# comment\n*.md\n")
    (tmp_path / "apps" / ".sourceignore").write_text("/tests/\nscratch.yaml\n")

    rules = IgnoreRules.for_tree(tmp_path)

    assert ignored(rules, "README.md")
    assert ignored(rules, "apps/staging/notes.md")
    assert ignored(rules, "apps/tests", is_dir=True)
    assert not ignored(rules, "tests", is_dir=True)  # anchored to apps/
    assert not ignored(rules, "apps/staging/tests", is_dir=True)
    assert ignored(rules, "apps/staging/scratch.yaml")
    assert not ignored(rules, "scratch.yaml")  # the rule lives in apps/


def test_deeper_sourceignore_overrules_a_shallower_one(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / ".sourceignore").write_text("*.txt\n")
    (tmp_path / "keep" / ".sourceignore").write_text("!*.txt\n")

    rules = IgnoreRules.for_tree(tmp_path)

    assert ignored(rules, "notes.txt")
    assert not ignored(rules, "keep/notes.txt")


def test_spec_ignore_comes_last_and_can_bring_back_defaults(tmp_path: Path) -> None:
    (tmp_path / ".sourceignore").write_text("!generated.yaml\n")

    rules = IgnoreRules.for_tree(tmp_path, "/*\n!/deploy/\n!*.png\ngenerated.yaml\n")

    assert ignored(rules, "README.md")
    assert ignored(rules, "other", is_dir=True)
    assert not ignored(rules, "deploy", is_dir=True)
    assert not ignored(rules, "deploy/logo.png")
    assert ignored(rules, "deploy/generated.yaml")


def test_unparseable_lines_match_nothing_and_spare_the_others(tmp_path: Path) -> None:
    rules = IgnoreRules.for_tree(tmp_path, "!\nsecret.yaml\n\\\n")

    assert ignored(rules, "secret.yaml")
    assert not ignored(rules, "app.yaml")


def test_sourceignore_links_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("*.yaml\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / ".sourceignore").symlink_to(outside)

    assert not ignored(IgnoreRules.for_tree(root), "app.yaml")
