"""Argo CD's clusters: the cluster Secrets of Argo CD's namespace, and which of them an
Application's ``spec.destination`` names.

A cluster Secret is labelled ``argocd.argoproj.io/secret-type: cluster`` and holds
``name``, ``server`` and ``config``, a JSON document of credentials: ``bearerToken``,
or ``username`` and ``password``, and ``tlsClientConfig`` with ``caData``, ``certData``
and ``keyData`` (base64 PEM), as Argo CD's declarative setup writes them; optionally
``namespaces`` (comma-separated: the only namespaces managed there) and
``clusterResources`` (``true``: cluster-scoped objects too, when ``namespaces`` is set).
:func:`cluster_of_secret` reads one into an :class:`ArgoCluster`, whose
:class:`~lockstep.runtime.clusters.ClusterTarget` is a kubeconfig made of those
credentials, so the Application reconciler reaches the cluster through the same
:class:`~lockstep.runtime.clusters.ClusterRegistry` (one client and drift watches per
cluster) as Flux's ``spec.kubeConfig``.

As for kubeconfig Secrets, what would read files or run commands of lockstep's host,
or trust any server, is refused with a message saying what to write instead:
``execProviderConfig``, ``awsAuthConfig``, ``tlsClientConfig.insecure``;
``tlsClientConfig.serverName`` and ``proxyUrl`` are not supported yet.

:func:`resolve_destination` follows Argo CD: ``https://kubernetes.default.svc`` and
``in-cluster`` are the local cluster unless a Secret names them otherwise (a Secret of
that server renames the local cluster, its credentials unused); any other server or
name must match exactly one Secret. Only the Secret chosen is read whole, so a Secret
with a bad ``config`` fails only the Applications sent to it.

:class:`DestinationClusters` is what the Application reconciler holds: the cached
cluster Secrets, the registry of connected clusters, and the versions each cluster
reports for Helm's ``.Capabilities``. The rest is pure, and also used by the controller
manager (which Applications to look at again when a cluster Secret changes) and by
``lockstep cluster``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from lockstep.api.argo import Application, ApplicationDestination
from lockstep.controllers.argo.status import COMPARISON_ERROR, INVALID_SPEC_ERROR
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.shell import Failure
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeError, KubeObject
from lockstep.runtime.clusters import (
    LOCAL_CLUSTER,
    Cluster,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    kubeconfig_digest,
)
from lockstep.runtime.informer import ObjectCache, ObjectKey

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
CLUSTER_SECRET_TYPE = "cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
CAPABILITIES_SECONDS = 30.0
"""How long a cluster's versions read for Helm's ``.Capabilities`` are used: a CRD
installed meanwhile shows in the next render at the latest that much later."""

_REFUSED_CONFIG = {
    "execProviderConfig": "runs a command on lockstep's host; put a bearerToken or a "
    "client certificate in the config instead",
    "awsAuthConfig": "needs a cloud provider's identity, which lockstep does not support yet; "
    "put a bearerToken or a client certificate in the config instead",
    "proxyUrl": "is not supported yet; reach the API server directly",
}
_REFUSED_TLS = {
    "insecure": "turns off TLS verification of the API server; put the cluster's CA in "
    "tlsClientConfig.caData instead",
    "serverName": "is not supported yet; use the server's address as named in its certificate",
}


class ClusterSecretError(ValueError):
    """A cluster Secret that cannot be used; the message names it and says what to fix."""


class DestinationError(ValueError):
    """``spec.destination`` names no single cluster; the message says what to fix."""


@dataclass(frozen=True)
class ArgoCluster:
    """One cluster Argo CD knows: its name and server, the target reaching it, and the
    namespaces it may be managed in (all when empty)."""

    name: str
    server: str
    target: ClusterTarget = field(repr=False)
    secret: str = ""
    """``namespace/name`` of its Secret; empty for the built-in local cluster."""
    namespaces: tuple[str, ...] = ()
    cluster_resources: bool = True
    """Whether cluster-scoped objects may be managed (always, when ``namespaces`` is empty)."""

    def refuses(self, namespace: str | None) -> str | None:
        """Why an object in ``namespace`` (None: cluster-scoped) may not be managed on this
        cluster, as its Secret's ``namespaces`` and ``clusterResources`` say; else None."""
        if not self.namespaces:
            return None
        if namespace is None:
            if self.cluster_resources:
                return None
            return (
                f"cluster {self.name} manages no cluster-scoped objects; set clusterResources "
                f"to true in its Secret {self.secret}"
            )
        if namespace in self.namespaces:
            return None
        return (
            f"namespace {namespace} is not managed on cluster {self.name}; add it to "
            f"namespaces in its Secret {self.secret}"
        )


IN_CLUSTER = ArgoCluster(IN_CLUSTER_NAME, IN_CLUSTER_SERVER, LOCAL_CLUSTER)
"""The cluster lockstep runs against, as Argo CD names its own."""


def is_cluster_secret(secret: Mapping[str, Any]) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return labels.get(SECRET_TYPE_LABEL) == CLUSTER_SECRET_TYPE


def same_server(a: str, b: str) -> bool:
    """Whether two API server URLs are the same, a trailing ``/`` aside."""
    return a.rstrip("/") == b.rstrip("/")


def secret_value(secret: Mapping[str, Any], key: str) -> str:
    """The text under ``key`` of a Secret as the API server returns it (``data``,
    base64); empty when absent or not base64 text."""
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return str((secret.get("stringData") or {}).get(key) or "")
    try:
        return base64.b64decode(str(raw), validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _where(secret: Mapping[str, Any]) -> str:
    metadata = secret.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def cluster_of_secret(secret: Mapping[str, Any]) -> ArgoCluster:
    """The cluster a cluster Secret describes; raises :class:`ClusterSecretError`."""
    where = f"cluster Secret {_where(secret)}"
    server = secret_value(secret, "server")
    if not server:
        raise ClusterSecretError(f"{where} has no server; set the key server to the API URL")
    name = secret_value(secret, "name") or server
    namespaces = tuple(
        n.strip() for n in secret_value(secret, "namespaces").split(",") if n.strip()
    )
    cluster_resources = secret_value(secret, "clusterResources").lower() == "true"
    if same_server(server, IN_CLUSTER_SERVER):
        return ArgoCluster(
            name, server, LOCAL_CLUSTER, _where(secret), namespaces, cluster_resources
        )
    text = secret_value(secret, "config") or "{}"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClusterSecretError(
            f"{where}: config is not JSON ({error.msg} at line {error.lineno}); write it as "
            'Argo CD does, e.g. {"bearerToken": "...", "tlsClientConfig": {"caData": "..."}}'
        ) from error
    if not isinstance(config, dict):
        raise ClusterSecretError(f"{where}: config must be a JSON object")
    kubeconfig = _kubeconfig(where, name, server, config)
    target = ClusterTarget(where, kubeconfig, kubeconfig_digest(kubeconfig))
    return ArgoCluster(name, server, target, _where(secret), namespaces, cluster_resources)


def _kubeconfig(where: str, name: str, server: str, config: Mapping[str, Any]) -> str:
    """A kubeconfig document reaching ``server`` with the credentials of ``config``."""
    for key, why in _REFUSED_CONFIG.items():
        if config.get(key):
            raise ClusterSecretError(f"{where}: config.{key} {why}")
    tls = config.get("tlsClientConfig") or {}
    if not isinstance(tls, dict):
        raise ClusterSecretError(f"{where}: config.tlsClientConfig must be a JSON object")
    for key, why in _REFUSED_TLS.items():
        if tls.get(key):
            raise ClusterSecretError(f"{where}: config.tlsClientConfig.{key} {why}")
    cluster: dict[str, Any] = {"server": server}
    user: dict[str, Any] = {}
    for key, kube_key, section in (
        ("caData", "certificate-authority-data", cluster),
        ("certData", "client-certificate-data", user),
        ("keyData", "client-key-data", user),
    ):
        value = tls.get(key)
        if value:
            _check_base64(where, f"tlsClientConfig.{key}", value)
            section[kube_key] = value
    if bool(user.get("client-certificate-data")) != bool(user.get("client-key-data")):
        raise ClusterSecretError(
            f"{where}: config.tlsClientConfig sets one of certData and keyData; set both"
        )
    if config.get("bearerToken"):
        user["token"] = str(config["bearerToken"])
    elif config.get("username") or config.get("password"):
        if not (config.get("username") and config.get("password")):
            raise ClusterSecretError(f"{where}: config sets username or password; set both")
        user["username"] = str(config["username"])
        user["password"] = str(config["password"])
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return str(yaml.safe_dump(document, sort_keys=False))


def _check_base64(where: str, key: str, value: object) -> None:
    try:
        base64.b64decode(str(value), validate=True)
    except binascii.Error as error:
        raise ClusterSecretError(
            f"{where}: config.{key} is not base64; write the PEM base64-encoded"
        ) from error


def resolve_destination(
    server: str | None, name: str | None, secrets: Iterable[KubeObject]
) -> ArgoCluster:
    """The cluster of a destination given by ``server`` or ``name``, among the cluster
    ``secrets``. Raises :class:`DestinationError`
    when none or several match, :class:`ClusterSecretError` when the one that matches
    cannot be used."""
    if server and name:
        raise DestinationError(
            f"spec.destination sets both server {server} and name {name}; set only one"
        )
    if not server and not name:
        raise DestinationError(
            f"spec.destination sets neither server nor name; set server to {IN_CLUSTER_SERVER} "
            "for this cluster, or the name of another"
        )
    clusters = [s for s in secrets if is_cluster_secret(s)]
    if name:
        matching = [s for s in clusters if (secret_value(s, "name") or "") == name]
        what, fix = f"name {name}", "spec.destination.name"
    else:
        assert server is not None
        matching = [s for s in clusters if same_server(secret_value(s, "server"), server)]
        what, fix = f"server {server}", "spec.destination.server"
    if len(matching) > 1:
        listed = ", ".join(sorted(_where(s) for s in matching))
        raise DestinationError(
            f"{len(matching)} cluster Secrets have the {what} ({listed}); delete all but one"
        )
    if matching:
        return cluster_of_secret(matching[0])
    if name == IN_CLUSTER_NAME or (server and same_server(server, IN_CLUSTER_SERVER)):
        return IN_CLUSTER
    raise DestinationError(
        f"no cluster has the {what}; add it with lockstep cluster add, or a Secret labelled "
        f"{SECRET_TYPE_LABEL}: {CLUSTER_SECRET_TYPE} in Argo CD's namespace, or fix {fix}"
    )


def destination_names(secret: Mapping[str, Any] | None) -> tuple[str, str]:
    """(name, server) of a cluster Secret, as a destination would name it."""
    if secret is None:
        return "", ""
    return secret_value(secret, "name"), secret_value(secret, "server")


def sends_to(application: Mapping[str, Any], secrets: Sequence[Mapping[str, Any] | None]) -> bool:
    """Whether the destination of ``application`` names one of ``secrets`` (a Secret as
    it is now, or was before a change), by name or by server."""
    destination = (application.get("spec") or {}).get("destination") or {}
    name, server = destination.get("name") or "", destination.get("server") or ""
    for secret in secrets:
        secret_name, secret_server = destination_names(secret)
        if (name and name == secret_name) or (
            server and secret_server and same_server(server, secret_server)
        ):
            return True
    return False


@dataclass(frozen=True)
class Target:
    """Where an Application's objects go: the cluster, connected, and the namespace of
    the objects that name none."""

    cluster: ArgoCluster
    connection: Cluster[DriftWatcher]
    namespace: str

    @property
    def kube(self) -> KubeClient:
        return self.connection.client

    @property
    def drift(self) -> DriftWatcher | None:
        return self.connection.watches


class DestinationClusters:
    """The clusters the Applications of one controller go to: resolved among the cached
    cluster Secrets, connected (with drift watches) in a registry, and their versions."""

    def __init__(
        self,
        kube: KubeClient,
        secrets: ObjectCache | None,
        drift: DriftWatcher | None,
        *,
        egress: Egress = OPEN,
        resync_seconds: float | None = None,
    ) -> None:
        """``secrets``: the cache of Argo CD's namespace's cluster Secrets (None: only
        the local cluster is known); ``resync_seconds``: when an Application whose
        destination names no cluster is looked at again, if no Secret changes before."""
        self._secrets = secrets
        self._resync = resync_seconds
        self._registry: ClusterRegistry[DriftWatcher] = ClusterRegistry(
            kube, drift, drift.for_cluster if drift is not None else None, egress=egress
        )
        self._versions: dict[ClusterTarget, tuple[float, str, tuple[str, ...]]] = {}

    def secrets(self) -> list[KubeObject]:
        return self._secrets.items() if self._secrets is not None else []

    def resolve(self, what: str, destination: ApplicationDestination) -> ArgoCluster:
        """The cluster ``destination`` names (:func:`resolve_destination`); else the
        Application ``what`` fails with ``InvalidSpecError`` until a Secret changes."""
        try:
            return resolve_destination(destination.server, destination.name, self.secrets())
        except (DestinationError, ClusterSecretError) as error:
            raise Failure(
                INVALID_SPEC_ERROR, f"{what}: {error}", retry=False, requeue_after=self._resync
            ) from error

    async def target(
        self, what: str, user: ObjectKey, cluster: ArgoCluster, application: Application
    ) -> Target:
        """``cluster`` connected, now the one of ``user`` (the Application ``what``); a
        cluster that cannot be used fails it with ``ComparisonError``, and it then holds
        none."""
        try:
            connection = await self._registry.use(user, cluster.target)
        except ClusterUnavailable as error:
            await self._registry.release(user)
            raise Failure(COMPARISON_ERROR, f"{what}: {error}") from error
        metadata = application.metadata
        namespace = application.spec.destination.namespace or metadata.namespace or "default"
        return Target(cluster, connection, namespace)

    async def deletion_target(
        self, user: ObjectKey, cluster: ArgoCluster, application: Application
    ) -> Target:
        """``cluster`` connected for the deletion of ``user``: as :meth:`target`, but a
        cluster that cannot be used raises :class:`ClusterUnavailable` and ``user`` keeps
        the cluster it used last, which :meth:`for_deletion` may still delete from."""
        connection = await self._registry.use(user, cluster.target)
        metadata = application.metadata
        namespace = application.spec.destination.namespace or metadata.namespace or "default"
        return Target(cluster, connection, namespace)

    async def for_deletion(
        self, user: ObjectKey, destination: ApplicationDestination
    ) -> KubeClient:
        """The client of the cluster to delete ``user``'s objects from: the one
        ``destination`` names now, or the remote one it used last when that cannot be
        resolved or reached (its Secret deleted with it); never another. Raises
        :class:`ClusterUnavailable`."""

        async def target() -> ClusterTarget:
            try:
                return resolve_destination(
                    destination.server, destination.name, self.secrets()
                ).target
            except (DestinationError, ClusterSecretError) as error:
                raise ClusterUnavailable(str(error)) from error

        return (await self._registry.for_deletion(user, target)).client

    async def release(self, user: ObjectKey) -> None:
        await self._registry.release(user)

    async def close(self) -> None:
        await self._registry.close()

    async def capabilities(self, what: str, target: Target) -> tuple[str, tuple[str, ...]]:
        """The version and API versions of ``target``'s cluster for Helm's
        ``.Capabilities``, read at most every :data:`CAPABILITIES_SECONDS` for all its
        Applications; ``ComparisonError`` of the Application ``what`` when they cannot."""
        try:
            return await self._capabilities(target.connection)
        except KubeError as error:
            raise Failure(
                COMPARISON_ERROR,
                f"{what}: the versions of cluster {target.cluster.name} cannot be read: {error}",
            ) from error

    async def _capabilities(self, connection: Cluster[DriftWatcher]) -> tuple[str, tuple[str, ...]]:
        connected = {LOCAL_CLUSTER, *self._registry.remote}
        for gone in [t for t in self._versions if t not in connected]:
            del self._versions[gone]
        read_at, version, api_versions = self._versions.get(
            connection.target, (-CAPABILITIES_SECONDS, "", ())
        )
        if time.monotonic() - read_at > CAPABILITIES_SECONDS:
            version = await connection.client.server_version()
            api_versions = tuple(await connection.client.api_versions())
            self._versions[connection.target] = (time.monotonic(), version, api_versions)
        return version, api_versions
