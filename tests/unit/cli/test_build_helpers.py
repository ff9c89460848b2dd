"""The pure parts of ``lockstep build`` / ``diff``: Secret masking and the repository root."""

from __future__ import annotations

from pathlib import Path

from lockstep.cli.build import MASK, _repository_root, masked


def test_secret_values_are_masked_and_changes_marked() -> None:
    live = {"kind": "Secret", "data": {"a": "eA==", "b": "eQ=="}, "stringData": {"c": "same"}}
    merged = {"kind": "Secret", "data": {"a": "eA==", "b": "eg=="}, "stringData": {"c": "same"}}
    assert masked(merged, live) == {
        "kind": "Secret",
        "data": {"a": MASK, "b": f"{MASK} (changed)"},
        "stringData": {"c": MASK},
    }
    assert masked(merged)["data"] == {"a": MASK, "b": MASK}
    config = {"kind": "ConfigMap", "data": {"a": "x"}}
    assert masked(config, None) == config


def test_the_repository_root_is_the_nearest_folder_with_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    overlay = tmp_path / "repo" / "apps" / "staging"
    overlay.mkdir(parents=True)
    assert _repository_root(overlay) == (tmp_path / "repo").resolve()
    loose = tmp_path / "loose"
    loose.mkdir()
    assert _repository_root(loose) == loose.resolve()
