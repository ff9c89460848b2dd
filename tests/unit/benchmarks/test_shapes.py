"""The fleet shapes of W1: what is committed where, and how the Kustomizations depend."""

from __future__ import annotations

from collections import Counter

import yaml
from benchmarks import shapes
from benchmarks.shapes import SHAPES, dependency_of


def test_the_monorepo_holds_a_thousand_folders_each_a_copy_of_its_own() -> None:
    files = shapes.monorepo_files(10)[shapes.MONOREPO_SOURCE]
    assert len(files) == 2 * 1000
    assert yaml.safe_load(files["apps/app-0007/kustomization.yaml"])["resources"] == ["app.yaml"]
    objects = list(yaml.safe_load_all(files["apps/app-0007/app.yaml"]))
    assert [obj["kind"] for obj in objects] == [
        "ServiceAccount",
        "Service",
        "Deployment",
        "Ingress",
    ]
    assert {obj["metadata"]["name"] for obj in objects} == {"app-7"}
    assert files["apps/app-0007/app.yaml"] != files["apps/app-0008/app.yaml"]
    assert "${INDEX}" not in files["apps/app-0999/app.yaml"]


def test_the_monorepo_grows_with_a_fleet_larger_than_a_thousand() -> None:
    files = shapes.monorepo_files(1200)[shapes.MONOREPO_SOURCE]
    assert "apps/app-1199/app.yaml" in files
    assert len(files) == 2 * 1200


def test_each_monorepo_kustomization_reads_its_own_folder_without_variables() -> None:
    objects = SHAPES["w1b"].kustomizations(3, "ns")
    assert [obj["spec"]["path"] for obj in objects] == [
        "./apps/app-0000",
        "./apps/app-0001",
        "./apps/app-0002",
    ]
    assert all("postBuild" not in obj["spec"] for obj in objects)


def test_the_shared_path_names_each_copy_with_a_variable() -> None:
    objects = SHAPES["w1a"].kustomizations(2, "ns")
    assert {obj["spec"]["path"] for obj in objects} == {"./app"}
    assert [obj["spec"]["postBuild"]["substitute"] for obj in objects] == [
        {"INDEX": "0"},
        {"INDEX": "1"},
    ]


def test_many_sources_give_ten_kustomizations_to_each_repository() -> None:
    files = SHAPES["w1c"].files(100)
    objects = SHAPES["w1c"].kustomizations(100, "ns")
    per_source = Counter(obj["spec"]["sourceRef"]["name"] for obj in objects)
    assert set(per_source) == set(files)
    assert len(files) == 10
    assert set(per_source.values()) == {10}


def test_the_chain_is_ten_levels_deep_and_a_tenth_of_the_fleet_wide() -> None:
    size = 100
    assert [dependency_of(index, size) for index in range(10)] == [None] * 10
    assert dependency_of(10, size) == 0
    assert dependency_of(99, size) == 89

    def depth(index: int) -> int:
        above = dependency_of(index, size)
        return 1 if above is None else 1 + depth(above)

    assert max(depth(index) for index in range(size)) == shapes.LEVELS
    assert Counter(depth(index) for index in range(size)) == dict.fromkeys(range(1, 11), 10)


def test_the_chain_of_ten_is_one_column() -> None:
    objects = SHAPES["w1d"].kustomizations(10, "ns")
    assert "dependsOn" not in objects[0]["spec"]
    assert [obj["spec"]["dependsOn"] for obj in objects[1:3]] == [
        [{"name": "app-0"}],
        [{"name": "app-1"}],
    ]
    assert SHAPES["w1d"].levels == 10
