"""Loopback relays in front of real servers that a fault scenario switches at will.

- :class:`HttpFaultRelay` relays plain HTTP to a server (the test registry) request
  by request, or answers every request itself with 500, or with 429 and
  ``Retry-After``, as a failing or rate-limiting registry does; it notes when it
  answered which status, so that a scenario can tell how often a client retried.
- :class:`TcpOutageRelay` relays TCP connections to a server (a remote cluster's
  kube-apiserver, TLS passing through untouched), or stops: its port then refuses
  connections and the connections it relayed are cut, as when the server is down.

Both run in threads of the test process, bind 127.0.0.1 only, and are closed by
the scenario that made them. Used by the fault-injection suite (tests/faults/).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass

from ground.relays import splice

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
)
_REGISTRY_ERRORS = {
    500: ("UNKNOWN", "injected failure of the test relay"),
    429: ("TOOMANYREQUESTS", "injected rate limit of the test relay"),
}


@dataclass(frozen=True)
class Answered:
    """One request the relay answered itself: when (monotonic seconds) and with what."""

    at: float
    status: int
    target: str


class HttpFaultRelay:
    """Plain HTTP on 127.0.0.1 in front of ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str) -> None:
        self.failing: int | None = None
        self.retry_after = 0
        self.answered: list[Answered] = []
        self.relayed = 0
        upstream_host, upstream_port = upstream.rsplit(":", 1)
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the scenario reads :attr:`HttpFaultRelay.answered` instead."""

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = relay.failing
                if status is not None:
                    relay.answered.append(Answered(time.monotonic(), status, self.path))
                    self._fail(status)
                    return
                relay.relayed += 1
                self._forward(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def _fail(self, status: int) -> None:
                code, message = _REGISTRY_ERRORS.get(status, ("UNKNOWN", "injected failure"))
                payload = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", str(relay.retry_after))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=30)
                try:
                    headers = {
                        key: value
                        for key, value in self.headers.items()
                        if key.lower() not in _HOP_BY_HOP
                    }
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    content = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, status: int, retry_after: int = 0) -> None:
        """Answer every request from now on with ``status`` (and, for 429, ``Retry-After``)."""
        self.retry_after = retry_after
        self.failing = status

    def pass_through(self) -> None:
        self.failing = None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TcpOutageRelay:
    """TCP on one port of 127.0.0.1 relayed to ``upstream`` (``host:port``) while up."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (on the port it had, after the first start) and relay every connection."""
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    upstream = socket.create_connection(relay._upstream, timeout=30)
                except OSError:
                    return
                upstream.settimeout(None)
                with relay._lock:
                    relay._connections |= {self.request, upstream}
                try:
                    splice(self.request, upstream)
                finally:
                    with relay._lock:
                        relay._connections -= {self.request, upstream}
                    upstream.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Refuse connections from now on, and cut those relayed so far."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            cut, self._connections = self._connections, set()
        for connection in cut:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def reserve(self) -> None:
        """Take a free port without listening on it: connections are refused until
        :meth:`start`."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
