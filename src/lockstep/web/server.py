"""The HTTP servers of ``lockstep run``: artifacts, and metrics with health probes.

- The artifact server (``--storage-addr``) serves the artifacts of the store
  read-only at the URLs written to ``status.artifact.url``: only finished
  artifacts (``<kind>/<namespace>/<name>/<file>`` inside the store's root, the file
  named as :func:`lockstep.sources.store.is_artifact_name` allows: ``<hex id>.tar.gz``,
  a chart repository's ``index-<hex>.yaml``, a chart's ``<name>-<version>.tgz``);
  temporary files and work folders are 404.
- The metrics server (``--metrics-addr``) serves ``/metrics`` in the Prometheus
  text format, ``/healthz`` (the process runs) and ``/readyz`` (the caches of the
  served kinds synced and, with leader election, the lease question settled). The
  body of ``/readyz`` lists, one per line, what readiness waits for, then the
  kinds whose CRD is not installed (``absent: <kind>: ...``), which do not hold
  readiness back.

The third server, the Receiver webhooks (``--receiver-addr``), is
:mod:`lockstep.web.receiver`; :func:`start` serves all three.

Built on aiohttp, which the rest of the process already runs on one event loop.
Started by :mod:`lockstep.cli.run`.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from lockstep.runtime.metrics import ControllerMetrics, Health
from lockstep.sources.store import is_artifact_name

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ARTIFACT_FOLDER = re.compile(r"[a-z0-9.-]+/[a-z0-9.-]+/[a-z0-9.-]+")
"""``<kind>/<namespace>/<name>``: where one source's artifacts are."""


def artifact_app(root: Path) -> web.Application:
    """An application that serves the files under ``root``."""
    resolved_root = root.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        candidate = (resolved_root / relative).resolve()
        folder, _, name = relative.rpartition("/")
        if (
            not ARTIFACT_FOLDER.fullmatch(folder)
            or not is_artifact_name(name)
            or not candidate.is_relative_to(resolved_root)
            or not candidate.is_file()
        ):
            raise web.HTTPNotFound(text=f"no artifact at /{relative}\n")
        kind = "application/yaml" if name.endswith(".yaml") else "application/gzip"
        return web.FileResponse(candidate, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_get("/{path:.+}", serve)
    return app


def metrics_app(metrics: ControllerMetrics, health: Health) -> web.Application:
    """An application with /metrics, /healthz and /readyz."""

    async def exposition(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    async def healthz(_: web.Request) -> web.Response:
        return (
            web.Response(text="ok\n")
            if health.live
            else web.Response(status=500, text="not live\n")
        )

    async def readyz(_: web.Request) -> web.Response:
        absent = "".join(
            f"absent: {kind}: {reason}\n" for kind, reason in sorted(health.absent_kinds.items())
        )
        if health.is_ready:
            return web.Response(text="ok\n" + absent)
        reasons = "".join(
            f"{component}: {reason}\n" for component, reason in sorted(health.ready_reasons.items())
        )
        return web.Response(status=503, text=reasons + absent)

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start(app: web.Application, address: str) -> web.AppRunner:
    """Serve ``app`` on ``host:port``; the caller cleans up the returned runner."""
    host, _, port = address.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or "127.0.0.1", int(port))
    await site.start()
    return runner
