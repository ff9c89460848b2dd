"""The connection under every request to the API server: aiohttp, behind httpx2's transport API.

lightkube speaks httpx2, whose own transport (httpcore2 over anyio, h11 in pure
Python) spent most of the engine's CPU under load: a reconcile is a dozen small
requests, and each crossed five layers of Python. aiohttp parses HTTP in C
(llhttp) straight on asyncio, so :class:`AiohttpTransport` hands each request
built by lightkube and httpx2 (URL, headers, authentication, body) to an
aiohttp session and gives httpx2 the answer back, streamed — a watch is one
long response read chunk by chunk. No library joins the two for httpx2, hence
this module.

What httpx2 does above a transport still happens there: authentication (bearer
tokens, exec plugins), redirects, and decoding a compressed body, so aiohttp is
told not to decompress. Connection failures and timeouts come out as httpx2's
exceptions, the ones callers handle. A session belongs to one event loop; a
transport used from another loop opens its own session there.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2

# Headers aiohttp works out itself from the body it is given.
_BODY_HEADERS = frozenset({"content-length", "transfer-encoding"})

# How many connections one session keeps to the API server (httpx2's default).
CONNECTION_LIMIT = 100


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """Sends httpx2 requests over an aiohttp session with TLS context ``ssl_context``."""

    def __init__(self, ssl_context: ssl.SSLContext | bool) -> None:
        self._ssl = ssl_context
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for other in [other for other in self._sessions if other.is_closed()]:
                del self._sessions[other]
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=CONNECTION_LIMIT),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[loop] = session
        return session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ]
        body = await request.aread()
        try:
            response = await self._session().request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                timeout=_timeout(request.extensions.get("timeout")),
                allow_redirects=False,
            )
        except Exception as error:
            raise _transport_error(error, request) from error
        return httpx2.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        """Close this loop's session; those of other loops end with their loop."""
        sessions, self._sessions = self._sessions, {}
        session = sessions.get(asyncio.get_running_loop())
        if session is not None:
            await session.close()


class _ResponseStream(httpx2.AsyncByteStream):
    """The body of one aiohttp response, chunk by chunk as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as error:
            raise _transport_error(error, self._request) from error

    async def aclose(self) -> None:
        self._response.release()


def _timeout(timeouts: Any) -> aiohttp.ClientTimeout:
    """httpx2's per-request timeouts (connect, read, write, pool) as aiohttp's."""
    timeouts = timeouts if isinstance(timeouts, dict) else {}
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeouts.get("pool"),
        sock_connect=timeouts.get("connect"),
        sock_read=timeouts.get("read"),
    )


def _transport_error(error: Exception, request: httpx2.Request) -> httpx2.TransportError:
    """The httpx2 exception that says what ``error`` of aiohttp's says."""
    message = str(error) or type(error).__name__
    if isinstance(error, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        if isinstance(error, aiohttp.ConnectionTimeoutError):
            return httpx2.ConnectTimeout(message, request=request)
        return httpx2.ReadTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        return httpx2.ConnectError(message, request=request)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx2.RemoteProtocolError(message, request=request)
    if isinstance(error, aiohttp.ClientError | OSError):
        return httpx2.ReadError(message, request=request)
    raise error
