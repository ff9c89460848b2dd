"""The clusters lockstep applies to: the local one, and remote ones reached with a
kubeconfig kept in a Secret.

A :class:`ClusterTarget` names a cluster as a value: a name shown in messages and
the kubeconfig that reaches it (none for :data:`LOCAL_CLUSTER`, reached with
lockstep's own credentials), with the digest of that kubeconfig. Flux's
``spec.kubeConfig.secretRef`` becomes a target with :func:`kubeconfig_target`;
Argo CD's cluster Secrets become targets the same way, as a kubeconfig made of their
credentials (:mod:`lockstep.controllers.argo.clusters`).

The :class:`ClusterRegistry` holds one :class:`Cluster` per target in use: a
:class:`~lockstep.kube.KubeClient` with its own discovery, the clients
impersonating accounts there, and the watches a controller keeps on it (the
drift watches). A remote cluster is connected on first use and checked at once
(discovery of the core API, which needs valid credentials), so an unreachable
one fails before anything is applied; it is shared by every object that
targets it and closed when the last of them targets another cluster or is gone.
Credentials are part of the target: when a Secret's content changes, so does
its digest, its users move to a new cluster entry as they are reconciled, and
the old client and watches are closed once none is left on them.

Kubeconfigs from Secrets must carry their credentials inline. File paths,
``exec`` plugins, auth providers and disabled TLS verification are refused:
they would read files or run commands of the host lockstep runs on, or trust
any server (Flux refuses the last three unless told otherwise).

Used by the Kustomization reconciler, which asks for the cluster of each
Kustomization at every reconcile, and by the CLI commands that read or dry-run
against a Kustomization's cluster (``diff``, ``trace``, ``tree``), through
:func:`kube_config_target` and :func:`target_client`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import yaml

from lockstep.egress import OPEN, Egress, EgressRefused
from lockstep.kube import FIELD_MANAGER, KubeClient, KubeError, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey

KUBECONFIG_KEYS = ("value", "value.yaml")
"""The keys of a kubeconfig Secret looked at, in order, when the reference names none."""

_REFUSED_USER_FIELDS = {
    "exec": "runs a command on lockstep's host",
    "auth-provider": "needs an auth provider plugin",
    "client-certificate": "reads a file of lockstep's host; use client-certificate-data",
    "client-key": "reads a file of lockstep's host; use client-key-data",
    "tokenFile": "reads a file of lockstep's host; use token",
}
_REFUSED_CLUSTER_FIELDS = {
    "certificate-authority": "reads a file of lockstep's host; use certificate-authority-data",
    "insecure-skip-tls-verify": "turns off TLS verification of the API server",
}


CLOUD_IDENTITY_REFUSED = (
    "kubeConfig.configMapRef needs cloud identity, which lockstep does not support yet; "
    "use kubeConfig.secretRef"
)
"""Why Flux's ``spec.kubeConfig.configMapRef`` (a cloud provider's cluster) is refused."""


class ClusterUnavailable(Exception):
    """The cluster of a target cannot be used; the message names it and says what to do."""


class CloudIdentityUnsupported(ClusterUnavailable):
    """The target needs a cloud provider's identity: only a change of the spec helps."""


@dataclass(frozen=True)
class ClusterTarget:
    """Which cluster to reach, and with what (``None``: the local cluster)."""

    name: str
    """What messages call the cluster, e.g. ``kubeconfig Secret apps/prod``."""

    kubeconfig: str | None = field(default=None, repr=False, compare=False)
    digest: str = ""
    """``sha256:<hex>`` of ``kubeconfig``: equal targets have equal credentials."""

    @property
    def local(self) -> bool:
        return self.kubeconfig is None

    def __str__(self) -> str:
        return self.name


LOCAL_CLUSTER = ClusterTarget("the local cluster")


def kubeconfig_digest(text: str) -> str:
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


async def kubeconfig_target(
    kube: KubeClient, namespace: str, name: str, key: str | None = None
) -> ClusterTarget:
    """The cluster whose kubeconfig the Secret ``namespace/name`` holds, under ``key`` or
    else :data:`KUBECONFIG_KEYS`, read with ``kube``; raises :class:`ClusterUnavailable`."""
    where = f"kubeconfig Secret {namespace}/{name}"
    keys = (key,) if key else KUBECONFIG_KEYS
    try:
        secret = await kube.get(ObjectRef("v1", "Secret", name, namespace))
    except NotFound as error:
        raise ClusterUnavailable(
            f"{where} does not exist; create it with the remote cluster's kubeconfig "
            f"under the key {keys[0]}, or fix spec.kubeConfig.secretRef"
        ) from error
    except KubeError as error:
        raise ClusterUnavailable(f"{where} cannot be read: {error.message}") from error
    return target_from_secret(where, secret.get("data") or {}, keys)


def target_from_secret(where: str, data: dict[str, Any], keys: Iterable[str]) -> ClusterTarget:
    """The target of the kubeconfig under the first of ``keys`` in a Secret's ``data``."""
    keys = tuple(keys)
    found = next((key for key in keys if key in data), None)
    if found is None:
        raise ClusterUnavailable(
            f"{where} has no key {' or '.join(keys)}; put the remote cluster's kubeconfig "
            f"under {keys[0]}"
        )
    try:
        text = base64.b64decode(str(data[found]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ClusterUnavailable(
            f"{where}: the entry {found} is not base64-encoded text; store the kubeconfig as is"
        ) from error
    return ClusterTarget(where, text, kubeconfig_digest(text))


def parse_kubeconfig(target: ClusterTarget) -> dict[str, Any]:
    """The kubeconfig document of ``target``, checked to carry its credentials inline."""
    try:
        document = yaml.safe_load(target.kubeconfig or "")
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise ClusterUnavailable(
            f"{target} does not hold a readable kubeconfig ({problem}); store a kubeconfig file"
        ) from error
    if not isinstance(document, dict) or not document.get("clusters"):
        raise ClusterUnavailable(
            f"{target} does not hold a kubeconfig (no clusters); store a kubeconfig file"
        )
    for section, refused in (
        ("users", _REFUSED_USER_FIELDS),
        ("clusters", _REFUSED_CLUSTER_FIELDS),
    ):
        for entry in document.get(section) or []:
            settings = (entry or {}).get(section[:-1]) or {}
            for name, why in refused.items():
                if settings.get(name):
                    raise ClusterUnavailable(
                        f"{target}: the kubeconfig's {section[:-1]} {entry.get('name')!r} sets "
                        f"{name}, which {why}; put the credentials inline"
                    )
    return document


async def connect_kubeconfig(
    target: ClusterTarget, *, field_manager: str = FIELD_MANAGER, egress: Egress = OPEN
) -> KubeClient:
    """A client for the cluster of ``target``, after one request that needs valid
    credentials answered; raises :class:`ClusterUnavailable`, also when ``egress``
    refuses the server's host."""
    document = parse_kubeconfig(target)
    if not egress.open:
        try:
            await asyncio.to_thread(egress.check_url, _server(document), str(target))
        except EgressRefused as error:
            raise ClusterUnavailable(str(error)) from None
    try:
        client = KubeClient.from_kubeconfig_document(
            document, source=str(target), field_manager=field_manager
        )
    except KubeError as error:
        raise ClusterUnavailable(f"{error.message}; fix the kubeconfig") from error
    try:
        await client.resource_info("v1", "Namespace")
    except KubeError as error:
        await client.close()
        raise ClusterUnavailable(
            f"the cluster of {target} cannot be used: {error.message}; check that it is "
            "up and that the kubeconfig's address and credentials are right"
        ) from error
    return client


def _server(document: Mapping[str, Any]) -> str:
    """The server of the kubeconfig's current context; empty when it names none."""

    def named(section: str, name: object) -> Mapping[str, Any]:
        entries = document.get(section) or []
        found = next((e for e in entries if isinstance(e, dict) and e.get("name") == name), {})
        return found.get(section[:-1]) or {}

    context = named("contexts", document.get("current-context"))
    return str(named("clusters", context.get("cluster")).get("server") or "")


async def kube_config_target(
    kube: KubeClient, namespace: str, kube_config: Mapping[str, Any] | None
) -> ClusterTarget:
    """The target of Flux's ``spec.kubeConfig`` as the object writes it (``secretRef``
    with ``name`` and ``key``, or ``configMapRef``) for an object in ``namespace``:
    :data:`LOCAL_CLUSTER` without one. The Secret is read with ``kube``; raises
    :class:`ClusterUnavailable`, :class:`CloudIdentityUnsupported` for a ConfigMap."""
    if not kube_config:
        return LOCAL_CLUSTER
    secret = kube_config.get("secretRef")
    if not secret:
        if kube_config.get("configMapRef"):
            raise CloudIdentityUnsupported(CLOUD_IDENTITY_REFUSED)
        raise ClusterUnavailable(
            "spec.kubeConfig names no secretRef; set spec.kubeConfig.secretRef"
        )
    return await kubeconfig_target(
        kube, namespace, str(secret.get("name") or ""), secret.get("key")
    )


@contextlib.asynccontextmanager
async def target_client(kube: KubeClient, target: ClusterTarget) -> AsyncIterator[KubeClient]:
    """A client for ``target`` while the block runs: ``kube`` itself for the local cluster,
    else a checked one with ``kube``'s field manager, closed at the end; raises
    :class:`ClusterUnavailable` when the remote cluster cannot be used. For one-off
    readers (the CLI); controllers keep their clusters in a :class:`ClusterRegistry`."""
    if target.local:
        yield kube
        return
    client = await connect_kubeconfig(target, field_manager=kube.field_manager)
    try:
        yield client
    finally:
        await client.close()


class ClusterWatches(Protocol):
    """What a controller watches on one cluster, told when an object stops using it."""

    def forget(self, owner: ObjectKey) -> None: ...

    async def stop(self) -> None: ...


W = TypeVar("W", bound=ClusterWatches)

Connect = Callable[[ClusterTarget], Awaitable[KubeClient]]
"""Makes a checked client for a remote target; raises :class:`ClusterUnavailable`."""


class Cluster(Generic[W]):
    """One target cluster in use: its client, the clients acting as accounts there, and
    the controller's watches on it."""

    def __init__(self, target: ClusterTarget, client: KubeClient, watches: W | None) -> None:
        self.target = target
        self.client = client
        self.watches = watches
        self._impersonating: dict[str, KubeClient] = {}

    def as_user(self, user: str | None) -> KubeClient:
        """The cluster's client, or (``user`` set) one whose requests are made as ``user``."""
        if not user:
            return self.client
        client = self._impersonating.get(user)
        if client is None:
            client = self._impersonating[user] = self.client.impersonating(user)
        return client

    async def close(self, *, client: bool) -> None:
        """Stop the watches and close the impersonating clients, and with ``client`` the
        cluster's own client."""
        if client and self.watches is not None:
            await self.watches.stop()
        for impersonating in self._impersonating.values():
            await impersonating.close()
        self._impersonating.clear()
        if client:
            await self.client.close()


class ClusterRegistry(Generic[W]):
    """The clusters the objects of one controller target, by object key.

    The local cluster's client and watches belong to whoever made them (the
    controller manager); remote ones are made here with ``watches`` and closed here.
    """

    def __init__(
        self,
        local: KubeClient,
        local_watches: W | None = None,
        watches: Callable[[KubeClient], W] | None = None,
        *,
        connect: Connect | None = None,
        egress: Egress = OPEN,
    ) -> None:
        """``egress`` says which servers remote clusters may be on."""
        self.local: Cluster[W] = Cluster(LOCAL_CLUSTER, local, local_watches)
        self._watches = watches
        self._connect: Connect = connect or (
            lambda target: connect_kubeconfig(
                target, field_manager=local.field_manager, egress=egress
            )
        )
        self._clusters: dict[ClusterTarget, Cluster[W]] = {}
        self._users: dict[ObjectKey, ClusterTarget] = {}
        self._connecting: dict[ClusterTarget, asyncio.Future[Cluster[W]]] = {}

    @property
    def remote(self) -> list[ClusterTarget]:
        """The remote targets connected now."""
        return list(self._clusters)

    def users(self, target: ClusterTarget) -> list[ObjectKey]:
        """The objects whose cluster is ``target``."""
        return [user for user, used in self._users.items() if used == target]

    async def use(self, user: ObjectKey, target: ClusterTarget) -> Cluster[W]:
        """The cluster of ``target``, connected if needed, now the one of ``user``; the
        cluster ``user`` used before is closed when nobody else uses it."""
        cluster = self.local if target.local else await self._cluster(target)
        # No await between the lookup and the registration: a cluster handed out always
        # has its user counted.
        previous = self._users.get(user)
        self._users[user] = target
        if previous is not None and previous != target:
            await self._left(user, previous)
        return cluster

    async def for_deletion(
        self, user: ObjectKey, target: Callable[[], Awaitable[ClusterTarget]]
    ) -> Cluster[W]:
        """The cluster to delete ``user``'s objects from: the one of its ``target`` (read
        now), or, when that cannot be used, the remote cluster it used last (its
        kubeconfig Secret deleted together with it, as when its namespace is deleted),
        connected still with the credentials last read. Never another cluster: raises
        :class:`ClusterUnavailable` when neither can be used."""
        held = self.held(user)
        try:
            return await self.use(user, await target())
        except ClusterUnavailable:
            if held is not None and not held.target.local:
                return held
            raise

    def held(self, user: ObjectKey) -> Cluster[W] | None:
        """The cluster ``user`` used last, while it is still connected."""
        target = self._users.get(user)
        if target is None:
            return None
        return self.local if target.local else self._clusters.get(target)

    async def release(self, user: ObjectKey) -> None:
        """``user`` uses no cluster any more (it is gone, or its cluster cannot be used)."""
        previous = self._users.pop(user, None)
        if previous is not None:
            await self._left(user, previous)

    async def close(self) -> None:
        """Close every remote cluster and the impersonating clients of the local one."""
        clusters = list(self._clusters.values())
        self._clusters.clear()
        self._users.clear()
        for cluster in clusters:
            await cluster.close(client=True)
        await self.local.close(client=False)

    async def _cluster(self, target: ClusterTarget) -> Cluster[W]:
        """The cluster of ``target``; callers asking while it connects share one attempt."""
        cluster = self._clusters.get(target)
        if cluster is not None:
            return cluster
        pending = self._connecting.get(target)
        if pending is None:
            pending = asyncio.ensure_future(self._open(target))
            self._connecting[target] = pending
            pending.add_done_callback(lambda _: self._connecting.pop(target, None))
        return await asyncio.shield(pending)

    async def _open(self, target: ClusterTarget) -> Cluster[W]:
        client = await self._connect(target)
        watches = self._watches(client) if self._watches is not None else None
        cluster = self._clusters[target] = Cluster(target, client, watches)
        return cluster

    async def _left(self, user: ObjectKey, target: ClusterTarget) -> None:
        cluster = self.local if target.local else self._clusters.get(target)
        if cluster is None:
            return
        if cluster.watches is not None:
            cluster.watches.forget(user)
        if not target.local and target not in self._users.values():
            del self._clusters[target]
            await cluster.close(client=True)
