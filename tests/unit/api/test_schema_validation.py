"""The generated schemas accept Flux manifests and reject malformed ones, as an API server would."""

from typing import Any

import jsonschema
import pytest

from lockstep.api.crds import crd_manifests


def schema_for(manifest: dict[str, Any]) -> dict[str, Any]:
    """The openAPIV3Schema the API server would validate `manifest` with."""
    group, version = manifest["apiVersion"].split("/")
    for crd in crd_manifests():
        if (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, manifest["kind"]):
            served = {entry["name"]: entry for entry in crd["spec"]["versions"] if entry["served"]}
            return dict(served[version]["schema"]["openAPIV3Schema"])
    raise LookupError(f"no CRD serves {manifest['kind']} at {manifest['apiVersion']}")


def validation_errors(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema_for(manifest))
    return [error.message for error in validator.iter_errors(manifest)]


def test_sample_manifests_are_accepted(sample_manifests: list[dict[str, Any]]) -> None:
    for manifest in sample_manifests:
        assert validation_errors(manifest) == [], manifest["kind"]


def test_image_samples_are_accepted_at_v1_too(sample_by_kind: dict[str, dict[str, Any]]) -> None:
    for kind in ("ImageRepository", "ImagePolicy"):
        manifest = {**sample_by_kind[kind], "apiVersion": "image.toolkit.fluxcd.io/v1"}
        assert validation_errors(manifest) == [], kind


def test_kustomization_without_source_ref_is_rejected(
    sample_by_kind: dict[str, dict[str, Any]],
) -> None:
    manifest = sample_by_kind["Kustomization"]
    del manifest["spec"]["sourceRef"]

    assert validation_errors(manifest) == ["'sourceRef' is a required property"]


def test_kustomization_without_prune_is_rejected(sample_by_kind: dict[str, dict[str, Any]]) -> None:
    manifest = sample_by_kind["Kustomization"]
    del manifest["spec"]["prune"]

    assert validation_errors(manifest) == ["'prune' is a required property"]


@pytest.mark.parametrize("interval", ["1 minute", "10", "1d"])
def test_git_repository_with_malformed_interval_is_rejected(
    interval: str, sample_by_kind: dict[str, dict[str, Any]]
) -> None:
    manifest = sample_by_kind["GitRepository"]
    manifest["spec"]["interval"] = interval

    [error] = validation_errors(manifest)
    assert error.startswith(f"'{interval}' does not match")


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("GitRepository", "url", "ftp://example.com/repo"),
        ("Kustomization", "sourceRef", {"kind": "HelmRepository", "name": "charts"}),
        ("ImagePolicy", "digestReflectionPolicy", "Sometimes"),
        ("ImageRepository", "exclusionList", ["x"] * 26),
    ],
)
def test_values_outside_the_flux_api_are_rejected(
    kind: str, field: str, value: Any, sample_by_kind: dict[str, dict[str, Any]]
) -> None:
    manifest = sample_by_kind[kind]
    manifest["spec"][field] = value

    assert len(validation_errors(manifest)) == 1
