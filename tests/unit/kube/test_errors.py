"""API failures map onto lockstep's error hierarchy with the server's message."""

from __future__ import annotations

import httpx2
import pytest
from lightkube import ApiError

from lockstep.kube import Conflict, Expired, Forbidden, Invalid, NotFound, ServerError
from lockstep.kube.errors import KubeError, from_api_error, from_status


def _api_error(code: int, reason: str, message: str) -> ApiError:
    request = httpx2.Request("GET", "https://127.0.0.1:6443/api/v1/namespaces/x")
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    return ApiError(request=request, response=httpx2.Response(code, json=body, request=request))


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400, Invalid),
        (401, Forbidden),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (410, Expired),
        (422, Invalid),
        (429, ServerError),
        (500, ServerError),
    ],
)
def test_status_codes_map_to_kinds(code: int, kind: type[KubeError]) -> None:
    error = from_api_error(_api_error(code, "Reason", f'namespaces "x" failed with {code}'))
    assert type(error) is kind
    assert error.code == code
    assert error.reason == "Reason"
    assert str(error) == f'namespaces "x" failed with {code}'


def test_watch_error_status_maps_like_a_response() -> None:
    status = {
        "kind": "Status",
        "code": 410,
        "reason": "Expired",
        "message": "too old resource version: 1 (4211)",
    }
    error = from_status(status, fallback_code=500)
    assert isinstance(error, Expired)
    assert str(error) == "too old resource version: 1 (4211)"
    assert isinstance(from_status({}, fallback_code=503), ServerError)
