"""The per-kind verbs generated from the kind table, and the day-2 commands' pure parts:
export, create secret, stats, version."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lockstep.cli.context import UserError
from lockstep.cli.export import as_yaml, exported, secret_names
from lockstep.cli.logs import LogFilter, filtered, parse_line
from lockstep.cli.main import app
from lockstep.cli.objects import FLUX_KINDS, FluxKind
from lockstep.cli.secrets import docker_config, registry_host, secret_manifest, tls_data
from lockstep.cli.stats import human_size, kind_stats
from lockstep.cli.version import engine_images

runner = CliRunner()

PER_KIND_VERBS = ("reconcile", "suspend", "resume", "delete", "export")


@pytest.mark.parametrize("verb", PER_KIND_VERBS)
@pytest.mark.parametrize("kind", FLUX_KINDS, ids=lambda kind: kind.kind)
def test_every_kind_gets_every_verb(verb: str, kind: FluxKind) -> None:
    result = runner.invoke(app, [verb, *kind.command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert f"lockstep {verb} {kind.command} NAME" in result.output


def test_kustomization_alias_and_with_source() -> None:
    result = runner.invoke(app, ["reconcile", "ks", "--help"])
    assert result.exit_code == 0
    assert "--with-source" in result.output
    image_policy = runner.invoke(app, ["reconcile", "image", "policy", "--help"])
    assert "--with-source" not in image_policy.output


def test_export_keeps_what_was_declared_only() -> None:
    live = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "repo",
            "namespace": "flux-system",
            "uid": "u",
            "resourceVersion": "12",
            "generation": 3,
            "finalizers": ["finalizers.fluxcd.io"],
            "managedFields": [{}],
            "labels": {"team": "a"},
            "annotations": {
                "reconcile.fluxcd.io/requestedAt": "now",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "owner": "platform",
            },
        },
        "spec": {"url": "https://example.com/r.git", "secretRef": {"name": "auth"}},
        "status": {"conditions": []},
    }
    assert exported(live) == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "repo",
            "namespace": "flux-system",
            "labels": {"team": "a"},
            "annotations": {"owner": "platform"},
        },
        "spec": {"url": "https://example.com/r.git", "secretRef": {"name": "auth"}},
    }
    assert secret_names(live) == ["auth"]
    text = as_yaml([exported(live), exported(live)])
    assert text.startswith("---\n")
    assert len(list(yaml.safe_load_all(text))) == 2


def test_secret_names_in_field_order_without_duplicates() -> None:
    obj = {"spec": {"certSecretRef": {"name": "tls"}, "secretRef": {"name": "tls"}}}
    assert secret_names(obj) == ["tls"]
    assert secret_names({"spec": {}}) == []


def test_docker_config_for_a_registry() -> None:
    assert registry_host("oci://ghcr.io/org/app") == "ghcr.io"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    config = json.loads(docker_config("ghcr.io", "bot", "s3cret"))
    entry = config["auths"]["ghcr.io"]
    assert base64.b64decode(entry["auth"]).decode() == "bot:s3cret"
    with pytest.raises(UserError, match="names no registry"):
        registry_host("oci:///x")


def test_tls_files_need_both_halves_of_a_certificate(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("CA")
    (tmp_path / "tls.crt").write_text("CERT")
    (tmp_path / "tls.key").write_text("KEY")
    assert tls_data(tmp_path / "ca.crt", tmp_path / "tls.crt", tmp_path / "tls.key") == {
        "ca.crt": "CA",
        "tls.crt": "CERT",
        "tls.key": "KEY",
    }
    with pytest.raises(UserError, match="both --tls-crt-file and --tls-key-file"):
        tls_data(None, tmp_path / "tls.crt", None)
    with pytest.raises(UserError, match="cannot read the CA certificate file"):
        tls_data(tmp_path / "missing.crt", None, None)


def test_create_secret_git_export(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            *("create", "secret", "git", "auth", "--url", "https://example.com/r.git"),
            *("-u", "bot", "-p", "s3cret", "-n", "apps", "--export"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == secret_manifest(
        "auth", "apps", {"username": "bot", "password": "s3cret"}
    )
    ssh = runner.invoke(
        app, ["create", "secret", "git", "k", "--url", "ssh://git@example.com/r.git", "--export"]
    )
    assert isinstance(ssh.exception, UserError)
    assert ssh.exception.code == 2
    assert "needs --private-key-file and --known-hosts-file" in str(ssh.exception)
    none = runner.invoke(
        app, ["create", "secret", "git", "k", "--url", "https://example.com/r", "--export"]
    )
    assert isinstance(none.exception, UserError)
    assert "no credentials given" in str(none.exception)


def test_stats_count_and_storage() -> None:
    objects = [
        {
            "spec": {},
            "status": {
                "artifact": {"size": 2048},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
        {"spec": {"suspend": True}, "status": {"artifact": {"size": 1024}}},
        {"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
    ]
    row = kind_stats("GitRepository", objects)
    assert (row.reconcilers, row.running, row.failing, row.suspended, row.storage_bytes) == (
        3,
        2,
        1,
        1,
        3072,
    )
    assert kind_stats("Kustomization", objects).storage_bytes is None
    assert human_size(3072) == "3.0 KiB"
    assert human_size(12) == "12 B"
    assert human_size(None) == "-"


def test_engine_images() -> None:
    deployment = {
        "metadata": {"name": "lockstep", "namespace": "flux-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "lockstep", "image": "img:1"}]}}},
    }
    assert engine_images([deployment]) == [("flux-system/lockstep", "img:1")]


def test_version_client_only() -> None:
    result = runner.invoke(app, ["version", "--client"])
    assert result.exit_code == 0
    assert result.output.startswith("lockstep: v")


def test_log_lines_are_filtered_by_object_and_level() -> None:
    lines = [
        '{"ts": "t", "level": "info", "logger": "l", "msg": "applied", "controllerKind":'
        ' "Kustomization", "name": "apps", "namespace": "flux-system"}',
        '{"ts": "t", "level": "error", "logger": "l", "msg": "failed", "controllerKind":'
        ' "Kustomization", "name": "broken", "namespace": "flux-system"}',
        "2026-01-01 10:00:00,000 WARNING lockstep.runtime.events: failed"
        " [Kustomization/flux-system/broken]",
        "2026-01-01 10:00:00,000 INFO    lockstep.controllers.manager: started",
        "not a log line",
    ]
    assert parse_line(lines[2]) == ("Kustomization", "flux-system", "broken", "warning")
    assert parse_line(lines[3]) == (None, None, None, "info")
    assert parse_line(lines[4]) is None
    broken = LogFilter(kind="kustomization", name="broken", namespace="flux-system")
    assert filtered(lines, broken, None) == [lines[1], lines[2]]
    assert filtered(lines, LogFilter(level="warning"), None) == [lines[1], lines[2]]
    assert filtered(lines, LogFilter(namespace="apps"), None) == []
    assert filtered(lines, LogFilter(), 2) == [lines[3], lines[4]]
