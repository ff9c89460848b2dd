"""Loopback relays in front of the real servers: a TLS terminator and an HTTP proxy.

- `TlsRelay` serves HTTPS on 127.0.0.1 with a certificate of `ground.tls` and relays the
  decrypted bytes to a plain-HTTP server (the test registry); with ``client_ca`` it
  refuses clients without a certificate that CA signed.
- `HttpProxy` is a forward proxy: ``CONNECT host:port`` tunnels and absolute-URI
  requests for plain HTTP, with optional basic auth (407 without it); it records the
  targets it was asked for, so a test can see that traffic went through it.

Both run in threads of the test process, bind 127.0.0.1 only, and stop with the fixture.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.tls import TlsMaterial

_CHUNK = 64 * 1024


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy `source` to `target` until either side closes."""
    with contextlib.suppress(OSError):
        while data := source.recv(_CHUNK):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def splice(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways between two connected sockets until both sides have closed."""
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join(timeout=30)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class TlsRelay:
    """HTTPS on 127.0.0.1 in front of ``upstream`` (``host:port`` speaking plain HTTP)."""

    def __init__(
        self, upstream: str, material: TlsMaterial, client_ca: bytes | None = None
    ) -> None:
        self.handshakes_refused = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_bytes(material.server_cert)
            key.write_bytes(material.server_key)
            context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=client_ca.decode())
        host, port = upstream.rsplit(":", 1)
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    wrapped = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    relay.handshakes_refused += 1
                    return
                with wrapped, socket.create_connection((host, int(port)), timeout=30) as up:
                    splice(wrapped, up)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class HttpProxy:
    """A forward proxy on 127.0.0.1; ``targets`` lists what each request asked for."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.targets: list[str] = []
        self.refused = 0
        expected = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = self._read_head()
                if not head:
                    return
                method, target, _ = head[0].split(" ", 2)
                headers = {
                    line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip()
                    for line in head[1:]
                    if ":" in line
                }
                if expected is not None and headers.get("proxy-authorization") != expected:
                    proxy.refused += 1
                    self.wfile.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                    )
                    return
                proxy.targets.append(f"{method} {target}")
                if method == "CONNECT":
                    host, port = target.rsplit(":", 1)
                    with socket.create_connection((host, int(port)), timeout=30) as up:
                        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        splice(self.connection, up)
                    return
                self._forward(method, target, head[1:])

            def _read_head(self) -> list[str]:
                lines = []
                while (line := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
                    lines.append(line.decode("latin-1").rstrip("\r\n"))
                return lines

            def _forward(self, method: str, target: str, header_lines: list[str]) -> None:
                rest = target.removeprefix("http://")
                authority, _, path = rest.partition("/")
                host, _, port = authority.partition(":")
                kept = [
                    line
                    for line in header_lines
                    if not line.lower().startswith(("proxy-", "connection:", "keep-alive:"))
                ]
                request = f"{method} /{path} HTTP/1.1\r\n" + "".join(
                    f"{line}\r\n" for line in [*kept, "Connection: close"]
                )
                with socket.create_connection((host, int(port or 80)), timeout=30) as up:
                    up.sendall(request.encode("latin-1") + b"\r\n")
                    length = next(
                        (
                            int(line.split(":", 1)[1])
                            for line in kept
                            if line.lower().startswith("content-length:")
                        ),
                        0,
                    )
                    if length:
                        up.sendall(self.rfile.read(length))
                    _pipe(up, self.connection)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_proxy() -> Iterator[HttpProxy]:
    """A forward proxy that wants ``proxy-user`` / ``proxy-pass``."""
    proxy = HttpProxy("proxy-user", "proxy-pass")
    yield proxy
    proxy.close()
