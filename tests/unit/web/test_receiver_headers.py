"""The webhook server and headers that are not UTF-8: aiohttp keeps their bytes as lone
surrogates, which a check must neither encode nor echo as they are. The call is
answered 401 or 200 with a readable reason, never 500 with a traceback in the log."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from lockstep.web.receiver import (
    Call,
    Check,
    Ignored,
    Refused,
    Verdict,
    check_generic_hmac,
    check_github,
    check_gitlab,
    receiver_app,
)
from unit.web.test_receiver import PATH, TOKEN, FakeDirectory, make_receiver, sign

BODY = b"{}"
NOT_UTF8 = "\udcff\udcfe"
"""What aiohttp makes of the header bytes ``ff fe``."""


@pytest.mark.parametrize(
    ("check", "headers", "expected"),
    [
        (check_gitlab, {"X-Gitlab-Token": NOT_UTF8}, Refused("X-Gitlab-Token is not the Receiver's token")),
        (check_generic_hmac, {"X-Signature": f"{NOT_UTF8}=00"}, Refused("X-Signature names '??'; sign with one of sha1, sha256, sha512")),
        (check_github, {"X-Hub-Signature-256": sign("sha256", BODY), "X-GitHub-Event": NOT_UTF8}, Ignored("GitHub event '??' is not in spec.events")),
    ],
)  # fmt: skip
def test_a_header_that_is_not_utf8_is_judged_not_echoed(
    check: Check, headers: dict[str, str], expected: Verdict
) -> None:
    call = Call(CIMultiDict(headers), BODY, TOKEN, ("push",))

    verdict = check(call)

    assert verdict == expected
    assert isinstance(verdict, Refused | Ignored)
    verdict.reason.encode("utf-8")


async def post_raw(port: int, headers: bytes) -> bytes:
    """The status line of a POST whose header bytes are sent as they are."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: hooks\r\nContent-Length: {len(BODY)}\r\n".encode()
        + headers
        + b"\r\n"
        + BODY
    )
    writer.write(request)
    await writer.drain()
    answer = await reader.read(4096)
    writer.close()
    await writer.wait_closed()
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("type_", "headers", "status"),
    [
        ("gitlab", b"X-Gitlab-Token: \xff\xfe\r\nX-Gitlab-Event: Push Hook\r\n", b"401"),
        ("generic-hmac", b"X-Signature: \xff=00\r\n", b"401"),
        ("github", b"X-Hub-Signature-256: " + sign("sha256", BODY).encode() + b"\r\nX-GitHub-Event: \xff\r\n", b"200"),
    ],
)  # fmt: skip
async def test_the_server_answers_a_call_with_such_headers(
    type_: str, headers: bytes, status: bytes
) -> None:
    directory = FakeDirectory(make_receiver(type_, events=["push"]))
    server = TestServer(receiver_app(directory))
    await server.start_server()
    try:
        status_line = await post_raw(server.port, headers)
    finally:
        await server.close()

    assert status_line.split(b" ")[1] == status
    assert directory.requested == []
