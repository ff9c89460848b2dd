"""``lockstep create ... --export``: flags become manifests validated by the API models."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from lockstep.cli.context import UserError
from lockstep.cli.create import parse_dependency, parse_health_check, parse_source
from lockstep.cli.main import app


def export(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["create", *args, "-n", "flux-system", "--export"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("---\n")
    manifest: dict[str, object] = yaml.safe_load(result.stdout)
    return manifest


def test_git_source() -> None:
    assert export(
        "source", "git", "podinfo", "--url", "https://github.com/stefanprodan/podinfo",
        "--branch", "main", "--interval", "10m", "--secret-ref", "git-auth",
    ) == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {
            "url": "https://github.com/stefanprodan/podinfo",
            "interval": "10m",
            "ref": {"branch": "main"},
            "secretRef": {"name": "git-auth"},
        },
    }  # fmt: skip


def test_git_source_takes_flux_spelling_of_semver() -> None:
    manifest = export("source", "git", "p", "--url", "https://x/y", "--tag-semver", ">=1.0.0")
    assert manifest["spec"] == {
        "url": "https://x/y",
        "interval": "1m",
        "ref": {"semver": ">=1.0.0"},
    }


def test_oci_source() -> None:
    manifest = export(
        "source", "oci", "app", "--url", "oci://registry:5000/app", "--tag", "v1", "--insecure"
    )
    assert manifest["spec"] == {
        "url": "oci://registry:5000/app",
        "interval": "1m",
        "ref": {"tag": "v1"},
        "insecure": True,
    }


def test_kustomization_with_flux_style_boolean_flags() -> None:
    manifest = export(
        "kustomization", "apps", "--source", "OCIRepository/app.sources", "--path", "./deploy",
        "--prune=true", "--wait=false", "--interval", "5m", "--target-namespace", "apps",
        "--depends-on", "infra,other/db", "--health-check", "deployment/web.apps",
        "--health-check", "HelmRelease/redis", "--health-check-timeout", "3m",
    )  # fmt: skip
    assert manifest["spec"] == {
        "sourceRef": {"kind": "OCIRepository", "name": "app", "namespace": "sources"},
        "path": "./deploy",
        "interval": "5m",
        "prune": True,
        "targetNamespace": "apps",
        "dependsOn": [{"name": "infra"}, {"name": "db", "namespace": "other"}],
        "healthChecks": [
            {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1", "namespace": "apps"},
            {"kind": "HelmRelease", "name": "redis", "apiVersion": "helm.toolkit.fluxcd.io/v2"},
        ],
        "timeout": "3m",
    }


def test_kustomization_alias_and_bare_flags() -> None:
    manifest = export("ks", "apps", "--source", "repo", "--prune", "--wait")
    assert manifest["spec"] == {
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "path": "./",
        "interval": "1m",
        "prune": True,
        "wait": True,
    }


def test_an_invalid_flag_value_names_the_field() -> None:
    result = CliRunner().invoke(
        app, ["create", "source", "git", "p", "--url", "ftp://x", "-n", "ns", "--export"]
    )
    assert isinstance(result.exception, UserError)
    assert str(result.exception).startswith("GitRepository p is invalid at spec.url:")
    assert result.exception.code == 2


def test_an_invalid_interval_is_refused_by_the_model() -> None:
    result = CliRunner().invoke(
        app, ["create", "ks", "a", "--source", "r", "--interval", "often", "-n", "ns", "--export"]
    )
    assert isinstance(result.exception, UserError)
    assert "spec.interval" in str(result.exception)


def test_conflicting_references_are_a_usage_error() -> None:
    result = CliRunner().invoke(
        app,
        ["create", "source", "git", "p", "--url", "https://x", "--tag", "v1", "--semver", "1.x"],
    )
    assert isinstance(result.exception, UserError)
    assert result.exception.code == 2


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("podinfo", {"kind": "GitRepository", "name": "podinfo"}),
        ("GitRepository/podinfo.flux-system", {"kind": "GitRepository", "name": "podinfo", "namespace": "flux-system"}),
        ("ocirepository/app", {"kind": "OCIRepository", "name": "app"}),
    ],
)  # fmt: skip
def test_source_references(value: str, ref: dict[str, str]) -> None:
    assert parse_source(value) == ref


@pytest.mark.parametrize("value", ["Kustomization/apps", "Bucket/b", "GitRepository/"])
def test_sources_lockstep_cannot_build_from_are_refused(value: str) -> None:
    with pytest.raises(UserError, match="does not name a source"):
        parse_source(value)


def test_dependencies_and_health_checks() -> None:
    assert parse_dependency("infra") == {"name": "infra"}
    assert parse_dependency("ops/infra") == {"name": "infra", "namespace": "ops"}
    assert parse_health_check("StatefulSet/my.db.data") == {
        "kind": "StatefulSet",
        "name": "my.db",
        "apiVersion": "apps/v1",
        "namespace": "data",
    }
    with pytest.raises(UserError, match="does not name an object"):
        parse_health_check("web")
