"""What a HelmRelease's status says of its attempts: whether an attempt is new (which
starts the count of failures afresh), whether its retries are exhausted, the history
snapshots, and the message of a successful action, as Flux's helm-controller writes them.

Called by :mod:`.release`.
"""

from __future__ import annotations

from typing import Any

from lockstep.api.helm import HelmRelease, HelmReleaseStatus, ReleaseAction, Snapshot
from lockstep.controllers.helm.storage import Release, release_digest


def new_attempt(obj: HelmRelease, status: HelmReleaseStatus, revision: str, digest: str) -> bool:
    """Whether this attempt differs from the last one (chart, values or spec), which
    starts the count of failures afresh, as Flux does."""
    return (
        status.last_attempted_generation != obj.metadata.generation
        or status.last_attempted_revision != revision
        or status.last_attempted_config_digest != digest
    )


def last_failure(obj: HelmRelease) -> tuple[str, str] | None:
    """Reason and message of the stored Ready=False, if it is one."""
    if obj.status is None:
        return None
    for condition in obj.status.conditions:
        if condition.type == "Ready" and condition.status == "False":
            return condition.reason, condition.message
    return None


def retries_exhausted(obj: HelmRelease, status: HelmReleaseStatus, action: ReleaseAction) -> bool:
    """Whether the failures of ``action`` counted in ``status``, this attempt's included,
    exceed its retries (never with negative retries)."""
    retries = obj.remediation_retries(action)
    return retries >= 0 and failure_count(status, action) > retries


def failure_count(status: HelmReleaseStatus, action: ReleaseAction) -> int:
    count = status.upgrade_failures if action == "upgrade" else status.install_failures
    return count or 0


def history_snapshots(history: list[Release], *, digest_of: Any) -> list[Snapshot]:
    snapshots = []
    for release in sorted(history, key=lambda r: r.version, reverse=True):
        metadata = release.chart.get("metadata") or {}
        snapshots.append(
            Snapshot(
                api_version=metadata.get("apiVersion"),
                name=release.name,
                namespace=release.namespace,
                version=release.version,
                status=release.status,
                chart_name=str(metadata.get("name", "")),
                chart_version=str(metadata.get("version", "")),
                app_version=metadata.get("appVersion"),
                config_digest=digest_of(release.config),
                first_deployed=release.first_deployed,
                last_deployed=release.last_deployed,
                digest=release_digest(release),
            )
        )
    return snapshots


def success_message(obj: HelmRelease, release: Release, *, upgrade: bool) -> str:
    metadata = release.chart.get("metadata") or {}
    return (
        f"Helm {'upgrade' if upgrade else 'install'} succeeded for release "
        f"{release.namespace}/{release.name}.v{release.version} with chart "
        f"{metadata.get('name')}@{metadata.get('version')}"
    )


def chart_version(release: Release) -> str:
    metadata = release.chart.get("metadata") or {}
    return str(metadata.get("version", ""))
