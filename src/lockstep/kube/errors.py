"""Kubernetes API failures as a small hierarchy, raised by :mod:`lockstep.kube.client`.

::

    KubeError                 any failure talking to the API server
    ├── Unreachable           no answer: connection refused, TLS, timeout
    ├── NotFound              404
    ├── Conflict              409: already exists, resourceVersion or field-manager conflict
    ├── Invalid               400 / 422: the object was rejected by validation or admission
    ├── Forbidden             401 / 403: the identity may not do this
    └── ServerError           5xx, 429 and anything else unexpected

The client library's exception is always chained as ``__cause__``; the message
is the API server's own one-line explanation.
"""

from __future__ import annotations

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
    422: Invalid,
}


def from_api_error(error: ApiError) -> KubeError:
    """Map a lightkube ``ApiError`` to the hierarchy above."""
    status = error.status
    code = int(status.code or error.response.status_code)
    kind = _BY_CODE.get(code, ServerError)
    return kind(str(status.message or error), code=code, reason=str(status.reason or ""))


def from_transport_error(error: httpx2.TransportError, server: str) -> Unreachable:
    """Map a connection-level failure to :class:`Unreachable`, naming the server."""
    return Unreachable(f"cannot reach the Kubernetes API at {server}: {error}")
