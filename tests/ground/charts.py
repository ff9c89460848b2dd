"""Helm charts, chart repositories and the real ``helm`` command for the test ground.

- `Chart` describes a chart in Python (Chart.yaml fields, templates, values,
  values.schema.json, crds/, other files, subcharts) and packs it as ``helm package``
  does: a gzip tarball named ``NAME-VERSION.tgz`` whose files sit under a top folder
  named after the chart, subcharts unpacked under ``charts/NAME/``, every file mode
  0644 with no folder entries, and Chart.yaml written as Helm re-marshals it (keys
  sorted, strings quoted as Go quotes them). Every mtime is `PACKAGED_AT` and the gzip
  header carries no time, so the same chart always packs to the same bytes and digest.
  (Helm's own gzip header also holds an extra field that no reader looks at; it is
  left out.) tests/integration/test_helm_ground.py checks the members against
  ``helm package`` and the index against ``helm repo index``.
- `hook` turns a manifest into a Helm hook template (``helm.sh/hook`` annotations).
- `helm_repository` and `helm_release` are the Flux objects that install a chart of
  a `ChartRepository`: a HelmRepository, and a HelmRelease of a chart there.
- `ChartRepository` serves ``index.yaml`` (Helm's repository index: apiVersion v1,
  entries newest first with the chart's fields, relative urls, sha256 digest and
  created time) and the packages over HTTP on 127.0.0.1, in a thread of the test
  process, optionally behind basic auth.
- `Helm` runs the real helm (built by :mod:`lockstep.dev.helm`) against the test
  control plane's kubeconfig, with its cache, config and data folders (and HOME) in a
  temporary folder, so nothing reads or writes the user's home; `Helm.push` puts a
  package into the test OCI registry with Helm's own media types.

Loaded as a pytest plugin by tests/conftest.py: the fixtures `helm_binary`, `helm`,
`chart_repository` and `private_chart_repository`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

from lockstep.dev.helm import ensure_helm
from lockstep.dev.loopback import LOOPBACK
from lockstep.dev.registry import OciRegistry
from lockstep.semver import parse_version

PACKAGED_AT = 1767225600  # 2026-01-01T00:00:00Z, the mtime of every packed file
CREATED = "2026-01-01T00:00:00Z"  # the index's created and generated times
HELM_TIMEOUT_SECONDS = 120
HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_CONTENT_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
REPOSITORY_CREDENTIALS = ("charts", "chart-secret")


@dataclass(frozen=True)
class Chart:
    """A chart described in Python; `write` lays out its folder, `package` its ``.tgz``.

    ``metadata`` holds Chart.yaml fields beyond name and version (``appVersion``,
    ``description``, ``type``, ``annotations``, ``dependencies``...). ``templates``,
    ``crds`` and ``files`` map a path under ``templates/``, ``crds/`` and the chart
    folder to its text. ``values`` is values.yaml, as data or as text, and ``schema``
    values.schema.json. ``dependencies`` are packed under ``charts/`` and, unless
    ``metadata`` says otherwise, listed in Chart.yaml as Helm lists packaged ones.
    """

    name: str
    version: str
    templates: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] | str | None = None
    schema: Mapping[str, Any] | None = None
    crds: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    dependencies: Sequence[Chart] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    def chart_yaml(self) -> dict[str, Any]:
        """The Chart.yaml fields, as Helm writes them into a package."""
        fields: dict[str, Any] = {"apiVersion": "v2", "name": self.name, "version": self.version}
        if self.dependencies:
            fields["dependencies"] = [
                {"name": chart.name, "version": chart.version, "repository": ""}
                for chart in self.dependencies
            ]
        return {**fields, **self.metadata}

    def folder_files(self) -> dict[str, bytes]:
        """Every file of the chart folder by its path in the folder, subcharts unpacked."""
        return dict(self._packing_order())

    def _own_files(self) -> dict[str, bytes]:
        found = {"Chart.yaml": _yaml(self.chart_yaml())}
        if self.values is not None:
            values = self.values
            found["values.yaml"] = values.encode() if isinstance(values, str) else _yaml(values)
        if self.schema is not None:
            found["values.schema.json"] = json.dumps(self.schema, indent=2).encode()
        for prefix, texts in (
            ("templates/", self.templates),
            ("crds/", self.crds),
            ("", self.files),
        ):
            found |= {f"{prefix}{path}": text.encode() for path, text in texts.items()}
        return found

    def _packing_order(self) -> list[tuple[str, bytes]]:
        # Helm writes Chart.yaml, values.yaml and the schema, then the templates, then
        # the other files, each in the order of a walk of the folder, then every
        # subchart the same way.
        first = ("Chart.yaml", "values.yaml", "values.schema.json")

        def rank(item: tuple[str, bytes]) -> tuple[int, list[str]]:
            path = item[0]
            if path in first:
                return (first.index(path) - len(first), [])
            return (0 if path.startswith("templates/") else 1, path.split("/"))

        ordered = sorted(self._own_files().items(), key=rank)
        for chart in self.dependencies:
            ordered += [
                (f"charts/{chart.name}/{path}", data) for path, data in chart._packing_order()
            ]
        return ordered

    def write(self, parent: Path) -> Path:
        """Write the chart folder under ``parent``, for helm to package or install; its path.

        Every file gets the mtime `PACKAGED_AT`, which ``helm package`` keeps."""
        folder = parent / self.name
        for path, data in self.folder_files().items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
            os.utime(folder / path, (PACKAGED_AT, PACKAGED_AT))
        return folder

    def package(self) -> bytes:
        """The chart as ``helm package`` packs it, byte for byte the same on every call."""
        tarball = io.BytesIO()
        with tarfile.open(fileobj=tarball, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path, data in self._packing_order():
                info = tarfile.TarInfo(f"{self.name}/{path}")
                info.size, info.mode, info.mtime = len(data), 0o644, PACKAGED_AT
                tar.addfile(info, io.BytesIO(data))
        return gzip.compress(tarball.getvalue(), mtime=0)

    def digest(self) -> str:
        """The hex sha256 of the package, as a repository index gives it."""
        return hashlib.sha256(self.package()).hexdigest()


class _GoStyleDumper(yaml.SafeDumper):
    """Quotes as Go's YAML library does: double quotes where a plain scalar would not do."""

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def _yaml(data: Mapping[str, Any]) -> bytes:
    dumped = yaml.dump(dict(data), Dumper=_GoStyleDumper, sort_keys=True, width=1 << 16)
    return dumped.encode()


def hook(manifest: Mapping[str, Any], events: Sequence[str], weight: int = 0) -> str:
    """A template of ``manifest`` that Helm runs as a hook on ``events``
    (``pre-install``, ``post-upgrade``...), ordered by ``weight``."""
    annotations = {"helm.sh/hook": ",".join(events), "helm.sh/hook-weight": str(weight)}
    metadata = dict(manifest.get("metadata", {}))
    metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
    return _yaml({**manifest, "metadata": metadata}).decode()


def helm_repository(
    namespace: str, url: str, *, name: str = "charts", interval: str = "1m"
) -> dict[str, Any]:
    """The HelmRepository ``name`` of the chart repository at ``url``."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": interval},
    }


def helm_release(
    namespace: str,
    chart: str,
    *,
    version: str = "*",
    name: str = "app",
    repository: str = "charts",
    interval: str = "1m",
    **spec: Any,
) -> dict[str, Any]:
    """HelmRelease ``name`` of ``chart`` at ``version`` from the HelmRepository
    ``repository``; ``spec`` adds or overrides fields of its spec."""
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": interval,
            "chart": {
                "spec": {
                    "chart": chart,
                    "version": version,
                    "sourceRef": {"kind": "HelmRepository", "name": repository},
                }
            },
            **spec,
        },
    }


def repository_index(charts: Sequence[Chart]) -> dict[str, Any]:
    """Helm's index.yaml for ``charts``: each name's versions newest first."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for chart in charts:
        entry = {
            **chart.chart_yaml(),
            "urls": [chart.filename],
            "digest": chart.digest(),
            "created": CREATED,
        }
        entries.setdefault(chart.name, []).append(entry)
    for versions in entries.values():
        versions.sort(key=_version_precedence, reverse=True)
    return {"apiVersion": "v1", "entries": entries, "generated": CREATED}


def _version_precedence(entry: Mapping[str, Any]) -> Any:
    version = parse_version(entry["version"])
    if version is None:
        raise ValueError(f"chart {entry['name']} has version {entry['version']!r}, not SemVer")
    return version.precedence


class ChartRepository:
    """A Helm chart repository on ``http://127.0.0.1:PORT``; with ``credentials``
    (user, password), every request needs them as basic auth (401 without)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.charts: list[Chart] = []
        self.requests: list[str] = []
        self._served: dict[str, bytes] = {"/index.yaml": _yaml(repository_index([]))}
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def add(self, *charts: Chart) -> None:
        """Serve the packages of ``charts`` and list them in the index."""
        self.charts += charts
        served = {f"/{chart.filename}": chart.package() for chart in self.charts}
        self._served = served | {"/index.yaml": _yaml(repository_index(self.charts))}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        repository = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                repository.requests.append(self.path)
                if not repository.authorized(self.headers.get("Authorization")):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = repository._served.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                kind = "application/x-yaml" if self.path.endswith(".yaml") else "application/gzip"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def authorized(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        user, password = self.credentials
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return header == f"Basic {expected}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Helm:
    """The real helm against one kubeconfig, its own folders under ``home``."""

    binary: Path
    kubeconfig: Path
    home: Path

    def environment(self) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HELM_") and key != "KUBECONFIG"
        }
        return inherited | {
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }

    def attempt(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``helm ARGS --kubeconfig ...``; the finished process, whatever its outcome."""
        return subprocess.run(
            [str(self.binary), *args, "--kubeconfig", str(self.kubeconfig)],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=HELM_TIMEOUT_SECONDS,
        )

    def run(self, *args: str) -> str:
        """Run helm; its standard output, or fail the test with its error."""
        done = self.attempt(*args)
        assert done.returncode == 0, f"helm {' '.join(args)} failed: {done.stderr.strip()}"
        return done.stdout

    def push(self, chart: Chart, registry: OciRegistry, repository: str) -> str:
        """``helm push`` the package of ``chart`` to ``oci://HOST/repository/NAME:VERSION``
        (plain HTTP); the manifest digest."""
        package = self.home / "packages" / chart.filename
        package.parent.mkdir(parents=True, exist_ok=True)
        package.write_bytes(chart.package())
        done = self.attempt(
            "push", str(package), f"oci://{registry.host}/{repository}", "--plain-http"
        )
        assert done.returncode == 0, f"helm push {chart.filename} failed: {done.stderr.strip()}"
        match = re.search(
            r"^Digest: (sha256:[0-9a-f]{64})$", done.stdout + done.stderr, re.MULTILINE
        )
        assert match is not None, f"helm push printed no digest: {done.stdout}{done.stderr}"
        return match.group(1)


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The real helm, built on first use (many minutes) and cached."""
    return ensure_helm(lambda *_progress: None)


@pytest.fixture
def helm(helm_binary: Path, kubeconfig: Path, tmp_path: Path) -> Helm:
    """The real helm against the test control plane, its folders in the test's own."""
    return Helm(helm_binary, kubeconfig, tmp_path / "helm-home")


@pytest.fixture
def chart_repository() -> Iterator[ChartRepository]:
    """An empty chart repository of the test's own, open to anyone."""
    with ChartRepository() as repository:
        yield repository


@pytest.fixture
def private_chart_repository() -> Iterator[ChartRepository]:
    """An empty chart repository of the test's own, behind `REPOSITORY_CREDENTIALS`."""
    with ChartRepository(REPOSITORY_CREDENTIALS) as repository:
        yield repository
