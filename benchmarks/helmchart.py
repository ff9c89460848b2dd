"""W6's chart and the Helm repository that serves it on 127.0.0.1.

The chart (:data:`CHART_NAME` at :data:`CHART_VERSION`) holds W1's application as Helm
templates: a ServiceAccount, a Service and a Deployment named after the release, with
values for the replicas (0 by default, as W1's Deployment, so the Deployment becomes
Available once the controller manager has written its status) and the image.
:func:`package_chart` packs it as ``helm package`` lays a package out (a gzip tarball,
the files under a folder named after the chart), with fixed times so that it always
packs to the same bytes; :class:`ChartServer` serves Helm's ``index.yaml`` and the
package over HTTP from a thread of the harness.

Kept apart from the test ground's fuller ``tests/ground/charts.py`` (subcharts, CRDs,
hooks, credentials, the real ``helm`` checked against it): the benchmarks do not import
the tests. Used by :mod:`benchmarks.w6_helm_releases`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import yaml

from lockstep.dev.loopback import LOOPBACK

CHART_NAME = "app"
CHART_VERSION = "1.0.0"
OBJECTS_PER_RELEASE = 3
PACKAGED_AT = 1767225600
"""2026-01-01T00:00:00Z: the time of every packed file."""
CREATED = "2026-01-01T00:00:00Z"
"""The index's created and generated times."""

VALUES = """\
replicas: 0
image:
  repository: registry.invalid/bench/app
  tag: 1.0.0
"""

TEMPLATES = {
    "serviceaccount.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - name: http
      port: 80
      targetPort: http
""",
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      serviceAccountName: {{ .Release.Name }}
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - name: http
              containerPort: 8080
          resources:
            requests:
              cpu: 1m
              memory: 16Mi
""",
}


def chart_yaml() -> dict[str, Any]:
    return {"apiVersion": "v2", "name": CHART_NAME, "version": CHART_VERSION}


def package_chart() -> bytes:
    """The chart's ``.tgz``, the same bytes on every call."""
    files = {
        "Chart.yaml": yaml.safe_dump(chart_yaml()),
        "values.yaml": VALUES,
        **{f"templates/{path}": text for path, text in TEMPLATES.items()},
    }
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{CHART_NAME}/{path}")
            info.size, info.mode, info.mtime = len(data), 0o644, PACKAGED_AT
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(tarball.getvalue(), mtime=0)


def repository_index(package: bytes) -> bytes:
    """Helm's ``index.yaml`` listing the one package, by a relative URL."""
    entry = {
        **chart_yaml(),
        "urls": [f"{CHART_NAME}-{CHART_VERSION}.tgz"],
        "digest": hashlib.sha256(package).hexdigest(),
        "created": CREATED,
    }
    index = {"apiVersion": "v1", "entries": {CHART_NAME: [entry]}, "generated": CREATED}
    return yaml.safe_dump(index).encode()


class ChartServer:
    """A Helm chart repository of the one chart on ``http://127.0.0.1:PORT``, open to
    anyone; counts the requests it served (:attr:`served`)."""

    def __init__(self) -> None:
        package = package_chart()
        self._files = {
            "/index.yaml": repository_index(package),
            f"/{CHART_NAME}-{CHART_VERSION}.tgz": package,
        }
        self.served: dict[str, int] = {}
        self._counting = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        files, served, counting = self._files, self.served, self._counting

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                body = files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                with counting:
                    served[path] = served.get(path, 0) + 1
                self.send_response(200)
                kind = "application/x-yaml" if path.endswith(".yaml") else "application/gzip"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
