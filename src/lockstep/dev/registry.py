"""Loopback OCI registry: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

`OciRegistry` writes a config for filesystem storage under a given directory, with
deletes enabled and no authentication (or, given an htpasswd file of bcrypt hashes,
HTTP basic authentication), starts the registry on a free port and returns once
``GET /v2/`` answers: 200, or 401 with authentication. It runs through
`LoopbackProcess` from `loopback.py`.

Called by the integration-test fixtures (tests/ground/servers.py) and meant for the
``lockstep dev`` sandbox. The config is written as JSON, which the registry's YAML
parser reads as is. The registry's own ``REGISTRY_*`` environment variables override
its config file, so they are removed from its environment: nothing from the host can
move it off 127.0.0.1 or switch on its debug server, which is left unconfigured.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
from pathlib import Path

from lockstep.dev.loopback import LOOPBACK, LoopbackProcess, LoopbackServer, free_port


class OciRegistry(LoopbackServer):
    """A distribution registry storing blobs under ``<root>/storage``."""

    def __init__(self, root: Path, htpasswd: Path | None = None) -> None:
        """With `htpasswd`, every request needs basic auth by a user of that file."""
        self.root = root
        self.htpasswd = htpasswd
        self.storage_dir = root / "storage"
        self._port: int | None = None
        self._process: LoopbackProcess | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an artifact reference."""
        if self._port is None:
            raise RuntimeError(f"OCI registry for {self.root} is not started; call start() first")
        return f"{LOOPBACK}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        """Start the registry and return once ``GET /v2/`` answers 200."""
        port = free_port()
        config = self.root / "config.yml"
        config.parent.mkdir(parents=True, exist_ok=True)
        settings = _registry_config(port, self.storage_dir, self.htpasswd)
        config.write_text(json.dumps(settings, indent=2))
        env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
        self._process = LoopbackProcess(
            "docker-registry",
            ["docker-registry", "serve", str(config)],
            self.root / "registry.log",
            env=env,
        )
        self._process.start(lambda: _api_answers(port, self.htpasswd is not None))
        self._port = port

    def stop(self) -> None:
        """Stop the registry; its port no longer listens afterwards."""
        if self._process is not None:
            self._process.stop()
        self._process = None
        self._port = None


def _registry_config(port: int, storage_dir: Path, htpasswd: Path | None) -> dict[str, object]:
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"{LOOPBACK}:{port}",
            # Without a secret the registry makes a random one and warns about it.
            "secret": secrets.token_hex(16),
        },
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "lockstep", "path": str(htpasswd)}}
    return config


def _api_answers(port: int, authenticated: bool) -> bool:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=1)
    try:
        connection.request("GET", "/v2/")
        return connection.getresponse().status == (401 if authenticated else 200)
    except OSError:
        return False
    finally:
        connection.close()
