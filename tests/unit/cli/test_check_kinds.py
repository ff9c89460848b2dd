"""``lockstep check`` reports the served, the only-served and the absent kinds."""

from __future__ import annotations

from lockstep.api.kinds import KINDS
from lockstep.cli.check import kinds_report

ALL = {(info.api_version, info.kind) for info in KINDS}
SOURCE_AND_KUSTOMIZE = {
    ("source.toolkit.fluxcd.io/v1", kind)
    for kind in ("GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket")
} | {("kustomize.toolkit.fluxcd.io/v1", "Kustomization")}


def test_a_cluster_with_every_crd_passes_without_warnings() -> None:
    results = kinds_report(ALL)

    assert all(result.passed and not result.warning for result in results)
    assert [result.message.split(":")[0] for result in results] == [
        "served and reconciled",
        "served, not reconciled by lockstep yet",
        f"{len(KINDS)} CRDs installed and Established",
    ]


def test_a_flux_cluster_without_image_and_notification_crds_passes_with_a_warning() -> None:
    served, only_served, absent = kinds_report(SOURCE_AND_KUSTOMIZE)

    assert served.passed
    assert not served.warning
    assert served.message == (
        "served and reconciled: GitRepository, OCIRepository, HelmRepository, HelmChart, "
        "Kustomization"
    )
    assert only_served.message == "served, not reconciled by lockstep yet: Bucket"
    assert absent.passed
    assert absent.warning
    assert absent.message.startswith(
        "absent (no CRD serves them): ExternalArtifact, HelmRelease, ImageRepository, "
        "ImagePolicy, ImageUpdateAutomation, Receiver, Alert, Provider, Application, AppProject;"
    )


def test_an_old_version_only_counts_as_absent() -> None:
    served = (ALL - {("image.toolkit.fluxcd.io/v1", "ImagePolicy")}) | {
        ("image.toolkit.fluxcd.io/v1beta1", "ImagePolicy")
    }

    *_, absent = kinds_report(served)

    assert absent.warning
    assert "ImagePolicy" in absent.message


def test_a_cluster_serving_no_reconciled_kind_fails() -> None:
    [result] = kinds_report({("notification.toolkit.fluxcd.io/v1beta3", "Alert")})

    assert not result.passed
    assert "lockstep install --crds" in result.message
