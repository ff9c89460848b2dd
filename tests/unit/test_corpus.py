"""The bad-input corpus: every case under ``tests/corpus/`` is a tenant's commit or a
source artifact that the engine must refuse with its own error, on one line, naming
the object or the file, within a time bound, and without touching anything else.

Each case runs the code path the engine runs on that input (``tests/corpus/README.md``
describes the format):

- ``build``: :func:`lockstep.controllers.kustomize.build.render_objects` on the case's
  tree, with the variables and age keys that
  :func:`lockstep.controllers.kustomize.inputs.build_inputs` reads for the case's
  Kustomization; it must raise a :class:`lockstep.render.errors.RenderError` or an
  :class:`~lockstep.controllers.kustomize.inputs.InputUnavailable`, and a sibling folder
  of the same tree must still build afterwards;
- ``artifact``: :meth:`lockstep.sources.extracted.ExtractedArtifacts.checkout` (download,
  digest check, safe extraction) of the case's ``artifact.tar.gz``, served over loopback
  HTTP with its true digest; it must raise a :class:`lockstep.sources.errors.SourceError`,
  write nothing outside its folder and leave neither a partial tree nor the download;
- ``helm``: :func:`lockstep.controllers.helm.rendering.render_release` of the case's
  chart (a folder or an archive) with its values, as a HelmRelease's install renders it;
  it must raise a :class:`~lockstep.controllers.helm.rendering.ReleaseRenderFailed`, and a
  sibling chart must still render afterwards on the same rendering service.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import importlib.util
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.kustomizations import ObjectTable, kustomization
from lockstep.api.kustomize import Kustomization
from lockstep.controllers.helm.rendering import ReleaseRenderFailed, render_release
from lockstep.controllers.kustomize.build import render_objects
from lockstep.controllers.kustomize.inputs import BuildInputs, InputUnavailable, build_inputs
from lockstep.render.errors import RenderError
from lockstep.render.helm import ReleaseContext, RenderOptions
from lockstep.sources.errors import SourceError
from lockstep.sources.extracted import ExtractedArtifacts
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

CASE_SECONDS = 20.0
"""The longest a case may take to fail; most take a few hundredths of a second."""

STAGES = ("build", "artifact", "helm")

SIBLING = "corpus-sibling"
"""The folder, added to every build case's tree, that must still build after the case fails."""

SIBLING_CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sibling\n"

SIBLING_CHART = "apiVersion: v2\nname: sibling\nversion: 1.0.0\n"

RELEASE = ReleaseContext("corpus", "tenant")
"""The release a helm case renders, as a HelmRelease's first install."""

DECRYPTION_SECRET = "corpus-age-keys"
"""The Secret that holds a case's age keys, as spec.decryption.secretRef names it."""

TRACEBACK_MARKERS = ("Traceback", 'File "', "Error:\n", "  at ", "goroutine ")

LOCAL_FOLDER_MARK = "lockstep-render-"
"""The prefix of a build's temporary copy: a message that shows it changes at every attempt."""


@dataclass(frozen=True)
class Case:
    """One folder of the corpus: its ``case.yaml`` and where its inputs come from."""

    folder: Path
    description: str
    stage: str
    expect: str
    path: str = "."
    spec: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    keys: str | None = None
    digest: str | None = None
    max_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    chart: str = "chart"
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.relative_to(CORPUS).as_posix()


def load_case(folder: Path) -> Case:
    fields = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8"))
    case = Case(folder=folder, **{key.replace("-", "_"): value for key, value in fields.items()})
    assert case.stage in STAGES, f"{case.name}: stage {case.stage!r} is not one of {STAGES}"
    assert "\n" not in case.description.strip(), f"{case.name}: the description is one line"
    assert case.expect, f"{case.name}: expect is empty"
    has_tree, has_make = (folder / "tree").is_dir(), (folder / "make.py").is_file()
    assert has_tree or has_make, f"{case.name}: neither tree/ nor make.py"
    return case


def all_cases() -> list[Case]:
    return [load_case(file.parent) for file in sorted(CORPUS.glob("*/*/case.yaml"))]


CASES = all_cases()


def make_input(case: Case, dest: Path) -> None:
    """The case's input in ``dest``: a copy of ``tree/``, then what ``make.py`` makes."""
    if (case.folder / "tree").is_dir():
        shutil.copytree(case.folder / "tree", dest)
    dest.mkdir(parents=True, exist_ok=True)
    script = case.folder / "make.py"
    if script.is_file():
        spec = importlib.util.spec_from_file_location(f"corpus_make_{id(case)}", script)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make(dest)


def kustomization_of(case: Case, keys: str | None) -> Kustomization:
    spec: dict[str, Any] = {"path": case.path, **case.spec}
    if keys is not None:
        spec.setdefault("decryption", {"provider": "sops"})
        spec["decryption"].setdefault("secretRef", {"name": DECRYPTION_SECRET})
    return kustomization("corpus", "tenant", **spec)


def cluster_of(case: Case, keys: str | None) -> ObjectTable:
    """The ConfigMaps and Secrets the case's Kustomization reads, with its keys' Secret."""
    objects = list(case.objects)
    if keys is not None:
        encoded = base64.b64encode(keys.encode()).decode()
        objects.append(
            {
                "kind": "Secret",
                "metadata": {"name": DECRYPTION_SECRET, "namespace": "tenant"},
                "data": {"identity.agekey": encoded},
            }
        )
    return ObjectTable(*objects)


def run_build(case: Case, root: Path) -> None:
    """Render the case's path as the Kustomization reconciler does; returns only if it built."""
    keys = None
    if case.keys is not None:
        key_file = root / case.keys
        keys = key_file.read_text(encoding="utf-8")
        key_file.unlink()
    kustomization = kustomization_of(case, keys)
    cluster = cluster_of(case, keys)
    inputs = asyncio.run(build_inputs(cluster, kustomization))  # type: ignore[arg-type]
    render_objects(kustomization, root, case.path, inputs)


class ArtifactServer(http.server.ThreadingHTTPServer):
    """Serves the cases' tarballs on loopback, as an artifact server would."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ArtifactHandler)
        self.files: dict[str, Path] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"

    def handle_error(self, request: object, client_address: object) -> None:
        """The engine stops reading a download past its size limit: the broken pipe is expected."""


class _ArtifactHandler(http.server.BaseHTTPRequestHandler):
    server: ArtifactServer

    def do_GET(self) -> None:
        file = self.server.files.get(self.path.lstrip("/"))
        if file is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(file.stat().st_size))
        self.end_headers()
        with file.open("rb") as content:
            shutil.copyfileobj(content, self.wfile)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def artifact_server() -> Iterator[ArtifactServer]:
    server = ArtifactServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_artifact(case: Case, work: Path, server: ArtifactServer) -> None:
    """Check out the case's tarball as the Kustomization reconciler checks out an artifact."""
    tarball = work / "input" / "artifact.tar.gz"
    server.files[case.name] = tarball
    digest = case.digest or f"sha256:{hashlib.sha256(tarball.read_bytes()).hexdigest()}"
    artifacts = ExtractedArtifacts(work / "artifacts", max_bytes=case.max_bytes)
    with artifacts.checkout(server.url(case.name), digest):
        pass


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Builds make their temporary copies here, so that none is left in the system's."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def run_helm(root: Path, chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render the chart at ``root/chart`` as a HelmRelease's install does; its objects."""
    rendered = render_release(root / chart, values, RELEASE, RenderOptions(), within=CASE_SECONDS)
    return rendered.objects


def run_case(case: Case, work: Path, server: ArtifactServer) -> None:
    if case.stage == "build":
        run_build(case, (work / "input").resolve())
    elif case.stage == "helm":
        run_helm(work / "input", case.chart, case.values)
    else:
        run_artifact(case, work, server)


def check_unaffected(case: Case, work: Path, temp: Path) -> None:
    """No temporary copy is left; a build's sibling folder still builds, a sibling chart
    still renders; an extraction wrote nothing outside its folder."""
    assert not list(temp.iterdir()), "a temporary copy was left behind"
    if case.stage == "helm":
        rendered = run_helm(work / "input", SIBLING, {})
        assert [obj["metadata"]["name"] for obj in rendered] == ["sibling"]
    elif case.stage == "build":
        sibling = kustomization("sibling", "tenant")
        rendered = render_objects(sibling, (work / "input").resolve(), SIBLING, BuildInputs())
        assert [obj["metadata"]["name"] for obj in rendered.objects] == ["sibling"]
    else:
        assert {path.name for path in work.iterdir()} <= {"artifacts", "input"}
        assert not list((work / "artifacts").iterdir()), "a partial tree or the download was left"


@pytest.mark.timeout(CASE_SECONDS * 2)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_on_one_line(
    case: Case, tmp_path: Path, artifact_server: ArtifactServer, private_temp: Path
) -> None:
    work = tmp_path / "work"
    make_input(case, work / "input")
    if case.stage == "build":
        (work / "input" / SIBLING).mkdir()
        (work / "input" / SIBLING / "configmap.yaml").write_text(SIBLING_CONFIG_MAP)
    if case.stage == "helm":
        (work / "input" / SIBLING / "templates").mkdir(parents=True)
        (work / "input" / SIBLING / "Chart.yaml").write_text(SIBLING_CHART)
        (work / "input" / SIBLING / "templates" / "configmap.yaml").write_text(SIBLING_CONFIG_MAP)
    errors: tuple[type[Exception], ...] = {
        "build": (RenderError, InputUnavailable),
        "artifact": (SourceError,),
        "helm": (ReleaseRenderFailed,),
    }[case.stage]
    started = time.monotonic()

    with pytest.raises(errors) as caught:
        run_case(case, work, artifact_server)

    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert not {"\n", "\r"} & set(message), f"not one line: {message!r}"
    assert case.expect in message, f"{case.expect!r} not in {message!r}"
    assert not any(marker in message for marker in TRACEBACK_MARKERS), message
    assert str(tmp_path) not in message, f"the engine's local folder in {message!r}"
    assert LOCAL_FOLDER_MARK not in message, f"a temporary copy's path in {message!r}"
    assert elapsed < CASE_SECONDS, f"took {elapsed:.1f}s"
    check_unaffected(case, work, private_temp)


def test_the_corpus_holds_its_cases() -> None:
    assert len(CASES) >= 200
    assert len({case.folder.name for case in CASES}) == len(CASES), "case names repeat"
