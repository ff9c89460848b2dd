"""The stored index byte for byte as Flux's source-controller writes it, recorded from Go.

Each ``helm_index/<case>.json`` is what Go wrote for ``helm_index/<case>.yaml`` doing
what Flux's ``IndexFromBytes`` and ``ToJSON`` do — JSON or strict YAML into Helm's
``repo.IndexFile`` (Helm 4.3.2, ``pkg/repo/v1``, the same structs as Helm 3's), a
chart version without ``apiVersion`` made v1, ``Validate`` on each (dropping those it
refuses, except for duplicate dependency names), ``SortEntries``, then
``json.MarshalIndent(index, "", "  ")``. The cases cover Go's time and text forms,
Helm's sanitizing, every field of a chart version and the validation rules.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lockstep.sources.helm_index import parse_index

RECORDED = Path(__file__).parent / "helm_index"


@pytest.mark.parametrize("case", ["go-forms", "invalid-versions"])
def test_the_stored_index_is_what_flux_writes(case: str) -> None:
    served = (RECORDED / f"{case}.yaml").read_bytes()
    index = parse_index(served, "http://charts.test")
    assert index.raw.decode() == (RECORDED / f"{case}.json").read_text()
    assert index.revision == f"sha256:{hashlib.sha256(served).hexdigest()}"


def test_the_versions_helm_refuses_are_named_in_warnings() -> None:
    index = parse_index((RECORDED / "invalid-versions.yaml").read_bytes(), "http://charts.test")
    problems = [warning.split(" is skipped: ")[1] for warning in index.warnings]
    assert problems == [
        "its version 'latest' is not a semantic version",
        "its name 'x/y' is not a file name",
        "its type 'weird' is neither application nor library",
        "its maintainers hold an empty entry",
        "the alias of its dependency 'd' has disallowed characters",
        "its version '1.0.4-01' is not a semantic version",
        "it has no name",
    ]
    assert [entry.version for entry in index.entries["a"]] == ["v2.0.0", "1.2", "1.0.3", "1"]
    assert index.entries["b"] == index.entries["c"] == ()
