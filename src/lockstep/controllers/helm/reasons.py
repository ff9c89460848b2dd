"""The reasons of a HelmRelease's conditions, as Flux's helm-controller writes them, and
the names its messages give the HelmRelease.

Shared by the stages of the HelmRelease reconciler (:mod:`.release`, :mod:`.install`,
:mod:`.remediation`, :mod:`.drift_detection`), so that each sets the reason of its own
failures without importing the reconciler.
"""

from __future__ import annotations

from lockstep.api.helm import HelmRelease
from lockstep.runtime.informer import ObjectKey

KIND = "HelmRelease"

RELEASED = "Released"
INSTALL_SUCCEEDED = "InstallSucceeded"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_FAILED = "UpgradeFailed"
ROLLBACK_FAILED = "RollbackFailed"
ARTIFACT_FAILED = "ArtifactFailed"
SOURCE_NOT_READY = "SourceNotReady"
VALUES_FAILED = "InitFailed"
UNSUPPORTED = "UnsupportedField"
RETRIES_EXCEEDED = "RetriesExceeded"
DRIFTED = "Drifted"
DEPENDENCY_NOT_READY = "DependencyNotReady"
TEST_SUCCESS = "TestSuccess"
TEST_SUCCEEDED = "TestSucceeded"
TEST_FAILED = "TestFailed"


def failed_reason(action: str) -> str:
    return {"install": INSTALL_FAILED, "upgrade": UPGRADE_FAILED}.get(action, ROLLBACK_FAILED)


def one_line(error: Exception) -> str:
    """Helm's message on one line (a template error spans several)."""
    return " ".join(str(error).split())


def helmrelease_key(obj: HelmRelease) -> ObjectKey:
    return (obj.metadata.namespace or "", obj.metadata.name)


def helmrelease_name(obj: HelmRelease) -> str:
    return f"{KIND} {obj.metadata.namespace}/{obj.metadata.name}"
