"""The Flux source objects that fetch an Application's sources: one fetch for every
Application on the same repository and revision.

Argo CD's repository server fetches what Applications name in ``repoURL`` and
``targetRevision``. lockstep fetches with its source controllers instead: for each
source the Application reconciler applies, in the Application's namespace,

- a Git repository: a ``GitRepository`` named ``argo-<digest of URL and revision>``;
  its ref is the target revision as Argo CD reads it (``HEAD`` or none: the remote's
  default branch; a full commit id: that commit; a name: a branch, else a tag, see
  :mod:`lockstep.sources.refs`);
- a chart of a Helm repository (``chart`` set): a ``HelmRepository`` named after the URL
  and a ``HelmChart`` named after URL, chart and version range, whose artifact is the
  chart.

Applications with the same source share these objects, and so one fetch and one
artifact, however many they are (no refresh storm on a monorepo). The objects carry
the label ``lockstep.io/argo-source`` and are checked at the resync period of the
Applications (by default 3m, as Argo CD's 120 s plus jitter); they are left in place when Applications stop using them
(they are cheap, and deleting one another Application may start to use again at any
time would refetch it).

An SCP-like Git URL (``git@host:org/repo.git``) is written as the ``ssh://`` URL Flux
reads. Credentials from Argo CD's repository Secrets are not carried over yet: a
private repository fails to fetch, and the Application says which source.

Called by the Application reconciler.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from lockstep.api.argo import ApplicationSource

SOURCE_LABEL = "lockstep.io/argo-source"

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+)@(?P<host>[^/:]+):(?P<path>[^/].*)$")
_COMMIT = re.compile(r"^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


@dataclass(frozen=True)
class SourceObjects:
    """The objects that fetch one source, and the one whose artifact is the source."""

    kind: Literal["GitRepository", "HelmChart"]
    name: str
    manifests: tuple[dict[str, Any], ...]
    """Every object to apply, the artifact's own last."""


def source_objects(source: ApplicationSource, namespace: str, interval: str) -> SourceObjects:
    """The Flux objects that fetch ``source`` for Applications in ``namespace``, checked
    every ``interval`` (a Go duration)."""
    if source.chart:
        return _chart_objects(source, namespace, interval)
    url = git_url(source.repo_url)
    revision = source.target_revision or "HEAD"
    name = _name("git", url, revision)
    repository = _object(
        "GitRepository",
        name,
        namespace,
        {"url": url, "interval": interval, "ref": git_ref(revision)},
    )
    return SourceObjects("GitRepository", name, (repository,))


def git_url(url: str) -> str:
    """``url`` as Flux reads it: an SCP-like address becomes an ``ssh://`` URL."""
    scp = _SCP_LIKE.match(url)
    if scp is None or "://" in url:
        return url
    return f"ssh://{scp.group('user')}@{scp.group('host')}/{scp.group('path')}"


def git_ref(revision: str) -> dict[str, str]:
    """The GitRepository ref of an Argo CD target revision."""
    if _COMMIT.match(revision):
        return {"commit": revision.lower()}
    return {"name": revision}


def commit_of(revision: str) -> str:
    """The commit id of a Flux Git revision (``main@sha1:<id>``, ``sha1:<id>``), which is
    what Argo CD shows as a Git source's revision; a chart's revision (its version) is
    returned as it is."""
    _, _, digest = revision.rpartition("@")
    algorithm, _, commit = digest.partition(":")
    return commit if algorithm in ("sha1", "sha256") and commit else revision


def _chart_objects(source: ApplicationSource, namespace: str, interval: str) -> SourceObjects:
    url = source.repo_url
    oci = url.startswith("oci://")
    if not oci and "://" not in url:
        # Argo CD takes an OCI chart repository without its scheme.
        url, oci = f"oci://{url}", True
    repository_name = _name("helm", url)
    repository_spec: dict[str, Any] = {"url": url, "interval": interval}
    if oci:
        repository_spec["type"] = "oci"
    version = source.target_revision or "*"
    chart_name = _name("chart", url, str(source.chart), version)
    chart = _object(
        "HelmChart",
        chart_name,
        namespace,
        {
            "chart": source.chart,
            "version": version,
            "interval": interval,
            "sourceRef": {"kind": "HelmRepository", "name": repository_name},
        },
    )
    repository = _object("HelmRepository", repository_name, namespace, repository_spec)
    return SourceObjects("HelmChart", chart_name, (repository, chart))


def _name(*parts: str) -> str:
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"argo-{parts[0]}-{digest}"


def _object(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {SOURCE_LABEL: "true"}},
        "spec": spec,
    }
