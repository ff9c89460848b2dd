"""Requests on behalf of another user: the Kubernetes ``Impersonate-User`` header.

A Kustomization with ``spec.serviceAccountName`` is applied with the rights of
that service account, not lockstep's own: every request of its client carries
``Impersonate-User: system:serviceaccount:<namespace>:<name>`` and the API server
authorises it as that account. lightkube has no impersonation setting, so the
header is added by a transport wrapped around the one lightkube would have built
from the kubeconfig (:func:`lockstep.kube.requests.cluster_transport`: same TLS
context, same client certificate).

Used by :meth:`lockstep.kube.KubeClient.impersonating`.
"""

from __future__ import annotations

from typing import Any

import httpx2

from lockstep.kube.requests import cluster_transport

IMPERSONATE_USER = "Impersonate-User"


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a service account."""
    return f"system:serviceaccount:{namespace}:{name}"


class ImpersonatingTransport(httpx2.AsyncBaseTransport):
    """Sends every request as ``user``, over a connection set up like the client's own."""

    def __init__(self, config: Any, user: str) -> None:
        self._inner = cluster_transport(config)
        self._user = user

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.headers[IMPERSONATE_USER] = self._user
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
