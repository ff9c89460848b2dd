"""The commands for Helm kinds without a cluster: ``create helmrelease --export`` (flags
become a HelmRelease validated by its model) and what ``get`` and ``reconcile`` print of
a HelmRelease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lockstep.cli.context import UserError
from lockstep.cli.create import parse_object_reference, parse_values_reference, read_values_files
from lockstep.cli.main import app
from lockstep.cli.output import status_row
from lockstep.cli.reconcile import outcome


def export(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["create", "helmrelease", "podinfo", *args, "-n", "apps", "--export"]
    )
    assert result.exit_code == 0, result.output
    manifest: dict[str, Any] = yaml.safe_load(result.stdout)
    return manifest


def test_chart_from_a_helm_repository_with_every_flag(tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("image: {tag: '6.0', pullPolicy: Always}\nreplicas: 2\n")
    second.write_text("image: {tag: '6.1'}\n")
    assert export(
        "--source", "HelmRepository/podinfo.flux-system", "--chart", "podinfo",
        "--chart-version", ">=6", "--values", str(first), "--values", str(second),
        "--values-from", "Secret/credentials,configmap/shared", "--target-namespace", "web",
        "--create-target-namespace=true", "--release-name", "site", "--depends-on", "infra/db",
        "--interval", "10m",
    ) == {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {
            "chart": {
                "spec": {
                    "chart": "podinfo",
                    "version": ">=6",
                    "sourceRef": {
                        "kind": "HelmRepository",
                        "name": "podinfo",
                        "namespace": "flux-system",
                    },
                }
            },
            "interval": "10m",
            "releaseName": "site",
            "targetNamespace": "web",
            "dependsOn": [{"name": "db", "namespace": "infra"}],
            "install": {"createNamespace": True},
            "valuesFrom": [
                {"kind": "Secret", "name": "credentials"},
                {"kind": "ConfigMap", "name": "shared"},
            ],
            "values": {"image": {"tag": "6.1", "pullPolicy": "Always"}, "replicas": 2},
        },
    }  # fmt: skip


def test_chart_ref_names_an_existing_chart_object() -> None:
    assert export("--chart-ref", "OCIRepository/podinfo")["spec"] == {
        "chartRef": {"kind": "OCIRepository", "name": "podinfo"},
        "interval": "1m",
    }
    assert export("--chart-ref", "helmchart/podinfo.charts")["spec"]["chartRef"] == {
        "kind": "HelmChart",
        "name": "podinfo",
        "namespace": "charts",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chart", "podinfo"], "give --source and --chart, or --chart-ref"),
        (["--source", "HelmRepository/podinfo"], "give --source and --chart, or --chart-ref"),
        (
            ["--chart-ref", "HelmChart/podinfo", "--chart", "podinfo"],
            "--chart-ref names the chart by itself",
        ),
        (
            ["--source", "OCIRepository/podinfo", "--chart", "podinfo"],
            "does not name one of HelmRepository, GitRepository, Bucket",
        ),
        (["--chart-ref", "GitRepository/podinfo"], "does not name one of OCIRepository"),
        (
            ["--chart-ref", "HelmChart/podinfo", "--values-from", "Deployment/x"],
            "does not name a Secret or a ConfigMap",
        ),
        (
            ["--chart-ref", "HelmChart/podinfo", "--release-name", "x" * 54],
            "HelmRelease podinfo is invalid at spec.releaseName",
        ),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_problem(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["create", "hr", "podinfo", *args, "-n", "apps", "--export"])
    assert isinstance(result.exception, UserError)
    assert result.exception.code == 2
    assert message in str(result.exception)


def test_references_take_any_case_and_an_optional_namespace() -> None:
    kinds = ("HelmRepository", "GitRepository")
    assert parse_object_reference("--source", "gitrepository/charts", kinds) == {
        "kind": "GitRepository",
        "name": "charts",
    }
    assert parse_values_reference("SECRET/values") == {"kind": "Secret", "name": "values"}


def test_values_files_must_be_maps(tmp_path: Path) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(UserError, match="is not a map of values"):
        read_values_files([listed])
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_values_files([empty]) == {}


def helm_release(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {"interval": "1m", "chartRef": {"kind": "HelmChart", "name": "podinfo"}},
        "status": status,
    }


def test_revision_is_the_chart_version_of_the_newest_snapshot() -> None:
    released = helm_release(
        history=[{"chartVersion": "6.1.0"}, {"chartVersion": "6.0.0"}],
        lastAttemptedRevision="6.2.0",
    )
    assert status_row(released, webhook_base_url="").revision == "6.1.0"
    assert outcome(released) == "applied revision 6.1.0"


def test_revision_before_any_release_is_the_one_attempted() -> None:
    attempted = helm_release(lastAttemptedRevision="6.2.0")
    assert status_row(attempted, webhook_base_url="").revision == "6.2.0"
    assert outcome(helm_release()) == "applied revision (none)"
