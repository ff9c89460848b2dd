"""The Flux source objects that fetch an Application's sources: one fetch for every
Application on the same repository, revision and credentials.

Argo CD's repository server fetches what Applications name in ``repoURL`` and
``targetRevision``. lockstep fetches with its source controllers instead: for each
source the Application reconciler applies

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
reads.

Credentials (:mod:`lockstep.controllers.argo.repositories`): a source that one of Argo
CD's repository Secrets serves is fetched by objects in Argo CD's namespace, where that
Secret lives, whatever the Application's namespace; their names also digest the
Secret's name. The GitRepository (or HelmRepository) names in ``secretRef`` a Secret of
the same name that lockstep writes beside it: the Argo CD Secret's credentials under
Flux's keys, owned by the Argo CD Secret (an ownerReference), so that Kubernetes'
garbage collector deletes every copy of its credentials with it. So credentials never
leave Argo CD's namespace, even for an Application of another namespace
(``sourceNamespaces``): what that Application gets is the artifact, as Argo CD's
repository server gives it the manifests. Which Secret an Application may use is the
repositories module's choice: a Secret scoped to another AppProject never serves it.
The object carries the label ``lockstep.io/argo-credentials``, a digest of the Secret's
identity and version (never of its values); when the Argo CD Secret (or the SSH known
hosts) changes, so does the label, and the objects and their Secret are written again
with a ``reconcile.fluxcd.io/requestedAt`` of that digest, so the new credentials are
used at once. A source object whose Argo CD Secret is gone is left in place, unused, as
any other (its fetch fails: its Secret is gone too). An engine that watches one
namespace (``--watch-namespace``) sees these objects only when that namespace is Argo
CD's.

Called by the Application reconciler and by ``lockstep``'s Argo CD commands.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from lockstep.api.argo import ApplicationSource
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.controllers.argo.repositories import (
    Credentials,
    SourceKind,
    credentials_for,
    is_oci_chart,
    parse_secret,
)
from lockstep.kube import KubeClient, KubeObject

SOURCE_LABEL = "lockstep.io/argo-source"
CREDENTIALS_LABEL = "lockstep.io/argo-credentials"

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+)@(?P<host>[^/:]+):(?P<path>[^/].*)$")
_COMMIT = re.compile(r"^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


@dataclass(frozen=True)
class SourceObjects:
    """The objects that fetch one source, and the one whose artifact is the source."""

    kind: Literal["GitRepository", "HelmChart"]
    name: str
    manifests: tuple[dict[str, Any], ...]
    """Every object to apply, the artifact's own last; the first names ``secret``."""
    namespace: str = ""
    secret: dict[str, Any] | None = None
    """The Secret of credentials the first object names, without its owner."""
    origin: str = ""
    """The Argo CD Secret the credentials come from, as messages name it."""


def source_objects(
    source: ApplicationSource,
    namespace: str,
    interval: str,
    credentials: Credentials | None = None,
    *,
    oci: bool = False,
) -> SourceObjects:
    """The Flux objects that fetch ``source`` for Applications in ``namespace``, checked
    every ``interval`` (a Go duration), with ``credentials`` (then in their Secret's
    namespace); ``oci``: a chart's repository is an OCI registry whatever its URL says."""
    if credentials is not None:
        namespace = credentials.secret.namespace
    if source.chart:
        return _chart_objects(source, namespace, interval, credentials, oci)
    url = git_url(source.repo_url)
    revision = source.target_revision or "HEAD"
    name = _name("git", url, revision, *_identity(credentials))
    spec = {"url": url, "interval": interval, "ref": git_ref(revision)}
    repository = _object("GitRepository", name, namespace, spec, credentials)
    secret = _secret(name, namespace, credentials)
    return SourceObjects(
        "GitRepository", name, (repository,), namespace, secret, _origin(credentials)
    )


def application_source_objects(
    source: ApplicationSource,
    namespace: str,
    interval: str,
    *,
    project: str,
    secrets: Iterable[KubeObject],
    known_hosts: KubeObject | None,
) -> SourceObjects:
    """:func:`source_objects` for an Application of ``project`` in ``namespace``, with the
    credentials Argo CD's repository ``secrets`` give it (``known_hosts``: the ConfigMap
    of SSH host keys); raises
    :class:`~lockstep.controllers.argo.repositories.RepositoryCredentialsError`."""
    parsed = [s for s in (parse_secret(raw) for raw in secrets) if s is not None]
    oci = bool(source.chart) and is_oci_chart(source.repo_url, parsed, project)
    kind: SourceKind = "oci" if oci else "helm" if source.chart else "git"
    url = source.repo_url if source.chart else git_url(source.repo_url)
    credentials = credentials_for(url, project, kind, parsed, known_hosts)
    return source_objects(source, namespace, interval, credentials, oci=oci)


async def apply_source_object(
    kube: KubeClient, objects: SourceObjects, manifest: dict[str, Any]
) -> None:
    """Apply ``manifest``, one of ``objects``; before the one that names the Secret of
    credentials, that Secret, so that the fetch finds it."""
    if objects.secret is not None and manifest["kind"] == objects.manifests[0]["kind"]:
        await kube.apply(objects.secret)
    await kube.apply(manifest)


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


def _chart_objects(
    source: ApplicationSource,
    namespace: str,
    interval: str,
    credentials: Credentials | None,
    oci: bool,
) -> SourceObjects:
    url = source.repo_url
    oci = oci or url.startswith("oci://")
    if "://" not in url:
        # Argo CD takes an OCI chart repository without its scheme.
        url, oci = f"oci://{url}", True
    identity = _identity(credentials)
    repository_name = _name("helm", url, *identity)
    repository_spec: dict[str, Any] = {"url": url, "interval": interval}
    if oci:
        repository_spec["type"] = "oci"
    version = source.target_revision or "*"
    chart_name = _name("chart", url, str(source.chart), version, *identity)
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
    if credentials is not None and credentials.client_certificate:
        repository_spec["certSecretRef"] = {"name": repository_name}
    repository = _object("HelmRepository", repository_name, namespace, repository_spec, credentials)
    secret = _secret(repository_name, namespace, credentials)
    manifests = (repository, chart)
    return SourceObjects(
        "HelmChart", chart_name, manifests, namespace, secret, _origin(credentials)
    )


def _name(*parts: str) -> str:
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"argo-{parts[0]}-{digest}"


def _identity(credentials: Credentials | None) -> tuple[str, ...]:
    """What names the objects of a source fetched with ``credentials``: their Secret."""
    return () if credentials is None else (credentials.secret.name,)


def _origin(credentials: Credentials | None) -> str:
    return credentials.secret.where if credentials is not None else ""


def _object(
    kind: str,
    name: str,
    namespace: str,
    spec: dict[str, Any],
    credentials: Credentials | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {SOURCE_LABEL: "true"},
    }
    if credentials is not None:
        spec["secretRef"] = {"name": name}
        metadata["labels"][CREDENTIALS_LABEL] = credentials.version
        metadata["annotations"] = {RECONCILE_REQUEST_ANNOTATION: credentials.version}
    return {"apiVersion": SOURCE_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _secret(name: str, namespace: str, credentials: Credentials | None) -> dict[str, Any] | None:
    """The Secret of ``credentials`` in Flux's keys, owned by the Argo CD Secret."""
    if credentials is None:
        return None
    origin = credentials.secret
    owner = {"apiVersion": "v1", "kind": "Secret", "name": origin.name, "uid": origin.uid}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {SOURCE_LABEL: "true", CREDENTIALS_LABEL: credentials.version},
            "ownerReferences": [owner],
        },
        "type": "Opaque",
        "data": {
            key: base64.b64encode(value.encode()).decode()
            for key, value in credentials.data.items()
        },
    }
