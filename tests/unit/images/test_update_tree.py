"""The Setters strategy over a folder: which files are read, what is rewritten, what is
reported and what is skipped, on trees written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.images.setters import ImageRef, PolicyKey
from lockstep.images.update import UpdatePathError, update_root, update_tree

POLICIES = {("apps", "web"): ImageRef("ghcr.io/acme/web", "1.2.0")}
MARKED = 'image: ghcr.io/acme/web:1.0.0 # {"$imagepolicy": "apps:web"}\n'
UPDATED = 'image: ghcr.io/acme/web:1.2.0 # {"$imagepolicy": "apps:web"}\n'


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode())
        else:
            path.write_bytes(content)


def test_marked_yaml_files_under_the_path_are_rewritten(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "clusters/prod/web.yaml": MARKED,
            "clusters/prod/nested/.hidden/web.yml": MARKED,
            "clusters/prod/Kustomization": MARKED,
            "clusters/prod/notes.txt": MARKED,
            "clusters/staging/web.yaml": MARKED,
        },
    )

    update = update_tree(tmp_path, "./clusters/prod", POLICIES)

    assert sorted(update.changes) == ["Kustomization", "nested/.hidden/web.yml", "web.yaml"]
    assert (tmp_path / "clusters/prod/web.yaml").read_text() == UPDATED
    assert (tmp_path / "clusters/prod/nested/.hidden/web.yml").read_text() == UPDATED
    assert (tmp_path / "clusters/prod/notes.txt").read_text() == MARKED
    assert (tmp_path / "clusters/staging/web.yaml").read_text() == MARKED
    [change] = update.changes["web.yaml"]
    assert (change.old_value, change.new_value) == (
        "ghcr.io/acme/web:1.0.0",
        "ghcr.io/acme/web:1.2.0",
    )
    assert (update.problems, update.skipped) == ((), ())


def test_line_endings_and_untouched_files_keep_their_bytes(tmp_path: Path) -> None:
    crlf = MARKED.replace("\n", "\r\n") + "replicas: 2\r\n"
    write(tmp_path, {"web.yaml": crlf, "other.yaml": "kind: ConfigMap\n"})

    update = update_tree(tmp_path, None, POLICIES)

    assert list(update.changes) == ["web.yaml"]
    assert (tmp_path / "web.yaml").read_bytes() == crlf.replace("1.0.0", "1.2.0").encode()


def test_a_missing_policy_is_reported_and_only_its_file_is_left_alone(tmp_path: Path) -> None:
    typo = 'image: ghcr.io/acme/api:1.0.0 # {"$imagepolicy": "apps:api"}\n'
    write(tmp_path, {"apps/web.yaml": MARKED, "apps/api.yaml": "kind: Deployment\n" + typo})

    update = update_tree(tmp_path, "apps", POLICIES)

    assert list(update.changes) == ["web.yaml"]
    [problem] = update.problems
    assert str(problem).startswith("apps/api.yaml:2: marker names ImagePolicy apps/api")
    assert (tmp_path / "apps/api.yaml").read_text() == "kind: Deployment\n" + typo


def test_markers_out_of_scope_are_left_without_a_word(tmp_path: Path) -> None:
    theirs = 'image: ghcr.io/acme/db:1.0.0 # {"$imagepolicy": "team-b:db"}\n'
    write(tmp_path, {"web.yaml": MARKED + "---\n" + theirs})

    def ours(policy: PolicyKey) -> bool:
        return policy.namespace == "apps"

    update = update_tree(tmp_path, None, POLICIES, in_scope=ours)

    assert update.problems == ()
    assert (tmp_path / "web.yaml").read_text() == UPDATED + "---\n" + theirs


def test_files_that_are_not_yaml_or_utf8_are_skipped_as_flux_skips_them(tmp_path: Path) -> None:
    template = 'image: {{ .Values.image }} # {"$imagepolicy": "apps:web"}\n  - [\n'
    write(
        tmp_path,
        {
            "chart/templates/web.yaml": template,
            "latin1.yaml": MARKED.encode() + b"# caf\xe9\n",
            "web.yaml": MARKED,
        },
    )

    update = update_tree(tmp_path, None, POLICIES)

    assert update.skipped == ("latin1.yaml", "chart/templates/web.yaml")
    assert list(update.changes) == ["web.yaml"]
    assert (tmp_path / "chart/templates/web.yaml").read_text() == template


def test_links_and_the_git_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    tree = tmp_path / "tree"
    write(outside, {"web.yaml": MARKED})
    write(tree, {".git/web.yaml": MARKED})
    (tree / "linked.yaml").symlink_to(outside / "web.yaml")
    (tree / "linked-folder").symlink_to(outside)

    update = update_tree(tree, None, POLICIES)

    assert update.changes == {}
    assert (outside / "web.yaml").read_text() == MARKED


def test_the_path_may_name_one_file(tmp_path: Path) -> None:
    write(tmp_path, {"apps/web.yaml": MARKED, "apps/other.yaml": MARKED})

    update = update_tree(tmp_path, "apps/web.yaml", POLICIES)

    assert list(update.changes) == ["web.yaml"]
    assert (tmp_path / "apps/other.yaml").read_text() == MARKED


def test_the_path_cannot_leave_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "apps").mkdir(parents=True)
    (tree / "escape").symlink_to(tmp_path)

    assert update_root(tree, "/apps") == tree / "apps"
    assert update_root(tree, "../../apps") == tree / "apps"
    with pytest.raises(UpdatePathError, match=r"'escape' \(\./escape\) is a link to outside"):
        update_root(tree, "escape")
    with pytest.raises(UpdatePathError) as raised:
        update_root(tree, "./clusters/prod")
    assert str(raised.value) == (
        "spec.update.path './clusters/prod' (./clusters/prod) is not in the repository"
    )
