"""The aiohttp transport carries httpx2 requests whole and gives httpx2 answers back:
method, headers and body out; status, headers and a body read once and decoded once
in; a long answer streamed as it arrives; failures as httpx2's transport errors."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
from collections.abc import AsyncIterator

import httpx2
import pytest
from aiohttp import web

from lockstep.kube.transport import AiohttpTransport


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path_qs,
            "body": body.decode(),
            "content_type": request.headers.get("Content-Type", ""),
            "impersonate": request.headers.getall("Impersonate-User", []),
        },
        status=201,
        headers={"X-Answer": "yes"},
    )


async def _gzipped(_request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b'{"kind": "Status"}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


def _app(release: asyncio.Event) -> web.Application:
    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type": "ADDED"}\n')
        await release.wait()
        await response.write(b'{"type": "DELETED"}\n')
        await response.write_eof()
        return response

    async def slow(_request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/gzipped", _gzipped)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/slow", slow)
    app.router.add_get("/cut", cut)
    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    release = asyncio.Event()
    runner = web.AppRunner(_app(release))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", release
    finally:
        release.set()
        await runner.cleanup()


@pytest.fixture
async def client(server: tuple[str, asyncio.Event]) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        base_url=server[0], transport=AiohttpTransport(ssl_context=False)
    ) as http:
        yield http


async def test_a_request_goes_out_whole_and_its_answer_comes_back(
    client: httpx2.AsyncClient,
) -> None:
    response = await client.patch(
        "/echo",
        params={"fieldManager": "lockstep", "dryRun": "All"},
        content=b'{"apiVersion": "v1"}',
        headers={
            "Content-Type": "application/apply-patch+yaml",
            "Impersonate-User": "system:serviceaccount:team:deployer",
        },
    )

    assert response.status_code == 201
    assert response.headers["X-Answer"] == "yes"
    assert response.json() == {
        "method": "PATCH",
        "path": "/echo?fieldManager=lockstep&dryRun=All",
        "body": '{"apiVersion": "v1"}',
        "content_type": "application/apply-patch+yaml",
        "impersonate": ["system:serviceaccount:team:deployer"],
    }


async def test_a_compressed_answer_is_decoded_once(client: httpx2.AsyncClient) -> None:
    response = await client.get("/gzipped")

    assert response.json() == {"kind": "Status"}


async def test_a_long_answer_is_read_as_it_arrives(
    client: httpx2.AsyncClient, server: tuple[str, asyncio.Event]
) -> None:
    release = server[1]
    lines = []
    async with client.stream("GET", "/streamed") as response:
        async for line in response.aiter_lines():
            lines.append(line)
            # The second line is only sent once the first has been read here.
            release.set()

    assert lines == ['{"type": "ADDED"}', '{"type": "DELETED"}']


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx2.AsyncClient(transport=AiohttpTransport(ssl_context=False)) as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_an_answer_later_than_the_read_timeout_is_a_read_timeout(
    client: httpx2.AsyncClient,
) -> None:
    with pytest.raises(httpx2.ReadTimeout):
        await client.get("/slow", timeout=httpx2.Timeout(0.2))


async def test_a_connection_cut_in_the_middle_of_the_body_is_a_transport_error(
    client: httpx2.AsyncClient,
) -> None:
    with pytest.raises(httpx2.TransportError):
        await client.get("/cut")


async def test_each_event_loop_gets_its_own_session(
    client: httpx2.AsyncClient, server: tuple[str, asyncio.Event]
) -> None:
    transport = AiohttpTransport(ssl_context=False)
    answers: list[int] = []

    async def ask() -> None:
        async with httpx2.AsyncClient(base_url=server[0], transport=transport) as http:
            answers.append((await http.get("/echo")).status_code)

    def in_another_loop() -> None:
        asyncio.run(ask())

    # The server runs in this test's loop, so the other loop's thread is waited for
    # without blocking it.
    thread = threading.Thread(target=in_another_loop)
    thread.start()
    await asyncio.to_thread(thread.join)
    await ask()

    assert answers == [201, 201]
