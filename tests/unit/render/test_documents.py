"""Reading manifests: errors name file and line; objects need apiVersion, kind, name; no twins."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.render.documents import describe, parse_documents
from lockstep.render.errors import DuplicateObject, InvalidManifest
from unit.render.trees import build, config_map, write


def test_documents_are_parsed_and_empty_ones_skipped() -> None:
    text = "---\n" + config_map("one") + "---\n---\n" + config_map("two", namespace="ns")

    objects = parse_documents(text, "all.yaml")

    assert [describe(obj) for obj in objects] == ["ConfigMap/one", "ConfigMap/ns/two"]


def test_timestamps_stay_strings_as_in_kubernetes() -> None:
    (obj,) = parse_documents(config_map("one") + "  created: 2024-01-01\n", "cm.yaml")

    assert obj["metadata"]["created"] == "2024-01-01"


def test_list_kinds_are_expanded() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"

    assert [describe(obj) for obj in parse_documents(text, "list.yaml")] == ["ConfigMap/a"]


def test_malformed_yaml_names_file_and_line() -> None:
    text = config_map("one") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b\n"

    with pytest.raises(InvalidManifest, match=r"^apps/web/cm\.yaml:9: invalid YAML: "):
        parse_documents(text, "apps/web/cm.yaml")


@pytest.mark.parametrize(
    ("document", "missing"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", "ConfigMap has no apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "the object has no kind"),
        ("apiVersion: v1\nkind: ConfigMap\n", "ConfigMap has no metadata.name"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n",
            "ConfigMap has no metadata.name",
        ),
    ],
)
def test_objects_without_identity_are_rejected(document: str, missing: str) -> None:
    with pytest.raises(InvalidManifest, match=rf"^x\.yaml:6: {missing}; every object needs"):
        parse_documents(config_map("ok") + "---\n" + document, "x.yaml")


def test_a_scalar_document_is_not_an_object() -> None:
    with pytest.raises(InvalidManifest, match=r"^notes\.yaml:1: the document is a str"):
        parse_documents("just some text\n", "notes.yaml")


def test_duplicates_are_rejected_naming_both() -> None:
    text = config_map("one", namespace="a") + "---\n" + config_map("one", namespace="a")

    with pytest.raises(DuplicateObject) as caught:
        parse_documents(text, "dup.yaml")

    assert str(caught.value) == (
        "ConfigMap/a/one is defined twice, at dup.yaml:1 and dup.yaml:7; keep one of them"
    )


def test_same_name_in_another_group_or_namespace_is_no_duplicate() -> None:
    text = "\n---\n".join(
        [
            config_map("one", namespace="a"),
            config_map("one", namespace="b"),
            "apiVersion: other.example.com/v1\nkind: ConfigMap\nmetadata: {name: one, namespace: a}",
        ]
    )

    assert len(parse_documents(text, "three.yaml")) == 3


def test_plain_folder_is_validated_file_by_file_before_the_build(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/web/ok.yaml": config_map("ok"),
            "apps/web/deploy.yaml": config_map("fine")
            + "---\nkind: Deployment\nmetadata:\n  name: [\n",
        },
    )

    with pytest.raises(InvalidManifest, match=r"^apps/web/deploy\.yaml:\d+: invalid YAML"):
        build(tmp_path, "apps/web")


def test_plain_folder_object_without_kind_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, {"apps/a.yaml": "apiVersion: v1\nmetadata: {name: x}\n"})

    with pytest.raises(InvalidManifest, match=r"^apps/a\.yaml:1: the object has no kind"):
        build(tmp_path, "apps")


def test_plain_folder_duplicates_across_files_name_both_files(tmp_path: Path) -> None:
    write(tmp_path, {"apps/a.yaml": config_map("same"), "apps/sub/b.yaml": config_map("same")})

    with pytest.raises(DuplicateObject, match=r"at apps/a\.yaml:1 and apps/sub/b\.yaml:1"):
        build(tmp_path, "apps")
