"""The models parse Flux manifests and write them back unchanged."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from lockstep.api.image import ImagePolicy, ImageRepository
from lockstep.api.kinds import KINDS, find_kind
from lockstep.api.kustomize import (
    Kustomization,
    KustomizationSpec,
    KustomizationStatus,
    SourceReference,
)
from lockstep.api.meta import Condition, ConditionReason, ConditionType, ObjectMeta
from lockstep.api.notification import Receiver
from lockstep.api.source import GitRepository, OCIRepository


def parse(manifest: dict[str, Any]) -> Any:
    return find_kind(manifest["apiVersion"], manifest["kind"]).model.model_validate(manifest)


def test_samples_round_trip_with_their_camel_case_keys(
    sample_manifests: list[dict[str, Any]],
) -> None:
    for manifest in sample_manifests:
        assert parse(copy.deepcopy(manifest)).to_manifest() == manifest


def test_sample_fields_are_typed(sample_by_kind: dict[str, dict[str, Any]]) -> None:
    git = GitRepository.model_validate(sample_by_kind["GitRepository"])
    kustomization = Kustomization.model_validate(sample_by_kind["Kustomization"])
    policy = ImagePolicy.model_validate(sample_by_kind["ImagePolicy"])

    assert git.spec.ref is not None
    assert git.spec.ref.branch == "main"
    assert kustomization.spec.source_ref.kind == "GitRepository"
    assert kustomization.spec.prune is True
    assert policy.spec.image_repository_ref.name == "payment-service"
    assert policy.spec.policy.semver is not None
    assert policy.spec.policy.semver.range == "^1.2.x"


def test_server_defaults_are_visible_on_parsed_objects(
    sample_by_kind: dict[str, dict[str, Any]],
) -> None:
    git = GitRepository.model_validate(sample_by_kind["GitRepository"])
    repository = ImageRepository.model_validate(sample_by_kind["ImageRepository"])
    policy = ImagePolicy.model_validate(sample_by_kind["ImagePolicy"])

    assert git.spec.timeout == "60s"
    assert repository.spec.exclusion_list == [r"^.*\.sig$"]
    assert policy.spec.digest_reflection_policy == "Never"


def test_status_written_by_flux_round_trips() -> None:
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "infra",
            "namespace": "flux-system",
            "generation": 2,
            "creationTimestamp": "2024-05-01T09:59:00Z",
            "annotations": {"reconcile.fluxcd.io/requestedAt": "now"},
        },
        "spec": {"interval": "1m", "url": "ssh://git@example.com/acme/infra", "timeout": "60s"},
        "status": {
            "observedGeneration": 2,
            "lastHandledReconcileAt": "now",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "observedGeneration": 2,
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                    "reason": "Succeeded",
                    "message": "stored artifact for revision 'main@sha1:0123abcd'",
                }
            ],
            "artifact": {
                "path": "gitrepository/flux-system/infra/0123abcd.tar.gz",
                "url": "http://lockstep.flux-system/gitrepository/flux-system/infra/0123abcd.tar.gz",
                "revision": "main@sha1:0123abcd",
                "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "lastUpdateTime": "2024-05-01T10:00:00Z",
                "size": 1024,
            },
        },
    }

    git = GitRepository.model_validate(manifest)

    assert git.status is not None
    assert git.status.conditions[0].type == ConditionType.READY
    assert git.to_manifest() == manifest


def test_unknown_fields_from_newer_flux_versions_are_dropped() -> None:
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": "apps", "managedFields": [{"manager": "x"}]},
        "spec": {"interval": "5m", "url": "oci://ghcr.io/acme/app", "futureField": {"a": 1}},
        "status": {"observedFutureThing": True},
    }

    repository = OCIRepository.model_validate(manifest)

    assert repository.to_manifest() == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": "apps"},
        "spec": {"interval": "5m", "url": "oci://ghcr.io/acme/app"},
        "status": {},
    }


def test_objects_built_in_code_write_only_what_was_set() -> None:
    kustomization = Kustomization(
        metadata=ObjectMeta(name="apps", namespace="flux-system"),
        spec=KustomizationSpec(
            source_ref=SourceReference(kind="GitRepository", name="infra"),
            interval="10m",
            prune=True,
            target_namespace="apps",
        ),
        status=KustomizationStatus(
            conditions=[
                Condition(
                    type=ConditionType.READY,
                    status="False",
                    last_transition_time=datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
                    reason=ConditionReason.PROGRESSING,
                    message="",
                )
            ]
        ),
    )

    assert kustomization.to_manifest() == {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "infra"},
            "interval": "10m",
            "prune": True,
            "targetNamespace": "apps",
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                    "reason": "Progressing",
                    "message": "",
                }
            ]
        },
    }


def test_irregular_wire_names_round_trip() -> None:
    oci = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app"},
        "spec": {
            "interval": "5m",
            "url": "oci://ghcr.io/acme/app",
            "verify": {
                "provider": "cosign",
                "matchOIDCIdentity": [{"issuer": "^https://token.actions.x$", "subject": ".*"}],
            },
        },
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "1m", "prune": False, "sourceRef": {"kind": "Bucket", "name": "b"}},
        "status": {"inventory": {"entries": [{"id": "apps_web_apps_Deployment", "v": "v1"}]}},
    }

    assert OCIRepository.model_validate(oci).to_manifest() == oci
    parsed = Kustomization.model_validate(kustomization)
    assert parsed.status is not None
    assert parsed.status.inventory is not None
    assert parsed.status.inventory.entries[0].version == "v1"
    assert parsed.to_manifest() == kustomization


@pytest.mark.parametrize("interval", ["1m", "10m0s", "1h30m", "1.5h", "500ms", "30s"])
def test_durations_in_go_syntax_are_accepted(interval: str) -> None:
    spec = {"url": "https://github.com/acme/infra", "interval": interval}
    git = GitRepository.model_validate({"metadata": {"name": "a"}, "spec": spec})

    assert git.spec.interval == interval


@pytest.mark.parametrize("interval", ["1 minute", "", "10", "1d", "m5", "-1m"])
def test_malformed_durations_are_rejected(interval: str) -> None:
    spec = {"url": "https://github.com/acme/infra", "interval": interval}

    with pytest.raises(ValidationError, match="interval"):
        GitRepository.model_validate({"metadata": {"name": "a"}, "spec": spec})


def test_missing_required_fields_are_rejected(sample_by_kind: dict[str, dict[str, Any]]) -> None:
    manifest = sample_by_kind["Kustomization"]
    del manifest["spec"]["sourceRef"]

    with pytest.raises(ValidationError, match="sourceRef"):
        Kustomization.model_validate(manifest)


@pytest.mark.parametrize(
    "api_version", ["image.toolkit.fluxcd.io/v1beta2", "image.toolkit.fluxcd.io/v1"]
)
def test_image_kinds_parse_in_both_served_versions(
    api_version: str, sample_by_kind: dict[str, dict[str, Any]]
) -> None:
    manifest = {**sample_by_kind["ImagePolicy"], "apiVersion": api_version}

    assert ImagePolicy.model_validate(manifest).api_version == api_version


def test_unserved_api_version_or_other_kind_is_rejected(
    sample_by_kind: dict[str, dict[str, Any]],
) -> None:
    old_version = {**sample_by_kind["ImagePolicy"], "apiVersion": "image.toolkit.fluxcd.io/v1beta1"}
    other_kind = {**sample_by_kind["GitRepository"], "kind": "OCIRepository"}

    with pytest.raises(ValidationError, match="apiVersion"):
        ImagePolicy.model_validate(old_version)
    with pytest.raises(ValidationError, match="kind"):
        GitRepository.model_validate(other_kind)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Condition(
            type="Ready",
            status="True",
            last_transition_time=datetime(2024, 5, 1, 10, 0, 0),
            reason="Succeeded",
            message="",
        )


def test_receiver_defaults_its_interval_and_requires_a_token_secret() -> None:
    receiver = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "github", "namespace": "flux-system"},
        "spec": {
            "type": "github",
            "events": ["push"],
            "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "infra"}],
        },
    }

    assert Receiver.model_validate(receiver).spec.interval == "10m"
    del receiver["spec"]["secretRef"]
    with pytest.raises(ValidationError, match="secretRef"):
        Receiver.model_validate(receiver)


def test_find_kind_knows_every_served_version() -> None:
    for info in KINDS:
        for api_version in info.api_versions:
            assert find_kind(api_version, info.kind) is info


def test_find_kind_names_what_it_does_not_serve() -> None:
    with pytest.raises(LookupError, match=r"HelmRelease at helm\.toolkit\.fluxcd\.io/v2beta1"):
        find_kind("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease")


def _kustomization_with(kube_config: dict[str, Any]) -> Kustomization:
    spec = {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "infra"},
        "kubeConfig": kube_config,
    }
    return Kustomization.model_validate({"metadata": {"name": "a", "namespace": "b"}, "spec": spec})


def test_kube_config_takes_a_secret_or_a_config_map() -> None:
    secret = _kustomization_with({"secretRef": {"name": "prod", "key": "value.yaml"}})
    cloud = _kustomization_with({"configMapRef": {"name": "aks"}})

    assert secret.spec.kube_config is not None
    assert cloud.spec.kube_config is not None
    assert secret.spec.kube_config.secret_ref is not None
    assert secret.spec.kube_config.secret_ref.key == "value.yaml"
    assert cloud.spec.kube_config.config_map_ref is not None
    assert cloud.spec.kube_config.config_map_ref.name == "aks"
    assert cloud.to_manifest()["spec"]["kubeConfig"] == {"configMapRef": {"name": "aks"}}


@pytest.mark.parametrize(
    "kube_config", [{}, {"secretRef": {"name": "prod"}, "configMapRef": {"name": "aks"}}]
)
def test_kube_config_needs_exactly_one_reference(kube_config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of secretRef and configMapRef"):
        _kustomization_with(kube_config)
