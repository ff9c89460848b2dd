"""Kubernetes API failures as a small hierarchy, raised by :mod:`lockstep.kube.client`.

::

    KubeError                 any failure talking to the API server
    ├── Unreachable           no answer: connection refused, TLS, timeout
    ├── NotFound              404
    ├── Conflict              409: already exists, resourceVersion or field-manager conflict
    ├── Expired               410: a watch's resourceVersion is too old; list again
    ├── Invalid               400 / 422: the object was rejected by validation or admission
    ├── Forbidden             401 / 403: the identity may not do this
    └── ServerError           5xx, 429 and anything else unexpected

The client library's exception is always chained as ``__cause__``; the message
is the API server's own one-line explanation.
"""

from __future__ import annotations

from typing import Any

import httpx2
from lightkube import ApiError


class KubeError(Exception):
    """A request to the Kubernetes API failed."""

    def __init__(self, message: str, *, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason


class Unreachable(KubeError):
    """The API server did not answer."""


class NotFound(KubeError):
    """The object or its kind does not exist."""


class Conflict(KubeError):
    """The write conflicts with the object's current state."""


class Expired(KubeError):
    """The resourceVersion a watch started from is no longer available."""


class Invalid(KubeError):
    """The API server rejected the object."""


class Forbidden(KubeError):
    """The identity in use may not make this request."""


class ServerError(KubeError):
    """The API server failed or throttled the request."""


_BY_CODE: dict[int, type[KubeError]] = {
    400: Invalid,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
}


def from_api_error(error: ApiError) -> KubeError:
    """Map a lightkube ``ApiError`` to the hierarchy above."""
    return from_status(error.status.to_dict(), error.response.status_code)


def from_status(status: dict[str, Any], fallback_code: int) -> KubeError:
    """Map a ``Status`` document (as a watch or raw request returns it) to the hierarchy."""
    code = int(status.get("code") or fallback_code)
    kind = _BY_CODE.get(code, ServerError)
    message = str(status.get("message") or f"request failed with HTTP {code}")
    return kind(message, code=code, reason=str(status.get("reason") or ""))


def from_transport_error(error: httpx2.TransportError, server: str) -> Unreachable:
    """Map a connection-level failure to :class:`Unreachable`, naming the server."""
    return Unreachable(f"cannot reach the Kubernetes API at {server}: {error}")
