"""HelmChart: build metadata of the chart version and the merge of values files, as Flux's."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.api.source import HelmChart
from lockstep.controllers.shell import Failure
from lockstep.controllers.source.helmchart import _merged_values, _with_metadata


def _chart(generation: int = 3, **spec: Any) -> HelmChart:
    return HelmChart.model_validate(
        {
            "metadata": {"name": "app", "namespace": "apps", "generation": generation},
            "spec": {
                "chart": "app",
                "interval": "1m",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **spec,
            },
        }
    )


@pytest.mark.parametrize(
    ("spec", "version", "revision", "expected"),
    [
        ({}, "1.2.3", "main@sha1:0123456789abcdef0123", "1.2.3"),
        (
            {"reconcileStrategy": "Revision"},
            "1.2.3",
            "main@sha1:0123456789abcdef0123",
            "1.2.3+0123456789ab",
        ),
        ({"valuesFiles": ["values.yaml"]}, "1.2.3", None, "1.2.3+3"),
        (
            {"reconcileStrategy": "Revision", "valuesFiles": ["a.yaml"]},
            "1.2.3",
            "main@sha1:0123456789abcdef0123",
            "1.2.3+0123456789ab.3",
        ),
        ({"valuesFiles": ["values.yaml"]}, "1.2.3+build", None, "1.2.3+build.3"),
        # A HelmRepository's chart keeps its version under the Revision strategy.
        ({"reconcileStrategy": "Revision"}, "1.2.3", None, "1.2.3"),
    ],
)
def test_version_metadata(
    spec: dict[str, Any], version: str, revision: str | None, expected: str
) -> None:
    assert _with_metadata(version, _chart(**spec), revision) == expected


def _package(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"app/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_values_files_merge_deeply_in_order(tmp_path: Path) -> None:
    package = tmp_path / "app-1.0.0.tgz"
    package.write_bytes(
        _package(
            {
                "Chart.yaml": "name: app\nversion: 1.0.0\n",
                "values.yaml": "image: {repository: web, tag: '1'}\nreplicas: 1\nlist: [1, 2]\n",
                "prod.yaml": "image: {tag: '2'}\nlist: [3]\n",
            }
        )
    )
    merged, found = _merged_values(
        _chart(valuesFiles=["values.yaml", "prod.yaml"]), package, root=None
    )

    assert found == ["values.yaml", "prod.yaml"]
    assert merged is not None
    assert yaml.safe_load(merged) == {
        "image": {"repository": "web", "tag": "2"},
        "replicas": 1,
        "list": [3],
    }


def test_a_missing_values_file_fails_unless_ignored(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "values.yaml").write_text("a: 1\n")
    chart = _chart(valuesFiles=["charts/values.yaml", "charts/absent.yaml"])

    with pytest.raises(Failure, match=r"no values file found at path 'charts/absent\.yaml'"):
        _merged_values(chart, tmp_path / "charts", root=tmp_path)

    ignoring = _chart(
        valuesFiles=["charts/values.yaml", "charts/absent.yaml"], ignoreMissingValuesFiles=True
    )
    merged, found = _merged_values(ignoring, tmp_path / "charts", root=tmp_path)
    assert found == ["charts/values.yaml"]
    assert merged is not None
    assert yaml.safe_load(merged) == {"a": 1}


def test_a_values_file_outside_the_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Failure, match="leaves the source artifact"):
        _merged_values(_chart(valuesFiles=["../../etc/passwd"]), tmp_path, root=tmp_path)
