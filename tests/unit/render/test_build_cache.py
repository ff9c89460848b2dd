"""Kustomize outputs kept by content: one real build for many same ones, never a stale one."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lockstep.render import kustomize
from lockstep.render.cache import BuildCache, TreeDigests, tree_digest
from lockstep.render.errors import BuildServiceFailed, BuildTimeout, InvalidManifest, RenderError
from lockstep.render.kustomize import BuildOptions, build_kustomization, kept_build
from unit.render.trees import config_map, write


def test_the_same_build_runs_kustomize_once_and_returns_fresh_objects(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one", colour="blue")})
    cache = BuildCache()

    first = build_kustomization(tmp_path, "app", BuildOptions(), cache)
    first[0]["data"]["colour"] = "changed by the caller"
    second = build_kustomization(tmp_path, "app", BuildOptions(), cache)

    assert (cache.misses, cache.hits) == (1, 1)
    assert second[0]["data"] == {"colour": "blue"}


def test_an_identical_artifact_extracted_elsewhere_is_the_same_build(tmp_path: Path) -> None:
    for copy in ("one", "two"):
        write(tmp_path / copy, {"app/cm.yaml": config_map("one")})
    cache = BuildCache()

    build_kustomization(tmp_path / "one", "app", BuildOptions(), cache)
    build_kustomization(tmp_path / "two", "./app", BuildOptions(), cache)
    build_kustomization(tmp_path / "two", "app", BuildOptions(), cache)

    # "./app" and "app" are the same folder but are kept apart: a miss costs one build.
    assert (cache.misses, cache.hits) == (2, 1)


def test_builds_asked_for_together_wait_for_the_first_one(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})
    cache = BuildCache()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda _: build_kustomization(tmp_path, "app", BuildOptions(), cache), range(4)
            )
        )

    assert (cache.misses, cache.hits) == (1, 3)
    assert all(objects == results[0] for objects in results)


def test_a_failed_build_fails_again_without_being_built_again(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"})
    cache = BuildCache()

    def build(_: int) -> str:
        with pytest.raises(InvalidManifest) as failure:
            build_kustomization(tmp_path, "app", BuildOptions(), cache)
        return str(failure.value)

    with ThreadPoolExecutor(max_workers=3) as pool:
        messages = list(pool.map(build, range(3)))

    assert (cache.misses, cache.hits, len(cache)) == (1, 2, 0)
    assert len(set(messages)) == 1
    assert "has no metadata.name" in messages[0]


@pytest.mark.parametrize(
    "failure",
    [
        BuildTimeout("app: kustomize build did not finish within 1s"),
        BuildServiceFailed("app: the Kustomize build service exited (2) during the build"),
    ],
)
def test_a_failure_that_may_not_repeat_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: RenderError
) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})
    cache = BuildCache()
    monkeypatch.setattr(kustomize, "_build", lambda *_: (_ for _ in ()).throw(failure))

    for _ in range(2):
        with pytest.raises(type(failure)):
            build_kustomization(tmp_path, "app", BuildOptions(), cache)

    assert (cache.misses, cache.hits) == (2, 0)


def test_kept_failures_are_the_most_recent_ones() -> None:
    cache = BuildCache(max_failures=2)
    for key in ("a", "b", "c"):
        cache.put_failure(key, InvalidManifest(f"failure {key}"))

    assert cache.get_or_claim("a") is None
    cache.release("a")
    for key in ("b", "c"):
        with pytest.raises(InvalidManifest, match=f"^failure {key}$"):
            cache.get_or_claim(key)


def test_a_changed_file_is_a_new_build(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one", colour="blue")})
    cache = BuildCache()
    build_kustomization(tmp_path, "app", BuildOptions(), cache)

    write(tmp_path, {"app/cm.yaml": config_map("one", colour="green")})
    objects = build_kustomization(tmp_path, "app", BuildOptions(), cache)

    assert objects[0]["data"] == {"colour": "green"}
    assert cache.hits == 0


def test_options_that_shape_the_output_are_part_of_the_build(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})
    cache = BuildCache()

    plain = build_kustomization(tmp_path, "app", BuildOptions(), cache)
    moved = build_kustomization(tmp_path, "app", BuildOptions(target_namespace="prod"), cache)
    slower = build_kustomization(tmp_path, "app", BuildOptions(timeout=30), cache)

    assert "namespace" not in plain[0]["metadata"]
    assert moved[0]["metadata"]["namespace"] == "prod"
    assert (cache.misses, cache.hits) == (2, 1)
    assert slower == plain


def test_builds_that_decrypt_are_never_kept(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})
    cache = BuildCache()
    options = BuildOptions(decryption_keys=("AGE-SECRET-KEY-1UNUSED",))

    build_kustomization(tmp_path, "app", options, cache)
    build_kustomization(tmp_path, "app", options, cache)

    assert len(cache) == 0
    assert (cache.misses, cache.hits) == (0, 0)


def test_a_kept_build_is_found_by_the_tree_digest_alone(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one", colour="blue")})
    cache = BuildCache()
    tree = tree_digest(tmp_path)

    assert kept_build(tree, "app", BuildOptions(), cache) is None, "nothing built yet"
    build_kustomization(tmp_path, "app", BuildOptions(), cache, tree=tree)
    kept = kept_build(tree, "app", BuildOptions(), cache)

    assert kept is not None
    assert kept[0]["data"] == {"colour": "blue"}
    assert kept_build(tree, "other", BuildOptions(), cache) is None
    assert kept_build("0" * 64, "app", BuildOptions(), cache) is None
    decrypting = BuildOptions(decryption_keys=("AGE-SECRET-KEY-1UNUSED",))
    assert kept_build(tree, "app", decrypting, cache) is None, "never for a decrypting build"


def test_tree_digests_keep_the_most_recent_artifacts() -> None:
    trees = TreeDigests(max_entries=2)
    trees.put("sha256:a", "tree-a")
    trees.put("sha256:b", "tree-b")
    assert trees.get("sha256:a") == "tree-a"
    trees.put("sha256:c", "tree-c")

    assert trees.get("sha256:b") is None
    assert (trees.get("sha256:a"), trees.get("sha256:c")) == ("tree-a", "tree-c")


def test_the_least_recently_used_entries_leave_when_the_cache_is_full() -> None:
    cache = BuildCache(max_bytes=250)
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x" * 40}}]
    # 102 bytes of JSON each: two fit, three do not.

    cache.put("first", objects)
    cache.put("second", objects)
    assert cache.get("first") == objects
    cache.put("third", objects)

    assert cache.get("second") is None
    assert cache.get("first") == objects
    assert cache.get("third") == objects


def test_objects_json_would_change_are_not_kept() -> None:
    cache = BuildCache()

    cache.put("numbered", [{"kind": "ConfigMap", "data": {1: "one"}}])

    assert cache.get("numbered") is None


def test_the_tree_digest_covers_names_contents_and_links(tmp_path: Path) -> None:
    write(tmp_path, {"a/one.yaml": "x: 1\n", "b/two.yaml": "y: 2\n"})
    original = tree_digest(tmp_path)

    (tmp_path / "a" / "one.yaml").rename(tmp_path / "a" / "uno.yaml")
    renamed = tree_digest(tmp_path)
    os.symlink("../a", tmp_path / "b" / "link")
    linked = tree_digest(tmp_path)
    (tmp_path / "b" / "link").unlink()
    os.symlink("../b", tmp_path / "b" / "link")
    relinked = tree_digest(tmp_path)

    assert len({original, renamed, linked, relinked}) == 4
    assert tree_digest(tmp_path) == relinked
