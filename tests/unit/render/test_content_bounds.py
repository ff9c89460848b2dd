"""The ceilings on tenant content the engine parses itself (:mod:`lockstep.render.bounds`):
a document nested thousands of levels deep, a YAML alias bomb, an alias inside its own
node and a file too large are refused on one line naming the file, wherever they are
read (plain folders, kustomization files, any YAML a build reads, postBuild
substitution), never with a RecursionError; content at the ceilings goes through every
stage of a build."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from ground.corpus_files import billion_laughs
from lockstep.render.bounds import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, check_yaml
from lockstep.render.documents import load_documents
from lockstep.render.errors import ContentLimitExceeded, InvalidManifest, SubstitutionFailed
from lockstep.render.kustomize import BuildOptions, build_kustomization
from lockstep.render.resmap_yaml import build_digest
from lockstep.render.substitute import substitute
from unit.render.trees import config_map, write

HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def nested(levels: int, name: str = "deep") -> str:
    """A ConfigMap whose ``x`` field nests mappings so that the document has ``levels``
    levels, its own mapping included."""
    inner = levels - 1
    return HEADER.format(name=name) + "x: " + "{a: " * inner + "1" + "}" * inner + "\n"


def laughs(levels: int = 9, name: str = "laughs") -> str:
    """A ConfigMap that is a billion laughs: each level an anchored list of nine aliases
    of the one before."""
    return billion_laughs(HEADER.format(name=name), levels)


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("plain", [True, False], ids=["plain folder", "kustomization"])
def test_a_document_5000_levels_deep_is_refused_naming_the_file(
    tmp_path: Path, plain: bool
) -> None:
    files = {"app/deep.yaml": nested(5000)}
    if not plain:
        files["app/kustomization.yaml"] = "resources: [deep.yaml]\n"
    write(tmp_path, files)

    with pytest.raises(ContentLimitExceeded) as refused:
        build_kustomization(tmp_path, "app", BuildOptions())

    assert one_line(refused.value) == (
        f"app/deep.yaml: nesting deeper than {MAX_DEPTH} levels at line 5; flatten the structure"
    )


def test_an_alias_bomb_is_refused_naming_the_file_before_kustomize_runs(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app/kustomization.yaml": "resources: [laughs.yaml]\n", "app/laughs.yaml": laughs()},
    )
    started = time.monotonic()

    with pytest.raises(ContentLimitExceeded) as refused:
        build_kustomization(tmp_path, "app", BuildOptions())

    assert one_line(refused.value).startswith(
        f"app/laughs.yaml: aliases expand to more than {MAX_ALIAS_NODES} nodes at line "
    )
    assert time.monotonic() - started < 2


def test_an_alias_bomb_in_a_kustomization_file_is_refused_naming_it(tmp_path: Path) -> None:
    bomb = laughs().replace("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n", "")
    write(tmp_path, {"app/kustomization.yaml": "resources: []\n" + bomb})

    with pytest.raises(ContentLimitExceeded, match=r"^app/kustomization\.yaml: aliases expand"):
        build_kustomization(tmp_path, "app", BuildOptions())


def test_an_alias_bomb_in_a_file_only_kustomize_reads_is_refused(tmp_path: Path) -> None:
    """A patch file: never parsed by the engine, but checked before Kustomize reads it."""
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: patch.yaml}]\n",
            "app/cm.yaml": config_map("laughs"),
            "app/patch.yaml": laughs(),
        },
    )

    with pytest.raises(ContentLimitExceeded, match=r"^app/patch\.yaml: aliases expand"):
        build_kustomization(tmp_path, "app", BuildOptions())


def test_an_alias_inside_its_own_node_is_refused() -> None:
    text = HEADER.format(name="loop") + "x: &x [a, *x]\n"

    with pytest.raises(InvalidManifest) as refused:
        load_documents(text, "app/loop.yaml")

    assert one_line(refused.value) == (
        "app/loop.yaml:5: the alias *x refers to a node that contains it; remove the alias"
    )


def test_a_file_larger_than_a_file_may_be_is_not_read(tmp_path: Path) -> None:
    padding = "# " + "x" * 1000 + "\n"
    write(tmp_path, {"app/big.yaml": config_map("big")})
    with (tmp_path / "app" / "big.yaml").open("a") as big:
        big.write(padding * (MAX_FILE_BYTES // len(padding) + 1))

    with pytest.raises(ContentLimitExceeded) as refused:
        build_kustomization(tmp_path, "app", BuildOptions())

    assert one_line(refused.value).startswith("app/big.yaml: the file has 16.0 MiB, more than ")


def test_aliases_are_counted_across_the_documents_of_a_text() -> None:
    many = "---\n".join(laughs(levels=5, name=f"laughs-{index}") for index in range(2))
    check_yaml(laughs(levels=5), "one.yaml")

    with pytest.raises(ContentLimitExceeded, match="aliases expand to more than"):
        check_yaml(many, "two.yaml")


def test_content_at_the_ceilings_goes_through_every_stage_of_a_build(tmp_path: Path) -> None:
    """The deepest document allowed is built, substituted, hashed and written as JSON:
    no walk of the engine runs out of Python's stack on it."""
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [deep.yaml, shared.yaml]\n",
            "app/deep.yaml": nested(MAX_DEPTH).replace("1}", "'${value}'}", 1),
            "app/shared.yaml": laughs(levels=5, name="shared"),
        },
    )

    objects = build_kustomization(tmp_path, "app", BuildOptions())
    substituted = substitute(objects, {"value": "2"}, strict=True)

    assert build_digest(substituted).startswith("sha256:")
    assert json.dumps(substituted)
    deep = yaml.dump(substituted[0], Dumper=yaml.CSafeDumper)
    assert deep.count(" a:") == MAX_DEPTH - 1


def test_one_level_more_is_refused() -> None:
    load_documents(nested(MAX_DEPTH), "app/deep.yaml")

    with pytest.raises(ContentLimitExceeded, match=f"nesting deeper than {MAX_DEPTH} levels"):
        load_documents(nested(MAX_DEPTH + 1), "app/deep.yaml")


def test_an_alias_that_nests_too_deep_where_it_is_used_is_refused() -> None:
    half = MAX_DEPTH // 2 + 1
    anchored = "a: &deep " + "{a: " * half + "1" + "}" * half
    used = "b: " + "{b: " * half + "*deep" + "}" * half
    text = HEADER.format(name="deep") + f"{anchored}\n{used}\n"

    with pytest.raises(ContentLimitExceeded, match="nesting deeper than"):
        load_documents(text, "app/deep.yaml")


def test_substituted_values_that_nest_too_deep_are_refused_naming_the_object() -> None:
    objects = load_documents(HEADER.format(name="settings") + "data:\n  v: ${v}\n", "cm.yaml")
    value = "{a: " * 200 + "1" + "}" * 200

    with pytest.raises(ContentLimitExceeded) as refused:
        substitute([objects[0].obj], {"v": value}, strict=True)

    assert one_line(refused.value).startswith(
        "ConfigMap/settings after substitution: nesting deeper than"
    )


def test_substitution_that_grows_past_a_file_s_size_is_refused() -> None:
    uses = "".join(f"  k{index}: ${{v}}\n" for index in range(20))
    objects = load_documents(HEADER.format(name="settings") + "data:\n" + uses, "cm.yaml")

    with pytest.raises(SubstitutionFailed) as refused:
        substitute([objects[0].obj], {"v": "x" * (1024 * 1024)}, strict=True)

    assert one_line(refused.value).startswith(
        "ConfigMap/settings: postBuild substitution failed: the text grows past "
    )


def test_nested_expressions_too_deep_for_the_parser_are_refused() -> None:
    expression = "${v:-" * 2000 + "x" + "}" * 2000
    objects = load_documents(HEADER.format(name="settings") + "data:\n  v: ok\n", "cm.yaml")
    objects[0].obj["data"]["v"] = expression

    with pytest.raises(SubstitutionFailed, match="expressions nested too deeply"):
        substitute([objects[0].obj], {}, strict=False)


def test_replacements_inside_replacements_are_refused_before_they_grow() -> None:
    """Each level multiplies the text: 4 GB at the third, were it put together."""
    objects = load_documents(HEADER.format(name="settings") + "data:\n  v: ok\n", "cm.yaml")
    objects[0].obj["data"]["v"] = "${v//a/${v//a/${v//a/bbbb}}}"
    started = time.monotonic()

    with pytest.raises(SubstitutionFailed, match="the text grows past"):
        substitute([objects[0].obj], {"v": "a" * 1000}, strict=True)

    assert time.monotonic() - started < 1
