"""HelmRepository and HelmChart parity with Flux's own source-controller: the same objects,
reconciled first by Flux and then by lockstep, must end with the same status and
artifacts.

One scenario serves every test of the module (see :func:`parity`): a chart
repository over HTTP, a private one reached with a wrong password, a Git repository
holding a chart folder (with a ``file://`` dependency) and an OCI registry holding a
pushed chart. Flux's source-controller reconciles a set of HelmRepositories and
HelmCharts in one namespace; their status and artifacts are recorded, the namespace is
deleted while Flux still runs (its finalizers go with it) and Flux stops. lockstep then
reconciles the same objects in a namespace of its own: only one engine reconciles the
kinds at a time. Hosts, namespaces and durations are masked before comparing.

Equal, and asserted so: the conditions (types, statuses, reasons, messages) of every
Ready object; the artifacts' revisions, file names, sizes and digests; the index
artifact byte for byte; pulled charts byte for byte; ``observedChartName``,
``observedSourceArtifactRevision``, ``observedValuesFiles``; the files (names, order and
content, Chart.yaml and values.yaml included) of the charts each engine packages; the
reasons and condition types of every failure, and that each message tells the same
thing.

Different, by design or left for later (each asserted as it is):

- ``status.url``: Flux names a link it keeps beside the newest artifact
  (``.../index.yaml`` for a HelmRepository, ``.../latest.tar.gz`` for a HelmChart);
  lockstep names the artifact itself (``.../index-<hex>.yaml``, ``.../app-1.1.0.tgz``)
  and its store keeps no such link.
- Charts packaged from a Git folder: the tar entries carry the time of packaging in
  Flux, 0 in lockstep (reproducible), so their size and digest differ; the files do not.
- Failures: Flux lists Stalled or Reconciling before Ready, lockstep Ready first (the
  shell's order for every kind). While a failure is retried Flux leaves
  ``observedGeneration`` at the CRD's default -1, lockstep sets it to the generation,
  and Flux's Reconciling keeps its last progress message (``building artifact``)
  where lockstep repeats the failure. The messages are each engine's own: Flux's
  ``failed to fetch Helm repository index: failed to cache index to temporary file:
  failed to fetch <url>/index.yaml : 401 Unauthorized`` against lockstep's ``<url>/index.yaml:
  the repository refused access to index.yaml (HTTP 401); check username and password
  in the Secret of spec.secretRef``; ``values files merge error: failed to merge chart
  values: no values file found at path 'values-missing.yaml'`` against ``HelmChart
  <namespace>/missing-values: no values file found at path 'values-missing.yaml'; add it
  ...``; ``invalid chart reference: failed to get chart version for remote reference: no
  'app' chart with version matching '9.x' found`` against ``invalid chart reference: no
  chart version of 'app' in <url> matches '9.x': available ...; widen spec.version ...``.
- A HelmRepository of ``type: oci``: both leave it without finalizer or conditions, but
  Flux patches its status to ``{}`` while lockstep leaves the CRD's default
  ``{observedGeneration: -1}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ground.charts import REPOSITORY_CREDENTIALS, Chart, ChartRepository, Helm
from ground.engine import start_engine, stop_engine
from ground.flux import conditions, differences, install_flux_crds, show_logs
from ground.wait import eventually
from lockstep.dev.flux import FluxBinaries, FluxControllers
from lockstep.dev.gitserver import GitServer, WorkingCopy
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SOURCE_API = "source.toolkit.fluxcd.io/v1"
WITHIN = 180.0
SETTLE_SECONDS = 5.0

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
"""
PROD_VALUES = "greeting: prod\nextra:\n  enabled: true\n"


def _chart(version: str) -> Chart:
    return Chart(
        "app",
        version,
        templates={"configmap.yaml": TEMPLATE},
        values={"greeting": "hello", "replicas": 1},
        files={"values-prod.yaml": PROD_VALUES},
        metadata={"appVersion": "2.4.1", "description": "An app for parity"},
    )


HTTP_CHARTS = (_chart("1.0.0"), _chart("1.1.0"), _chart("2.0.0-rc.1"))
OCI_CHART = _chart("0.3.0")
LIBRARY = Chart("library", "0.1.0", templates={"_helpers.tpl": '{{- define "x" }}y{{ end }}'})
GIT_APP = Chart(
    "app",
    "1.0.0",
    templates={"configmap.yaml": TEMPLATE},
    values={"greeting": "hi"},
    metadata={
        "dependencies": [{"name": "library", "version": "0.1.0", "repository": "file://../library"}]
    },
)

# HelmCharts that become Ready with the package as downloaded, and with one packaged
# by the engine, by object name.
PULLED_CHARTS = ("latest", "range", "oci")
PACKAGED_CHARTS = ("values", "git-version", "git-revision")


@dataclass(frozen=True)
class Inputs:
    """Where the scenario's charts are served; the same for both engines."""

    http_url: str
    private_url: str
    git_url: str
    oci_url: str


@dataclass
class Run:
    """What one engine made of the scenario."""

    namespace: str
    storage_host: str
    objects: dict[str, KubeObject] = field(default_factory=dict)
    """By ``Kind/name``."""
    artifacts: dict[str, bytes] = field(default_factory=dict)
    """The artifact file of each object that has one, by ``Kind/name``."""


@dataclass
class Parity:
    """The scenario as Flux left it, and as lockstep did."""

    flux: Run
    lockstep: Run


def _objects(namespace: str, inputs: Inputs) -> list[KubeObject]:
    def source(kind: str, name: str, **spec: Any) -> KubeObject:
        return {
            "apiVersion": SOURCE_API,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    def chart(name: str, source_kind: str, source_name: str, **spec: Any) -> KubeObject:
        defaults = {
            "chart": "app",
            "interval": "10m",
            "sourceRef": {"kind": source_kind, "name": source_name},
        }
        return source("HelmChart", name, **{**defaults, **spec})

    user, _password = REPOSITORY_CREDENTIALS
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wrong-auth", "namespace": namespace},
            "stringData": {"username": user, "password": "not-the-password"},
        },
        source("HelmRepository", "charts", url=inputs.http_url, interval="10m"),
        source(
            "HelmRepository",
            "private",
            url=inputs.private_url,
            interval="10m",
            secretRef={"name": "wrong-auth"},
        ),
        source("HelmRepository", "oci", url=inputs.oci_url, type="oci", insecure=True),
        source("GitRepository", "repo", url=inputs.git_url, interval="10m", ref={"branch": "main"}),
        chart("latest", "HelmRepository", "charts"),
        chart("range", "HelmRepository", "charts", version="1.0.x"),
        chart(
            "values",
            "HelmRepository",
            "charts",
            valuesFiles=["values.yaml", "values-prod.yaml"],
        ),
        chart("git-version", "GitRepository", "repo", chart="./charts/app"),
        chart(
            "git-revision",
            "GitRepository",
            "repo",
            chart="./charts/app",
            reconcileStrategy="Revision",
        ),
        chart("oci", "HelmRepository", "oci", version=">=0.1.0"),
        chart("no-match", "HelmRepository", "charts", version="9.x"),
        chart("missing-values", "HelmRepository", "charts", valuesFiles=["values-missing.yaml"]),
        chart("private", "HelmRepository", "private"),
    ]


def _settled(obj: KubeObject) -> bool:
    """Whether the engine has judged this generation: Ready True or False, observed at it,
    and, but for the chart of the private repository, with its source's artifact at hand
    (a chart reconciled before its source is Ready waits for it)."""
    waits_for_source = obj["metadata"]["name"] == "private" and obj["kind"] == "HelmChart"
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry["type"] == "Ready":
            return (
                entry["status"] != "Unknown"
                and entry.get("observedGeneration") == obj["metadata"].get("generation")
                and (waits_for_source or entry["reason"] != "NoSourceArtifact")
            )
    return False


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


async def _run_scenario(
    kube: KubeClient, run: Run, inputs: Inputs, explain: Callable[[], str]
) -> None:
    """Apply the scenario's objects in ``run.namespace``; record them once all settled."""
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": run.namespace}})
    manifests = _objects(run.namespace, inputs)
    for manifest in manifests:
        await kube.apply(manifest)
    refs = {
        f"{m['kind']}/{m['metadata']['name']}": ObjectRef(
            m["apiVersion"], m["kind"], m["metadata"]["name"], run.namespace
        )
        for m in manifests
        if m["kind"] != "Secret"
    }
    static = {"HelmRepository/oci"}
    try:
        for name, ref in refs.items():
            if name not in static:
                await eventually(
                    lambda ref=ref: kube.get(ref),
                    _settled,
                    within=WITHIN,
                    what=f"{run.namespace}/{name} settled",
                )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{explain()}") from error
    # Retries of the failing objects must not change what they say: read them again later.
    await asyncio.sleep(SETTLE_SECONDS)
    for name, ref in refs.items():
        obj = await kube.get(ref)
        run.objects[name] = obj
        artifact = (obj.get("status") or {}).get("artifact")
        if artifact and not name.startswith("GitRepository/"):
            run.artifacts[name] = await asyncio.to_thread(_download, artifact["url"])


async def _delete_namespace(kube: KubeClient, namespace: str) -> None:
    """Delete the namespace and wait until it is gone: the engine still running releases
    its finalizers."""
    ref = ObjectRef("v1", "Namespace", namespace)
    with contextlib.suppress(NotFound):
        await kube.delete(ref)

    async def gone() -> bool:
        try:
            await kube.get(ref)
        except NotFound:
            return True
        return False

    await eventually(gone, bool, within=WITHIN, what=f"namespace {namespace} deleted")


def _git_chart_repository(git_server: GitServer, folder: Path) -> str:
    repo = git_server.create_repo(f"helm-parity-{uuid.uuid4().hex[:6]}.git")
    work = WorkingCopy.create(folder / "work", origin=repo.path)
    for chart, where in ((GIT_APP, "charts/app"), (LIBRARY, "charts/library")):
        for path, data in chart.folder_files().items():
            work.write(f"{where}/{path}", data)
    work.commit("charts")
    work.push()
    return repo.http_url


async def _with_explanation(step: Awaitable[None], explain: Callable[[], str]) -> None:
    try:
        await step
    except AssertionError as error:
        raise AssertionError(f"{error}\n{explain()}") from error


@pytest.fixture(scope="module")
async def parity(
    flux_binaries: FluxBinaries,
    kubeconfig: Path,
    kube: KubeClient,
    git_server: GitServer,
    oci_registry: OciRegistry,
    helm_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Parity]:
    install_flux_crds(kubeconfig)
    folder = tmp_path_factory.mktemp("helm-parity")
    oci_path = f"helm-parity-{uuid.uuid4().hex[:6]}"
    Helm(helm_binary, kubeconfig, folder / "helm-home").push(OCI_CHART, oci_registry, oci_path)
    with ChartRepository() as public, ChartRepository(REPOSITORY_CREDENTIALS) as private:
        public.add(*HTTP_CHARTS)
        private.add(*HTTP_CHARTS)
        inputs = Inputs(
            http_url=public.url,
            private_url=private.url,
            git_url=_git_chart_repository(git_server, folder),
            oci_url=f"oci://{oci_registry.host}/{oci_path}",
        )

        flux = FluxControllers(flux_binaries, kubeconfig, folder / "flux")
        flux_run = Run(f"flux-{uuid.uuid4().hex[:6]}", flux.addresses.storage)
        flux.start()
        try:
            await _run_scenario(kube, flux_run, inputs, lambda: show_logs(flux))
            await _with_explanation(
                _delete_namespace(kube, flux_run.namespace), lambda: show_logs(flux)
            )
        finally:
            flux.stop()

        engine = start_engine(kubeconfig, folder / "lockstep")

        def engine_log() -> str:
            return engine.log.read_text()[-3000:]

        lockstep_run = Run(f"lockstep-{uuid.uuid4().hex[:6]}", engine.storage_addr)
        try:
            await _run_scenario(kube, lockstep_run, inputs, engine_log)
            yield Parity(flux_run, lockstep_run)
        finally:
            try:
                await _with_explanation(_delete_namespace(kube, lockstep_run.namespace), engine_log)
            finally:
                stop_engine(engine)


# --- Views of what each engine wrote, masked ------------------------------------------


def _file_name(path: str) -> str:
    return PurePosixPath(path).name


def _artifact_view(obj: KubeObject) -> dict[str, Any]:
    artifact = (obj.get("status") or {}).get("artifact") or {}
    return {
        "keys": sorted(artifact),
        "revision": artifact.get("revision"),
        "file": _file_name(artifact.get("path", "")),
        "size": artifact.get("size"),
        "digest": artifact.get("digest"),
    }


def _status_view(obj: KubeObject, run: Run) -> dict[str, Any]:
    """The status as both engines should write it; ``url`` is compared apart (see
    :func:`test_status_url_differs_from_flux_as_documented`)."""
    status = obj.get("status") or {}
    view = {
        "conditions": conditions(status, run.namespace),
        "finalizers": obj["metadata"].get("finalizers"),
        "status keys": sorted(status),
        "observedGeneration": status.get("observedGeneration"),
        "artifact": _artifact_view(obj),
    }
    if obj["kind"] == "HelmChart":
        view |= {
            key: status.get(key)
            for key in (
                "observedChartName",
                "observedSourceArtifactRevision",
                "observedValuesFiles",
            )
        }
    return view


def _unpacked(package: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


def _compared(what: str, flux: Any, lockstep: Any) -> None:
    print(f"{what}\nFlux:     {flux}\nlockstep: {lockstep}")
    found = differences(flux, lockstep)
    assert not found, f"{what} differs from Flux's:\n" + "\n".join(found)


# --- HelmRepository -------------------------------------------------------------------


def test_http_repository_status_matches_flux(parity: Parity) -> None:
    name = "HelmRepository/charts"
    _compared(
        name,
        _status_view(parity.flux.objects[name], parity.flux),
        _status_view(parity.lockstep.objects[name], parity.lockstep),
    )


def test_http_repository_index_is_flux_bytes(parity: Parity) -> None:
    name = "HelmRepository/charts"
    assert parity.lockstep.artifacts[name] == parity.flux.artifacts[name]


def test_oci_repository_is_static_as_in_flux(parity: Parity) -> None:
    flux = parity.flux.objects["HelmRepository/oci"]
    lockstep = parity.lockstep.objects["HelmRepository/oci"]
    assert not flux["metadata"].get("finalizers")
    assert not lockstep["metadata"].get("finalizers")
    # Flux patches the status to nothing, dropping the CRD's default; lockstep leaves that
    # default (`observedGeneration: -1`).
    assert flux.get("status") == {}
    assert lockstep.get("status") == {"observedGeneration": -1}


# --- HelmChart ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PULLED_CHARTS + PACKAGED_CHARTS)
def test_chart_status_matches_flux(parity: Parity, name: str) -> None:
    key = f"HelmChart/{name}"
    flux = _status_view(parity.flux.objects[key], parity.flux)
    lockstep = _status_view(parity.lockstep.objects[key], parity.lockstep)
    if name in PACKAGED_CHARTS:
        # Packed by each engine: the files are compared below, not the archive bytes.
        for view in (flux, lockstep):
            del view["artifact"]["size"], view["artifact"]["digest"]
    _compared(key, flux, lockstep)


@pytest.mark.parametrize("name", PULLED_CHARTS)
def test_pulled_chart_is_flux_bytes(parity: Parity, name: str) -> None:
    key = f"HelmChart/{name}"
    assert parity.lockstep.artifacts[key] == parity.flux.artifacts[key]


@pytest.mark.parametrize("name", PACKAGED_CHARTS)
def test_packaged_chart_files_match_flux(parity: Parity, name: str) -> None:
    key = f"HelmChart/{name}"
    flux = _unpacked(parity.flux.artifacts[key])
    lockstep = _unpacked(parity.lockstep.artifacts[key])
    assert list(lockstep) == list(flux)
    differing = sorted(path for path in flux if flux[path] != lockstep[path])
    for path in differing:
        print(f"--- {path}\nFlux:\n{flux[path].decode()}\nlockstep:\n{lockstep[path].decode()}")
    assert not differing, f"files differ from Flux's: {differing}"


def test_status_url_differs_from_flux_as_documented(parity: Parity) -> None:
    """Flux's ``status.url`` names a fixed link beside the artifact; lockstep's the
    artifact itself (see the module docstring)."""
    links = {"HelmRepository/charts": "index.yaml"} | {
        f"HelmChart/{name}": "latest.tar.gz" for name in PULLED_CHARTS + PACKAGED_CHARTS
    }
    for key, link in links.items():
        flux, lockstep = parity.flux.objects[key]["status"], parity.lockstep.objects[key]["status"]
        assert flux["url"] == flux["artifact"]["url"].rsplit("/", 1)[0] + f"/{link}", key
        assert lockstep["url"] == lockstep["artifact"]["url"], key


# --- Failures -------------------------------------------------------------------------


def _failure_view(obj: KubeObject, run: Run) -> dict[str, Any]:
    """The status of a failing object, but for what differs by design (see the module
    docstring): the order of the conditions, their messages, and ``observedGeneration``
    while a failure is retried."""
    view = _status_view(obj, run)
    view["conditions"] = {kind: (status, reason) for kind, status, reason, _ in view["conditions"]}
    del view["observedGeneration"]
    return view


def _messages(obj: KubeObject, run: Run) -> dict[str, str]:
    """The message of each condition but Reconciling, by type."""
    return {
        kind: message
        for kind, _status, _reason, message in conditions(obj["status"], run.namespace)
        if kind != "Reconciling"
    }


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("HelmChart/no-match", ("invalid chart reference: ", "'app'", "'9.x'")),
        ("HelmChart/missing-values", ("no values file found at path 'values-missing.yaml'",)),
        ("HelmChart/private", ("no artifact available for HelmRepository source 'private'",)),
        ("HelmRepository/private", ("index.yaml", "401")),
    ],
)
def test_failure_matches_flux(parity: Parity, key: str, said: tuple[str, ...]) -> None:
    flux, lockstep = parity.flux.objects[key], parity.lockstep.objects[key]
    _compared(key, _failure_view(flux, parity.flux), _failure_view(lockstep, parity.lockstep))
    for run, obj in ((parity.flux, flux), (parity.lockstep, lockstep)):
        messages = _messages(obj, run)
        # Every condition of the failure tells the same thing, and what matters.
        assert len(set(messages.values())) == 1, messages
        message = next(iter(messages.values()))
        assert all(part in message for part in said), message
    if flux["status"].get("observedGeneration") != -1:
        # Stalled: both observed the generation they gave up on.
        assert lockstep["status"]["observedGeneration"] == flux["status"]["observedGeneration"]
