"""Artifacts extracted once per digest and shared: one fetch for builds that start
together, trees in use never removed, the least recently used unused ones removed past
the limits, failures not kept, artifacts without a digest never shared."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lockstep.sources.errors import DigestMismatch
from lockstep.sources.extracted import ExtractedArtifacts
from unit.sources.test_artifact_fetch import Artifacts, artifacts, serve, sha256, tarball

__all__ = ["artifacts"]  # the fixture, used by name


def archive(number: int) -> bytes:
    return tarball((f"apps/{number}.yaml", b"kind: ConfigMap\n" + b"#" * 100))


def test_builds_that_start_together_share_one_fetch(artifacts: Artifacts, tmp_path: Path) -> None:
    data = archive(1)
    url = serve(artifacts, data)
    trees = ExtractedArtifacts(tmp_path / "trees")

    def read() -> str:
        with trees.checkout(url, sha256(data)) as root:
            return (root / "apps" / "1.yaml").read_text()[:15]

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: read(), range(16)))

    assert found == ["kind: ConfigMap"] * 16
    assert artifacts.requests == ["/app.tar.gz"]
    assert trees.fetches == 1


def test_unused_trees_beyond_the_limit_leave_least_recently_used_first(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    trees = ExtractedArtifacts(tmp_path / "trees", keep=2)
    served = {
        n: (serve(artifacts, archive(n), f"{n}.tar.gz"), sha256(archive(n))) for n in range(4)
    }
    roots = {}
    for number in (0, 1, 0, 2):
        with trees.checkout(*served[number]) as root:
            roots[number] = root

    assert len(trees) == 2
    assert not roots[1].exists(), "1 was the least recently used"
    assert roots[0].exists()
    assert roots[2].exists()


def test_a_tree_in_use_is_never_removed(artifacts: Artifacts, tmp_path: Path) -> None:
    trees = ExtractedArtifacts(tmp_path / "trees", keep=0)
    first = (serve(artifacts, archive(0), "0.tar.gz"), sha256(archive(0)))
    second = (serve(artifacts, archive(1), "1.tar.gz"), sha256(archive(1)))

    with trees.checkout(*first) as root:
        with trees.checkout(*second):
            pass
        assert (root / "apps" / "0.yaml").exists()
    assert not root.exists(), "unused, over a limit of none"


def test_the_size_limit_counts_unused_content(artifacts: Artifacts, tmp_path: Path) -> None:
    trees = ExtractedArtifacts(tmp_path / "trees", keep_bytes=150)
    for number in range(3):
        with trees.checkout(
            serve(artifacts, archive(number), f"{number}.tar.gz"), sha256(archive(number))
        ):
            pass

    assert len(trees) == 1, "each tree holds 116 bytes"


def test_a_failed_fetch_reaches_its_callers_and_is_not_kept(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    trees = ExtractedArtifacts(tmp_path / "trees")
    url = serve(artifacts, archive(2))

    with pytest.raises(DigestMismatch), trees.checkout(url, sha256(archive(1))):
        pass
    assert len(trees) == 0
    artifacts.files["app.tar.gz"] = archive(1)
    with trees.checkout(url, sha256(archive(1))) as root:
        assert (root / "apps" / "1.yaml").exists()


def test_an_artifact_without_digest_is_fetched_for_each_build_and_removed(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    trees = ExtractedArtifacts(tmp_path / "trees")
    url = serve(artifacts, archive(1))

    for _ in range(2):
        with trees.checkout(url, None) as root:
            assert (root / "apps" / "1.yaml").exists()
        assert not root.exists()

    assert len(artifacts.requests) == 2
    assert list((tmp_path / "trees").iterdir()) == []


def test_trees_left_by_a_previous_engine_are_removed(tmp_path: Path) -> None:
    (tmp_path / "trees" / "sha256-old").mkdir(parents=True)

    ExtractedArtifacts(tmp_path / "trees")

    assert not (tmp_path / "trees").exists()
