"""The Kubernetes client every other package of lockstep goes through.

Objects cross this boundary as plain dictionaries (:data:`KubeObject`), exactly as
the API server returns them: a GitOps engine applies arbitrary kinds, including
custom resources it has never seen, and must not lose fields it does not model.
Requests are made by lightkube's async client over generic (dictionary) resource
classes; the kind → resource mapping comes from the API server's discovery
documents, cached per group-version and refreshed when a kind is missing (a CRD
may have been installed since). Discovery does not depend on the user, so a
client and the clients impersonating from it share one cache (:class:`Discovery`),
and callers that miss the same group-version together share one request: a
reconciler that starts by applying a hundred objects asks once, not a hundred
times, for the core API's large document. Every request is counted by verb
(:mod:`lockstep.kube.requests`).

Called by ``lockstep install``, the ``dev`` sandbox and, later, every controller.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import httpx2
from lightkube import ApiError, AsyncClient, ConfigError, KubeConfig
from lightkube.config.client_adapter import AsyncClient as http_client_for
from lightkube.config.client_adapter import ConnectionParams
from lightkube.core.selector import build_selector
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericNamespacedResource,
    create_api_info,
)
from lightkube.types import CascadeType, PatchType

from lockstep.kube.errors import (
    KubeError,
    NotFound,
    ServerError,
    from_api_error,
    from_status,
    from_transport_error,
)
from lockstep.kube.impersonation import ImpersonatingTransport
from lockstep.kube.kubeconfig import self_contained_kubeconfig
from lockstep.kube.requests import CountingTransport, RequestCounts, cluster_transport

KubeObject = dict[str, Any]
"""A Kubernetes object as a JSON-like dictionary."""

Labels = Mapping[str, str | None]
Propagation = Literal["Background", "Foreground", "Orphan"]
"""How a deletion treats the object's dependents (Kubernetes' ``propagationPolicy``)."""
"""A label selector: each key must have the value, or (``None``) merely be present."""

FIELD_MANAGER = "lockstep"

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectRef:
    """Which object: apiVersion, kind, name and (for namespaced kinds) namespace."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "") or ""),
        )

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ResourceInfo:
    """What discovery says about one kind in one group-version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch; a BOOKMARK carries only a newer resourceVersion."""

    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
    object: KubeObject

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion", ""))


class Discovery:
    """What discovery said, by group-version, and the discovery requests under way."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, ResourceInfo]] = {}
        self.classes: dict[ResourceInfo, type[Any]] = {}
        self.pending: dict[str, asyncio.Future[dict[str, ResourceInfo]]] = {}


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
"""The media type of aggregated discovery: every group, version and resource in one answer."""


def _discovery_path(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def _collection_path(info: ResourceInfo, namespace: str | None) -> str:
    group_version = f"{info.group}/{info.version}" if info.group else info.version
    base = _discovery_path(group_version)
    if namespace:
        return f"{base}/namespaces/{namespace}/{info.plural}"
    return f"{base}/{info.plural}"


class KubeClient:
    """An async client for one cluster (one kubeconfig context)."""

    def __init__(
        self,
        config: Any,
        *,
        field_manager: str = FIELD_MANAGER,
        impersonate: str | None = None,
        requests: RequestCounts | None = None,
        discovery: Discovery | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` carries the requests instead of a TLS connection set up from
        ``config`` (a mock, in tests); it does not add the impersonation header."""
        self._config = config
        self._server = str(config.cluster.server)
        self._field_manager = field_manager
        self.user = impersonate
        self.requests = requests if requests is not None else RequestCounts()
        """Requests sent by this client and the impersonating clients made from it."""
        if transport is None:
            transport = (
                ImpersonatingTransport(config, impersonate)
                if impersonate
                else cluster_transport(config)
            )
        counting = CountingTransport(transport, self.requests)
        self._api = AsyncClient(config=config, field_manager=field_manager, transport=counting)
        # lightkube annotates the field with the sync transport type, but its async
        # client passes it to httpx's AsyncClient, which needs an async one.
        params = ConnectionParams(transport=counting)  # type: ignore[arg-type]
        self._http = http_client_for(config, params)
        self._discovery = discovery if discovery is not None else Discovery()

    @classmethod
    def from_kubeconfig(
        cls,
        path: Path | None = None,
        context: str | None = None,
        *,
        field_manager: str = FIELD_MANAGER,
    ) -> Self:
        """Connect with a kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``)."""
        try:
            kubeconfig = KubeConfig.from_file(path) if path else KubeConfig.from_env()
            config = kubeconfig.get(context_name=context)
        except ConfigError as error:
            where = f"kubeconfig {path}" if path else "the default kubeconfig"
            raise KubeError(f"cannot use {where}: {error}") from error
        return cls(config, field_manager=field_manager)

    @classmethod
    def from_kubeconfig_document(
        cls,
        document: Mapping[str, Any],
        *,
        source: str,
        field_manager: str = FIELD_MANAGER,
    ) -> Self:
        """Connect with a kubeconfig held in memory (one read from a Secret), with its
        current context; ``source`` says where it came from in errors."""
        try:
            config = KubeConfig.from_dict(dict(document)).get()
            # The TLS context is made here: certificates that do not load fail now.
            return cls(config, field_manager=field_manager)
        except (ConfigError, KeyError, TypeError, ValueError, AttributeError, OSError) as error:
            raise KubeError(f"cannot use the kubeconfig of {source}: {error}") from error

    @property
    def server(self) -> str:
        return self._server

    @property
    def field_manager(self) -> str:
        """The field manager every write of this client is recorded under."""
        return self._field_manager

    def impersonating(self, user: str) -> KubeClient:
        """A new client for the same cluster whose requests are made as ``user``
        (see :mod:`lockstep.kube.impersonation`); close it when done."""
        return KubeClient(
            self._config,
            field_manager=self._field_manager,
            impersonate=user,
            requests=self.requests,
            discovery=self._discovery,
        )

    def self_contained_kubeconfig(self) -> str:
        """A kubeconfig document reaching this cluster as this client does (acting as
        its user, if it impersonates one), for a program that is not lockstep (see
        :mod:`lockstep.kube.kubeconfig`)."""
        return self_contained_kubeconfig(self._config, self.user)

    async def close(self) -> None:
        await self._api.close()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def server_version(self) -> str:
        """The API server's ``gitVersion``, e.g. ``v1.36.3``."""
        document = await self._get_json("/version")
        return str(document.get("gitVersion", ""))

    async def api_versions(self) -> list[str]:
        """Every group/version the API server serves, each followed by its
        group/version/kind entries (``apps/v1``, ``apps/v1/Deployment``), as Helm's
        ``.Capabilities.APIVersions`` lists them: read anew at each call, in two requests
        (the aggregated discovery of ``/api`` and ``/apis``)."""
        found: list[str] = []
        for path in ("/api", "/apis"):
            document = json.loads(await self._get_text(path, accept=AGGREGATED_DISCOVERY))
            for group in document.get("items") or []:
                name = str((group.get("metadata") or {}).get("name") or "")
                for served in group.get("versions") or []:
                    group_version = f"{name}/{served['version']}" if name else served["version"]
                    found.append(group_version)
                    for resource in served.get("resources") or []:
                        kind = (resource.get("responseKind") or {}).get("kind")
                        if kind:
                            found.append(f"{group_version}/{kind}")
        return found

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        """Map apiVersion + kind to its resource, asking discovery when not cached."""
        info = self._discovery.resources.get(api_version, {}).get(kind)
        if info is None:
            info = (await self._rediscover(api_version)).get(kind)
        if info is None:
            raise NotFound(f'the API server has no kind "{kind}" in "{api_version}"', code=404)
        return info

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        force: bool = True,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> KubeObject:
        """Server-side apply ``obj`` with ``field_manager`` (default: this client's);
        return the live object."""
        ref = ObjectRef.of(obj)
        resource = await self._resource_class(ref.api_version, ref.kind)
        result = await self._call(
            self._api.patch(
                resource,
                ref.name,
                dict(obj),
                namespace=ref.namespace or None,
                patch_type=PatchType.APPLY,
                field_manager=field_manager or self._field_manager,
                force=force,
                dry_run=dry_run,
            )
        )
        return _plain(result)

    async def create(self, obj: Mapping[str, Any]) -> KubeObject:
        """Create ``obj``; raises :class:`Conflict` when it already exists."""
        ref = ObjectRef.of(obj)
        resource = await self._resource_class(ref.api_version, ref.kind)
        created = await self._call(self._api.create(resource(dict(obj))))
        return _plain(created)

    async def replace(self, obj: Mapping[str, Any]) -> KubeObject:
        """Replace ``obj`` whole; with ``metadata.resourceVersion`` set, raises
        :class:`Conflict` if the object changed since it was read (optimistic locking)."""
        ref = ObjectRef.of(obj)
        resource = await self._resource_class(ref.api_version, ref.kind)
        replaced = await self._call(self._api.replace(resource(dict(obj))))
        return _plain(replaced)

    async def apply_status(self, obj: Mapping[str, Any]) -> KubeObject:
        """Server-side apply ``obj["status"]`` to the status subresource with lockstep's field manager.

        Only apiVersion, kind, name, namespace and status are sent, so spec fields are never
        touched; fields of the status that lockstep set before and leaves out now are removed.
        """
        ref = ObjectRef.of(obj)
        info = await self.resource_info(ref.api_version, ref.kind)
        metadata = {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
        body = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": metadata,
            "status": obj.get("status") or {},
        }
        path = f"{_collection_path(info, ref.namespace or None)}/{ref.name}/status"
        try:
            response = await self._http.patch(
                path,
                content=json.dumps(body),
                params={"fieldManager": self._field_manager, "force": "true"},
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error
        if response.status_code >= 400:
            raise from_status(response.json(), response.status_code)
        updated: KubeObject = response.json()
        return updated

    async def get(self, ref: ObjectRef) -> KubeObject:
        """Read one object; raises :class:`NotFound` when it does not exist."""
        resource = await self._resource_class(ref.api_version, ref.kind)
        result = await self._call(
            self._api.get(resource, ref.name, namespace=ref.namespace or None)
        )
        return _plain(result)

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        labels: Labels | None = None,
    ) -> list[KubeObject]:
        """List objects of one kind, in one namespace or (``None``) all of them."""
        items, _ = await self.list_with_version(
            api_version, kind, namespace=namespace, labels=labels
        )
        return items

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        labels: Labels | None = None,
    ) -> tuple[builtins.list[KubeObject], str]:
        """List objects and the collection's resourceVersion, the point a watch resumes from."""
        resource = await self._resource_class(api_version, kind)
        if not issubclass(resource, GenericNamespacedResource):
            namespace = None
        elif namespace is None:
            namespace = "*"
        listing = self._api.list(
            resource, namespace=namespace, labels=dict(labels) if labels else None
        )
        try:
            items = [_plain(item) async for item in listing]
            return items, listing.resourceVersion
        except ApiError as error:
            raise from_api_error(error) from error
        except httpx2.HTTPStatusError as error:
            raise _from_response(error.response) from error
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        namespace: str | None = None,
        labels: Labels | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Stream the changes after ``resource_version``, with bookmarks, until the server ends it.

        Raises :class:`Expired` when ``resource_version`` is too old: list again, then watch.
        The caller reconnects from the last event's resource version when the stream ends.
        """
        info = await self.resource_info(api_version, kind)
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        if labels:
            params["labelSelector"] = build_selector(dict(labels))
        path = _collection_path(info, namespace if info.namespaced else None)
        timeout = httpx2.Timeout(10.0, read=timeout_seconds + 30.0)
        try:
            async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    raise from_status(
                        _status_document(await response.aread()), response.status_code
                    )
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError as error:
                        raise ServerError(
                            f"{path}: unreadable watch event: {line[:200]}"
                        ) from error
                    if event.get("type") == "ERROR":
                        raise from_status(event.get("object") or {}, 500)
                    yield WatchEvent(type=event["type"], object=event["object"])
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error

    async def json_patch(self, ref: ObjectRef, operations: builtins.list[KubeObject]) -> KubeObject:
        """Apply RFC 6902 operations to one object; a failing ``test`` operation makes the
        whole patch fail (:class:`Invalid`), which is how callers lock optimistically."""
        resource = await self._resource_class(ref.api_version, ref.kind)
        result = await self._call(
            self._api.patch(
                resource,
                ref.name,
                operations,
                namespace=ref.namespace or None,
                patch_type=PatchType.JSON,
            )
        )
        return _plain(result)

    async def may(self, verb: str, group: str, resource: str, subresource: str = "") -> bool:
        """Whether this client's user may ``verb`` the resource in every namespace
        (a SelfSubjectAccessReview; ``*`` matches all groups or resources)."""
        attributes = {"verb": verb, "group": group, "resource": resource}
        if subresource:
            attributes["subresource"] = subresource
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        try:
            response = await self._http.post(path, json=review)
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error
        if response.status_code >= 400:
            raise from_status(_status_document(response.content), response.status_code)
        return bool((response.json().get("status") or {}).get("allowed"))

    async def delete(self, ref: ObjectRef, *, propagation: Propagation = "Background") -> None:
        """Delete one object, its dependents garbage-collected as ``propagation`` says
        (in the background, before it, or not at all); a missing object is not an error."""
        resource = await self._resource_class(ref.api_version, ref.kind)
        cascade = CascadeType(propagation)
        try:
            await self._call(
                self._api.delete(
                    resource, ref.name, namespace=ref.namespace or None, cascade=cascade
                )
            )
        except NotFound:
            return

    async def create_dry_run(self, obj: Mapping[str, Any]) -> KubeObject:
        """Server-side dry-run of creating ``obj``: defaulting, validation and admission run,
        nothing is stored. Raises :class:`Conflict` when the object already exists, which the
        API server checks only after validation and admission have passed."""
        ref = ObjectRef.of(obj)
        resource = await self._resource_class(ref.api_version, ref.kind)
        created = await self._call(self._api.create(resource(dict(obj)), dry_run=True))
        return _plain(created)

    async def delete_instance(self, ref: ObjectRef, uid: str) -> None:
        """Delete the object ``ref`` only while it is the instance ``uid``; its dependents
        are garbage-collected in the background.

        Raises :class:`Conflict` when ``ref`` now names another instance (deleted and
        created again since it was read); a missing object is not an error.
        """
        info = await self.resource_info(ref.api_version, ref.kind)
        path = f"{_collection_path(info, ref.namespace or None)}/{ref.name}"
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid},
            "propagationPolicy": "Background",
        }
        try:
            response = await self._http.request(
                "DELETE",
                path,
                content=json.dumps(options),
                headers={"Content-Type": "application/json"},
            )
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error
        if response.status_code == 404:
            return
        if response.status_code >= 400:
            raise from_status(response.json(), response.status_code)

    async def _resource_class(self, api_version: str, kind: str) -> type[Any]:
        info = await self.resource_info(api_version, kind)
        resource = self._discovery.classes.get(info)
        if resource is None:
            base = GenericNamespacedResource if info.namespaced else GenericGlobalResource
            api_info = create_api_info(info.group, info.version, info.kind, info.plural)
            resource = type(info.kind, (base,), {"_api_info": api_info})
            self._discovery.classes[info] = resource
        return resource

    async def _rediscover(self, api_version: str) -> dict[str, ResourceInfo]:
        """Ask discovery about ``api_version`` again, or join the request already under way."""
        discovery = self._discovery
        pending = discovery.pending.get(api_version)
        if pending is None:
            pending = asyncio.ensure_future(self._discover(api_version))
            discovery.pending[api_version] = pending

            def done(future: asyncio.Future[dict[str, ResourceInfo]]) -> None:
                discovery.pending.pop(api_version, None)
                if not future.cancelled() and future.exception() is None:
                    discovery.resources[api_version] = future.result()

            pending.add_done_callback(done)
        # A caller that is cancelled leaves the request to the others waiting for it.
        return await asyncio.shield(pending)

    async def _discover(self, api_version: str) -> dict[str, ResourceInfo]:
        group, version = _split_api_version(api_version)
        try:
            document = await self._get_json(_discovery_path(api_version))
        except NotFound:
            return {}
        return {
            entry["kind"]: ResourceInfo(
                group=group,
                version=version,
                kind=entry["kind"],
                plural=entry["name"],
                namespaced=bool(entry.get("namespaced")),
            )
            for entry in document.get("resources", [])
            if "/" not in entry["name"]
        }

    async def pod_log(
        self, namespace: str, name: str, *, container: str, tail_lines: int | None = None
    ) -> str:
        """The log of one container of a Pod, its last ``tail_lines`` lines when given."""
        params = {"container": container}
        if tail_lines is not None:
            params["tailLines"] = str(tail_lines)
        return await self._get_text(f"/api/v1/namespaces/{namespace}/pods/{name}/log", params)

    async def _get_json(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(await self._get_text(path))
        return document

    async def _get_text(
        self, path: str, params: Mapping[str, str] | None = None, *, accept: str | None = None
    ) -> str:
        headers = {"Accept": accept} if accept else {}
        try:
            response = await self._http.get(path, params=dict(params or {}), headers=headers)
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error
        if response.status_code == 404:
            raise NotFound(f"{path} not found on the API server", code=404)
        if response.status_code >= 400:
            raise KubeError(
                f"GET {path} failed: {response.status_code} {response.text[:200]}",
                code=response.status_code,
            )
        return str(response.text)

    async def _call(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except ApiError as error:
            raise from_api_error(error) from error
        except httpx2.HTTPStatusError as error:
            # An error whose body is not a Status (``404 page not found`` for a group
            # no longer served), which lightkube passes on as it came.
            raise _from_response(error.response) from error
        except httpx2.TransportError as error:
            raise from_transport_error(error, self._server) from error


def _plain(result: Any) -> KubeObject:
    plain: KubeObject = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    return plain


def _from_response(response: httpx2.Response) -> KubeError:
    """The error an HTTP error response stands for, whatever its body."""
    try:
        body = response.content
    except httpx2.ResponseNotRead:
        body = b""
    return from_status(_status_document(body), response.status_code)


def _status_document(body: bytes) -> dict[str, Any]:
    """The ``Status`` an error response carries; its text as the message when it is not
    one (``404 page not found`` for a group-version no longer served)."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    return {"message": body.decode(errors="replace").strip()[:500]}
