"""HelmRelease parity with Flux's own helm-controller: the same HelmReleases, reconciled
first by Flux and then by lockstep, must end with the same status and the same Helm
release storage.

One scenario serves every test of the module (see :func:`parity`): a chart repository
over HTTP holding a chart that installs, one whose template calls ``fail`` and one that
renders an object the API server refuses, and HelmReleases of them: an install, an
install upgraded with changed values, values from a ConfigMap merged with inline ones,
a chart with a post-install hook released with a post-renderer that labels ConfigMaps
(Flux's default ``postRenderStrategy`` post-renders the hook too, as lockstep does),
the failing chart with ``install.remediation.retries: 2``, the refused chart with
``retries: 1``, and a chart version that does not exist. Flux's source-controller and
helm-controller reconcile them in one namespace; the releases and Helm's Secrets are
recorded, the namespace is deleted while Flux still runs (its finalizers uninstall the
releases) and Flux stops. lockstep then reconciles the same objects in a namespace of
its own: only one engine reconciles the kinds at a time. Namespaces and durations are
masked before comparing.

Equal, and asserted so: the conditions (types, statuses, reasons, messages) of every
release that installs; the ``history`` entries (chart API version, name, version and
appVersion, release name, namespace, version, status, and whether it was deployed again
after its first deployment), ``lastAttemptedRevision``, ``lastAttemptedReleaseAction``,
``lastAttemptedGeneration``, ``failures``, ``installFailures``, ``upgradeFailures``,
``storageNamespace``, ``helmChart``, ``observedGeneration``, the finalizer and the set
of status fields; the storage Secrets (names, type, labels, the record's fields, status,
description, config, chart metadata, ``apply_method``, whether ``first_deployed`` equals
``last_deployed``, and the manifest's objects); for the failures, the reasons of Ready
and Released, the counts (a failed render is a failure but not an install failure, a
refused install is both, and retries exhausted leave the last failed revision in place,
unremediated) and what every message tells; ``lastAttemptedConfigDigest`` and every
``history[].configDigest``, the installed release's values holding what go-yaml quotes,
folds or rewrites (strings that read as booleans or numbers, a long line, a multi-line
string, unicode, empty maps and lists, a null, a float, an integer beyond 2**53, keys
that go-yaml's own order would sort otherwise).

Different, by design or left for later (each asserted as it is):

- The stored manifest: Flux's post-renderer writes its origin labels
  (``helm.toolkit.fluxcd.io/name``, ``.../namespace``) into it and re-serialises it;
  lockstep stores the chart's rendering as is and sets those labels when it applies the
  objects. The objects are the same without those labels.
- ``history[].digest``: Flux digests its own observation of
  the release, lockstep the stored record as it encodes it (checked against the
  Secret). ``history[0].action`` is written by Flux only.
- ``status.inventory`` and ``lastAttemptedReleaseActionDuration`` are written by Flux
  only.
- A chart that fails to render: both messages name the chart (``... for release
  <namespace>/failing with chart broken@0.1.0: <Helm's error>``); Flux leaves ``observedGeneration`` at the CRD's default -1 while it retries, lockstep
  sets it; Flux's Reconciling is ``Progressing`` (its last step) where lockstep's is
  ``ProgressingWithRetry``; each counts ``failures`` at its own retry pace.
- Retries exhausted: Flux's Stalled is ``RetriesExceeded``, ``Failed to install after 2
  attempt(s)``; lockstep's repeats the failure (``InstallFailed`` and its message). The
  API server's refusal is worded by each engine's apply (Flux: ``server-side apply
  failed for object <namespace>/Not_A_Name /v1, Kind=ConfigMap: ...``, lockstep:
  ``ConfigMap/<namespace>/Not_A_Name dry-run failed: ...``), in the condition messages
  and in the failed revision's description alike.
- A chart version that does not exist: both say ``SourceNotReady`` and ``HelmChart
  '<namespace>/<namespace>-missing-version' is not ready: <the HelmChart's message>``;
  lockstep's message starts with the HelmRelease's name, and the HelmChart's message is
  each engine's own (see test_helm_sources_parity.py). Flux leaves ``observedGeneration``
  at -1 and Reconciling at ``Progressing``, ``Fulfilling prerequisites``; lockstep sets
  the generation and says ``ProgressingWithRetry``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, ChartRepository
from ground.engine import start_engine, stop_engine
from ground.flux import GO_DURATION, HEX_DIGEST, differences, install_flux_crds, mask, show_logs
from ground.wait import eventually
from lockstep.controllers.helm.storage import decode, release_digest
from lockstep.controllers.helm.values import config_digest
from lockstep.dev.flux import FluxBinaries, FluxControllers, FluxHelmController
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
WITHIN = 180.0
SETTLE_SECONDS = 10.0
ORIGIN_LABELS = ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace")

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
"""
APP = Chart(
    "app",
    "1.0.0",
    templates={"configmap.yaml": TEMPLATE},
    values={"greeting": "hello", "replicas": 1},
    metadata={"appVersion": "2.4.1", "description": "An app for parity"},
)
BROKEN = Chart(
    "broken",
    "0.1.0",
    templates={"configmap.yaml": TEMPLATE, "fail.yaml": '{{ fail "this chart never installs" }}\n'},
    values={"greeting": "hello", "replicas": 1},
)
REJECTED = Chart(
    "rejected",
    "0.1.0",
    templates={
        "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n"
    },
)
HOOKED = Chart(
    "hooked",
    "0.1.0",
    templates={
        "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hooked\n",
        "hook.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hooked-hook\n  annotations:\n"
            '    helm.sh/hook: post-install\n    helm.sh/hook-weight: "1"\n'
        ),
    },
)
LABEL_CONFIG_MAPS = {
    "kustomize": {
        "patches": [
            {
                "target": {"kind": "ConfigMap"},
                "patch": '[{"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]',
            }
        ]
    }
}
"""A post-renderer that Flux's default strategy (``combined``) applies to hooks too."""
VALUES_FROM = "greeting: from-configmap\nextra:\n  port: 8080\n"
UPGRADED_VALUES = {"greeting": "after"}
TRICKY_VALUES = {
    "long": " ".join(["word"] * 30),
    "looks-typed": ["yes", "off", "null", "1.10", "0755", "1e3", "2024-01-01", "1:20"],
    "multiline": "line1\nline2\n",
    "unicode": "été € 😀",
    "empty": {"map": {}, "list": [], "string": ""},
    "nothing": None,
    "float": 0.1,
    "big": 9007199254740993,
    "keys": {"a10": 1, "a9": 2, "B": 3, "_": 4},
}
"""Values whose digest depends on how go-yaml writes them."""

SUCCEEDING = ["installed", "upgraded", "from-configmap", "hooked"]
STORED = [*SUCCEEDING, "rejected"]
"""The releases whose revisions are stored: those that install, and one the API refuses."""


@dataclass
class Run:
    """What one engine made of the scenario."""

    namespace: str
    releases: dict[str, KubeObject] = field(default_factory=dict)
    """The HelmReleases, by name."""
    secrets: dict[str, KubeObject] = field(default_factory=dict)
    """Helm's release Secrets in the namespace, by name."""


@dataclass
class Parity:
    flux: Run
    lockstep: Run


def _objects(namespace: str, repository_url: str) -> list[KubeObject]:
    def release(name: str, chart: str, version: str = "*", **spec: Any) -> KubeObject:
        template = {
            "chart": chart,
            "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "interval": "10m",
        }
        return {
            "apiVersion": HELM_API,
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "10m", "chart": {"spec": template}, **spec},
        }

    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "release-values", "namespace": namespace},
            "data": {"values.yaml": VALUES_FROM},
        },
        {
            "apiVersion": SOURCE_API,
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": namespace},
            "spec": {"url": repository_url, "interval": "10m"},
        },
        release("installed", "app", values={"greeting": "installed", "tricky": TRICKY_VALUES}),
        release("upgraded", "app", values={"greeting": "before"}),
        release(
            "from-configmap",
            "app",
            valuesFrom=[{"kind": "ConfigMap", "name": "release-values"}],
            values={"replicas": 3},
        ),
        release("hooked", "hooked", postRenderers=[LABEL_CONFIG_MAPS]),
        release("failing", "broken", install={"remediation": {"retries": 2}}),
        release("rejected", "rejected", install={"remediation": {"retries": 1}}),
        release("missing-version", "app", version="9.x"),
    ]


def _condition(obj: KubeObject, kind: str) -> dict[str, Any] | None:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry["type"] == kind:
            return dict(entry)
    return None


def _settled(obj: KubeObject) -> bool:
    """Whether the engine has judged this generation: Ready True or False, observed at
    it; a release whose chart version does not exist once it says so, and the refused
    one once its retries are exhausted."""
    ready = _condition(obj, "Ready")
    if ready is None or ready["status"] == "Unknown":
        return False
    if ready.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    if obj["metadata"]["name"] == "missing-version":
        return "9.x" in ready["message"]
    if obj["metadata"]["name"] == "rejected":
        return (_condition(obj, "Stalled") or {}).get("status") == "True"
    return True


def _upgraded(obj: KubeObject) -> bool:
    ready = _condition(obj, "Ready")
    return (
        _settled(obj)
        and ready is not None
        and ready["status"] == "True"
        and len((obj.get("status") or {}).get("history") or []) == 2
    )


async def _run_scenario(
    kube: KubeClient, run: Run, repository_url: str, explain: Callable[[], str]
) -> None:
    """Apply the scenario in ``run.namespace``, upgrade one release once all settled, and
    record the releases and their storage."""
    namespace = run.namespace
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    manifests = _objects(namespace, repository_url)
    for manifest in manifests:
        await kube.apply(manifest)
    releases = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "HelmRelease"}

    def ref(name: str) -> ObjectRef:
        return ObjectRef(HELM_API, "HelmRelease", name, namespace)

    try:
        for name in releases:
            await eventually(
                lambda name=name: kube.get(ref(name)),
                _settled,
                within=WITHIN,
                what=f"{namespace}/{name} settled",
            )
        upgraded = releases["upgraded"]
        await kube.apply({**upgraded, "spec": {**upgraded["spec"], "values": UPGRADED_VALUES}})
        await eventually(
            lambda: kube.get(ref("upgraded")),
            _upgraded,
            within=WITHIN,
            what=f"{namespace}/upgraded upgraded",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{explain()}") from error
    # Retries and remediation of the failing releases run on: read them again later.
    await asyncio.sleep(SETTLE_SECONDS)
    for name in releases:
        run.releases[name] = await kube.get(ref(name))
    for secret in await kube.list("v1", "Secret", namespace=namespace, labels={"owner": "helm"}):
        run.secrets[secret["metadata"]["name"]] = secret


async def _delete_namespace(kube: KubeClient, namespace: str) -> None:
    """Delete the namespace and wait until it is gone: the engine still running
    uninstalls the releases and releases its finalizers."""
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


@pytest.fixture(scope="module")
async def parity(
    flux_binaries: FluxBinaries,
    flux_helm_binaries: FluxBinaries,
    kubeconfig: Path,
    kube: KubeClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Parity]:
    install_flux_crds(kubeconfig)
    folder = tmp_path_factory.mktemp("helmrelease-parity")
    with ChartRepository() as repository:
        repository.add(APP, BROKEN, REJECTED, HOOKED)
        flux = FluxControllers(flux_binaries, kubeconfig, folder / "flux")
        # A release whose HelmChart fails is looked at again after this (30s by default).
        helm = FluxHelmController(
            flux_helm_binaries, kubeconfig, folder / "flux", ["--requeue-dependency=5s"]
        )
        flux_run = Run(f"flux-{uuid.uuid4().hex[:6]}")
        with flux, helm:
            await _run_scenario(kube, flux_run, repository.url, lambda: show_logs(flux, helm))
            await _delete_namespace(kube, flux_run.namespace)

        engine = start_engine(kubeconfig, folder / "lockstep")

        def engine_log() -> str:
            return engine.log.read_text()[-5000:]

        lockstep_run = Run(f"lockstep-{uuid.uuid4().hex[:6]}")
        try:
            await _run_scenario(kube, lockstep_run, repository.url, engine_log)
            yield Parity(flux_run, lockstep_run)
        finally:
            try:
                await _delete_namespace(kube, lockstep_run.namespace)
            finally:
                stop_engine(engine)


def _decoded(secret: KubeObject) -> dict[str, Any]:
    """The release JSON of a storage Secret (base64 twice, gzip, JSON)."""
    record = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    document: dict[str, Any] = json.loads(gzip.decompress(record))
    return document


def _masked(value: Any, run: Run) -> Any:
    """``value`` with the run's namespace replaced by a marker, in every string."""
    return json.loads(json.dumps(value).replace(run.namespace, "<namespace>"))


def _conditions(obj: KubeObject, run: Run) -> dict[str, tuple[str, str, str]]:
    """``type -> (status, reason, message)``, messages masked."""
    return {
        entry["type"]: (entry["status"], entry["reason"], mask(entry["message"], run.namespace))
        for entry in (obj.get("status") or {}).get("conditions") or []
    }


HISTORY_FIELDS = (
    "apiVersion",
    "chartName",
    "chartVersion",
    "appVersion",
    "name",
    "namespace",
    "version",
    "status",
)
STATUS_FIELDS = (
    "observedGeneration",
    "lastAttemptedGeneration",
    "lastAttemptedRevision",
    "lastAttemptedReleaseAction",
    "failures",
    "installFailures",
    "upgradeFailures",
    "storageNamespace",
    "helmChart",
)
FLUX_ONLY_STATUS = ("inventory", "lastAttemptedReleaseActionDuration")
"""Written by Flux, not by lockstep (see the module docstring)."""


def _history_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    view = {key: entry.get(key) for key in HISTORY_FIELDS}
    # Times differ from run to run; whether the release was deployed again after its
    # first deployment does not.
    view["deployed again"] = entry["lastDeployed"] != entry["firstDeployed"]
    return view


def _status_view(obj: KubeObject, run: Run) -> dict[str, Any]:
    """The status as both engines should write it; digests are compared apart."""
    status = obj.get("status") or {}
    view = {
        "conditions": _conditions(obj, run),
        "finalizers": obj["metadata"].get("finalizers"),
        "status keys": sorted(set(status) - set(FLUX_ONLY_STATUS)),
        "history": [_history_view(entry) for entry in status.get("history") or []],
    }
    return _masked(view | {key: status.get(key) for key in STATUS_FIELDS}, run)


def _compared(what: str, flux: Any, lockstep: Any) -> None:
    print(f"{what}\nFlux:     {flux}\nlockstep: {lockstep}")
    found = differences(flux, lockstep)
    assert not found, f"{what} differs from Flux's:\n" + "\n".join(found)


# --- Successful releases ----------------------------------------------------------------


@pytest.mark.parametrize("name", SUCCEEDING)
def test_release_status_matches_flux(parity: Parity, name: str) -> None:
    _compared(
        f"HelmRelease/{name}",
        _status_view(parity.flux.releases[name], parity.flux),
        _status_view(parity.lockstep.releases[name], parity.lockstep),
    )


def _secret_view(secret: KubeObject, run: Run) -> dict[str, Any]:
    """A storage Secret as both engines should write it: its manifest parsed, without the
    labels Flux's post-renderer adds to it (see the module docstring)."""
    labels = dict(secret["metadata"].get("labels") or {})
    release = _decoded(secret)
    info = release["info"]
    documents = [doc for doc in yaml.safe_load_all(release.get("manifest", "")) if doc]
    for document in documents:
        metadata = document["metadata"]
        for label in ORIGIN_LABELS:
            (metadata.get("labels") or {}).pop(label, None)
        if metadata.get("labels") == {}:
            del metadata["labels"]
    view = {
        "type": secret.get("type"),
        "labels": {key: value for key, value in labels.items() if key != "modifiedAt"},
        "label keys": sorted(labels),
        "record keys": sorted(release),
        "info keys": sorted(info),
        "name": release["name"],
        "namespace": release["namespace"],
        "version": release["version"],
        "status": info["status"],
        "description": info["description"],
        "first is last deployed": info["first_deployed"] == info["last_deployed"],
        "config": release.get("config"),
        "chart metadata": release["chart"]["metadata"],
        "chart keys": sorted(release["chart"]),
        "apply_method": release.get("apply_method"),
        "manifest": documents,
    }
    return _masked(view, run)


def test_storage_secrets_match_flux(parity: Parity) -> None:
    assert sorted(parity.lockstep.secrets) == sorted(parity.flux.secrets)
    for name in sorted(parity.flux.secrets):
        flux = _secret_view(parity.flux.secrets[name], parity.flux)
        lockstep = _secret_view(parity.lockstep.secrets[name], parity.lockstep)
        if name.startswith("sh.helm.release.v1.rejected."):
            # The reason of the failure is each engine's own (see the module docstring).
            for view in (flux, lockstep):
                assert view["description"].startswith('Release "rejected" failed: '), view
                del view["description"]
        _compared(name, flux, lockstep)


def test_stored_manifest_carries_flux_labels_only_in_flux(parity: Parity) -> None:
    """Flux's post-renderer writes its origin labels into the stored manifest; lockstep
    stores the chart's own rendering and labels the objects as it applies them."""
    for run, labelled in ((parity.flux, True), (parity.lockstep, False)):
        for name, secret in run.secrets.items():
            manifest = _decoded(secret)["manifest"]
            assert all((label in manifest) is labelled for label in ORIGIN_LABELS), name


def test_hooks_are_post_rendered_as_flux_does(parity: Parity) -> None:
    """By default Flux's helm-controller post-renders the hooks with the objects; so
    does lockstep: the stored hook carries the patch and stays a hook of its event."""
    for run in (parity.flux, parity.lockstep):
        record = _decoded(run.secrets["sh.helm.release.v1.hooked.v1"])
        assert [(hook["name"], hook["events"]) for hook in record["hooks"]] == [
            ("hooked-hook", ["post-install"])
        ]
        hook = yaml.safe_load(record["hooks"][0]["manifest"])
        assert hook["metadata"]["labels"]["patched"] == "yes", run.namespace
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "post-install"
        assert "postrenderer.helm.sh/postrender-filename" not in hook["metadata"]["annotations"]


@pytest.mark.parametrize("name", STORED)
def test_config_digests_match_flux(parity: Parity, name: str) -> None:
    """Both engines digest the values alike: the same ``lastAttemptedConfigDigest`` and
    ``history[].configDigest``, each that of the stored config as lockstep computes it."""
    flux = parity.flux.releases[name]["status"]
    lockstep = parity.lockstep.releases[name]["status"]
    assert lockstep["lastAttemptedConfigDigest"] == flux["lastAttemptedConfigDigest"]
    assert [entry["configDigest"] for entry in lockstep["history"]] == [
        entry["configDigest"] for entry in flux["history"]
    ]
    for run in (parity.flux, parity.lockstep):
        for entry in run.releases[name]["status"]["history"]:
            secret = run.secrets[f"sh.helm.release.v1.{name}.v{entry['version']}"]
            assert entry["configDigest"] == config_digest(_decoded(secret).get("config") or {})


@pytest.mark.parametrize("name", STORED)
def test_history_digest_and_action_differ_from_flux_as_documented(
    parity: Parity, name: str
) -> None:
    flux = parity.flux.releases[name]["status"]
    lockstep = parity.lockstep.releases[name]["status"]
    for entry in flux["history"] + lockstep["history"]:
        assert HEX_DIGEST.match(entry["digest"]), entry
    # lockstep's digest is that of the stored record, as lockstep encodes it.
    for entry in lockstep["history"]:
        secret = parity.lockstep.secrets[f"sh.helm.release.v1.{name}.v{entry['version']}"]
        stored = decode(base64.b64decode(secret["data"]["release"]))
        assert entry["digest"] == release_digest(stored), entry
    # Flux names the action that made the newest snapshot; lockstep names none.
    assert flux["history"][0]["action"] == flux["lastAttemptedReleaseAction"]
    assert all("action" not in entry for entry in flux["history"][1:] + lockstep["history"])


@pytest.mark.parametrize("name", STORED)
def test_inventory_and_duration_written_only_by_flux(parity: Parity, name: str) -> None:
    flux = parity.flux.releases[name]["status"]
    lockstep = parity.lockstep.releases[name]["status"]
    assert GO_DURATION.match(flux["lastAttemptedReleaseActionDuration"])
    assert _masked(flux["inventory"], parity.flux) == {
        "entries": [{"id": f"<namespace>_{_object_name(name)}__ConfigMap", "v": "v1"}]
    }
    assert not set(FLUX_ONLY_STATUS) & set(lockstep)


def _object_name(release: str) -> str:
    return "Not_A_Name" if release == "rejected" else release


# --- Failures ---------------------------------------------------------------------------


def _failure_view(obj: KubeObject, run: Run) -> dict[str, Any]:
    """The status of a failing release but for what differs by design (see the module
    docstring): the messages, Reconciling and Stalled, and ``observedGeneration``."""
    view = _status_view(obj, run)
    view["conditions"] = {
        kind: (status, reason)
        for kind, (status, reason, _message) in view["conditions"].items()
        if kind not in ("Reconciling", "Stalled")
    }
    del view["observedGeneration"]
    return view


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "failing",
            (
                "Helm install failed for release <namespace>/failing with chart broken@0.1.0: ",
                "execution error at (broken/templates/fail.yaml:1:3): this chart never installs",
            ),
        ),
        (
            "rejected",
            (
                "Helm install failed for release <namespace>/rejected with chart rejected@0.1.0: ",
                'ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value: "Not_A_Name"',
            ),
        ),
        (
            "missing-version",
            ("HelmChart '<namespace>/<namespace>-missing-version' is not ready: ", "'9.x'"),
        ),
    ],
)
def test_failure_matches_flux(parity: Parity, name: str, said: tuple[str, ...]) -> None:
    flux = _failure_view(parity.flux.releases[name], parity.flux)
    lockstep = _failure_view(parity.lockstep.releases[name], parity.lockstep)
    if name == "failing":
        # Counted at every attempt, and each engine retries at its own pace.
        for view in (flux, lockstep):
            assert view.pop("failures") >= 1, view
    _compared(f"HelmRelease/{name}", flux, lockstep)
    for run in (parity.flux, parity.lockstep):
        conditions = _conditions(run.releases[name], run)
        messages = {conditions[kind][2] for kind in ("Ready", "Released") if kind in conditions}
        # Ready repeats Released, and tells what matters.
        assert len(messages) == 1, conditions
        message = messages.pop()
        assert all(part in message for part in said), message


def test_failure_deviations_are_as_documented(parity: Parity) -> None:
    def seen(run: Run, name: str) -> tuple[dict[str, tuple[str, str, str]], int]:
        obj = run.releases[name]
        return _conditions(obj, run), obj["status"]["observedGeneration"]

    flux, flux_generation = seen(parity.flux, "failing")
    lockstep, lockstep_generation = seen(parity.lockstep, "failing")
    assert (flux_generation, lockstep_generation) == (-1, 1)
    assert flux["Reconciling"][:2] == ("True", "Progressing")
    assert lockstep["Reconciling"][:2] == ("True", "ProgressingWithRetry")

    flux, _ = seen(parity.flux, "rejected")
    lockstep, _ = seen(parity.lockstep, "rejected")
    assert flux["Stalled"] == ("True", "RetriesExceeded", "Failed to install after 2 attempt(s)")
    assert lockstep["Stalled"] == ("True", "InstallFailed", lockstep["Ready"][2])

    flux, flux_generation = seen(parity.flux, "missing-version")
    lockstep, lockstep_generation = seen(parity.lockstep, "missing-version")
    assert flux["Ready"][2].startswith("HelmChart '<namespace>/")
    assert lockstep["Ready"][2].startswith("HelmRelease <namespace>/missing-version: HelmChart '")
    assert (flux_generation, lockstep_generation) == (-1, 1)
    assert flux["Reconciling"] == ("True", "Progressing", "Fulfilling prerequisites")
    assert lockstep["Reconciling"][:2] == ("True", "ProgressingWithRetry")
