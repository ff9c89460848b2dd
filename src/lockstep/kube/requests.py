"""Counting the requests a client sends to the API server, by verb.

Every request of a :class:`~lockstep.kube.KubeClient` — and of the impersonating
clients derived from it — goes through one :class:`CountingTransport`, which adds
it to the client's :class:`RequestCounts` before sending it. Verbs are named as
the API server's ``apiserver_request_total`` names them (``GET``, ``LIST``,
``WATCH``, ``POST``, ``PUT``, ``PATCH``, ``APPLY``, ``DELETE``), so the two
sides of one workload can be compared; dry-runs are counted apart.

The controller manager exports the counts as ``lockstep_kube_requests_total``
(:mod:`lockstep.runtime.metrics`); the benchmarks read them there.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx2
from lightkube.config.client_adapter import verify_cluster

from lockstep.kube.transport import AiohttpTransport

APPLY_PATCH_TYPE = "application/apply-patch+yaml"

# Subresources of a namespace, which the path /api/v1/namespaces/<name>/<...> can name
# instead of a resource inside the namespace.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

RequestKey = tuple[str, bool]
"""(verb, dry-run) of counted requests."""


class RequestCounts:
    """How many requests were sent, by verb and dry-run; shared by related clients."""

    def __init__(self) -> None:
        self._counts: Counter[RequestKey] = Counter()

    def record(self, request: httpx2.Request) -> None:
        self._counts[request_verb(request), request.url.params.get("dryRun") == "All"] += 1

    def snapshot(self) -> dict[RequestKey, int]:
        return dict(self._counts)

    def total(self) -> int:
        return sum(self._counts.values())


def request_verb(request: httpx2.Request) -> str:
    """The verb the API server records for ``request``."""
    method = request.method.upper()
    if method == "GET":
        if request.url.params.get("watch") in ("true", "1"):
            return "WATCH"
        return "LIST" if _names_collection(request.url.path) else "GET"
    if method == "PATCH" and request.headers.get("Content-Type", "").startswith(APPLY_PATCH_TYPE):
        return "APPLY"
    return method


def _names_collection(path: str) -> bool:
    """Whether ``path`` names a collection of resources (a list), not one object."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return False
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        rest = rest[2:]
    return len(rest) == 1


class CountingTransport(httpx2.AsyncBaseTransport):
    """Counts each request in ``counts``, then hands it to ``inner``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, counts: RequestCounts) -> None:
        self._inner = inner
        self._counts = counts

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self._counts.record(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def cluster_transport(config: Any) -> AiohttpTransport:
    """A transport to the cluster of the kubeconfig ``config``, with the TLS context
    lightkube would set up from it (CA, client certificate)."""
    return AiohttpTransport(verify_cluster(config.cluster, config.user, config.abs_file))
