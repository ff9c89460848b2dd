"""Secrets never leak: every workflow that handles a secret runs on the real engine with
a marker value of its own, and no marker shows where anyone may look.

The workflows, all in one namespace, each with a distinct marker (tests/ground/markers.py);
the age private key of the decryption Secret is looked for as well:

- SOPS: a Secret encrypted with age in Git, and a ``secretGenerator`` dotenv input
  encrypted likewise, decrypted by a Kustomization (``spec.decryption``);
- ``postBuild.substituteFrom`` a Secret, substituted into a Secret of the repository;
- Git over HTTP basic auth (the password is a marker), from a real ``git http-backend``;
- registry credentials: an OCIRepository and an ImageRepository, each with a
  dockerconfigjson Secret for a registry that wants HTTP basic auth;
- a Receiver's token, with a call signed with it and a call with a wrong signature;
- Helm values from Secrets: a HelmRelease whose ``valuesFrom`` reads a Secret, one key
  as a values document and one through ``targetPath``, both rendered by the chart into
  a Secret of its own; the chart comes from a HelmRepository that wants HTTP basic auth
  (the password is a marker, from the loopback chart repository of
  tests/ground/charts.py);
- failures with secrets involved: a wrong Git password, wrong registry credentials, a
  SOPS file whose MAC and one value were tampered with (lockstep, like Flux, does not
  check the MAC, so a value is tampered with too to make the build fail), a SOPS
  Secret whose decrypted ``data`` is not base64 (the API server refuses it at apply),
  a substitution that misses a variable while another one holds a secret, and a
  substituted password starting with ``!``, which YAML reads as a tag (the parser's
  message quoted it, in the status, the events and the log, until render/substitute.py
  stopped passing it on); a wrong chart repository password, and HelmReleases whose
  values come from Secrets and fail: a ``valuesKey`` the Secret lacks (it holds the
  marker under another key), a chart whose template holding the Secret's value fails on
  ``required``, a Secret's value that breaks the chart's values.schema.json (Helm's
  message for a ``pattern`` quotes the value, in the status, the events, the log and
  ``build``/``diff helmrelease``, until helm/values.py masked what came from Secrets),
  and a Secret's values document with a value starting with ``!`` (the YAML parser's
  message quoted the tag).

Two engines run in turn, the first logging text, the second ``--log-json``, both at
debug level (``lockstep -v run``), each with ``TMPDIR`` in a folder of the test. The
working objects are shared; the failing ones are made anew for each engine, named
after its log format, since an engine logs a failure when it first sees it. Each engine
reconciles every object in full (a reconcile request per object), answers both webhook
calls, and then the scan looks for every marker, as
written, URL-encoded and base64-encoded at any alignment, in: the engine's log; the
namespace's Events; every lockstep object, status included; ``/metrics``; the artifact
store (tarballs decompressed) and the engine's ``TMPDIR``, while it runs and after it
stopped (where the build's private folder, the only place decrypted generator input
is ever written, must be gone); and the output of ``lockstep build kustomization``,
``lockstep diff kustomization``, ``lockstep get all`` and ``lockstep events``, and of
``lockstep build helmrelease`` and ``lockstep diff helmrelease`` while the second engine
serves the chart (``-v`` prints a failure's traceback: a chained error quoting a value
would show); and the Receiver's answers. The derived values are looked for too: the
HMAC the Receiver expects for the forged call would let its sender forge that call.

``build`` and ``diff``, measured against Flux: ``flux diff kustomization`` masks every
Secret value with ``***``, and lockstep's ``diff`` does the same (a value that differs
from the live one is ``*** (changed)``). ``flux build kustomization`` never decrypts:
it prints SOPS-encrypted Secrets with their values replaced by ``**SOPS**`` and other
Secrets as rendered. lockstep's ``build`` renders exactly as the engine does, which
means it decrypts with the Kustomization's keys and substitutes from its Secrets, so it
masks every Secret value with ``***``: stricter than Flux for a Secret that was never
encrypted, and the only safe choice once plaintext exists. ``build helmrelease`` and
``diff helmrelease`` render the chart with the values read from the Secrets, so they mask
the same way. Helm's release storage Secrets (``sh.helm.release.v1.*``) hold the values,
as Helm stores them: Secrets of the cluster are not scanned, only the lockstep objects.

Positive controls keep the scan honest: each marker the cluster must hold (the decrypted
and substituted Secrets, the Secret the chart rendered) is found there by the same scan,
a tarball and a file holding a marker are found in a folder, the drifted Secrets (of a
Kustomization and of the release) show in the diffs as changed, and the artifact store
scanned holds the artifacts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ground.artifacts import condition
from ground.charts import Chart, ChartRepository
from ground.engine import (
    Engine,
    lockstep_command,
    start_engine,
    stop_engine,
    wait_for_deletions,
)
from ground.images import htpasswd_line, push_tags
from ground.markers import Marker, leaks, leaks_in_folder
from ground.wait import eventually
from lockstep.dev.gitserver import BasicCredentials, GitServer, WorkingCopy
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.oci_push import (
    artifact_annotations,
    created_timestamp,
    pack_artifact,
    parse_artifact_reference,
    push_artifact,
)
from lockstep.sources.registry_client import RegistryOptions
from unit.render.test_decryption import FLUX_REGEX, encrypt, new_key

pytestmark = pytest.mark.integration

SOURCE = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io/v1"
IMAGE = "image.toolkit.fluxcd.io/v1"
NOTIFICATION = "notification.toolkit.fluxcd.io/v1"
HELM = "helm.toolkit.fluxcd.io/v2"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"

GIT_USER = "lockstep"
OCI_USER = "oci-bot"
IMAGE_USER = "image-bot"
CHART_USER = "chart-bot"

PURPOSES = (
    "sops",
    "sops-env",
    "sops-broken",
    "sops-data",
    "substitute",
    "substitute-missing",
    "substitute-tagged",
    "git",
    "git-wrong",
    "oci",
    "image",
    "registry-wrong",
    "receiver",
    "drift",
    "helm-values",
    "helm-target",
    "helm-missing",
    "helm-required",
    "helm-schema",
    "helm-tagged",
    "helm-repo",
    "helm-repo-wrong",
    "helm-drift",
)

LOCKSTEP_KINDS = (
    (SOURCE, "GitRepository"),
    (SOURCE, "OCIRepository"),
    (KUSTOMIZE, "Kustomization"),
    (IMAGE, "ImageRepository"),
    (NOTIFICATION, "Receiver"),
    (SOURCE, "HelmRepository"),
    (SOURCE, "HelmChart"),
    (HELM, "HelmRelease"),
)

WORKING_SOURCES = (
    (SOURCE, "GitRepository", "private"),
    (SOURCE, "OCIRepository", "oci"),
    (IMAGE, "ImageRepository", "image"),
    (SOURCE, "HelmRepository", "charts"),
)
FAILING_SOURCES = (
    (SOURCE, "GitRepository", "git-wrong"),
    (SOURCE, "OCIRepository", "oci-wrong"),
    (IMAGE, "ImageRepository", "image-wrong"),
    (SOURCE, "HelmRepository", "charts-wrong"),
)
"""Made anew for each engine, named after its log format: the engine logs a failure
when it first sees it, and the second engine would otherwise find it already known."""
RECEIVER = (NOTIFICATION, "Receiver", "webhook")
WORKING_KUSTOMIZATIONS = ("sops", "substitute")
FAILING_KUSTOMIZATIONS = {
    "sops-broken": "Secret/",
    "sops-data": "Secret/",
    "substitute-missing": "db_user",
    "substitute-tagged": "YAML tag",
}
"""Each failing Kustomization, and what its Ready message must name; made anew for
each engine, like the failing sources."""
APPLY_FAILURES = {"sops-data"}
"""The failing Kustomizations that build, and fail at the apply."""
WORKING_RELEASE = "helm-values"
FAILING_RELEASES = {
    "helm-missing": "no key 'values.yaml'",
    "helm-required": "user.name is required",
    "helm-schema": "does not match pattern",
    "helm-tagged": "not valid YAML",
}
"""Each failing HelmRelease, and what its Ready message must name; made anew for each
engine, like the failing sources."""
LOG_FORMATS = ("text", "json")

FORGED_BODY = json.dumps({"ref": "refs/heads/main", "after": "f" * 40}).encode()
SIGNED_BODY = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


# --- the workflows' files and objects ------------------------------------------------


def repository_files(markers: dict[str, Marker], recipient: str) -> dict[str, str | bytes]:
    """The Git repository: one folder per Kustomization."""
    tampered = encrypt(
        secret_manifest(
            "sops-broken", password=markers["sops-broken"].value, other="an-ordinary-value"
        ),
        "db.yaml",
        recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    ).decode()
    return {
        "sops/db.yaml": encrypt(
            secret_manifest("sops-db", password=markers["sops"].value),
            "db.yaml",
            recipient,
            "--encrypted-regex",
            FLUX_REGEX,
        ).decode(),
        "sops/secret.env": encrypt(f"TOKEN={markers['sops-env'].value}\n", "secret.env", recipient),
        "sops/kustomization.yaml": (
            "resources: [db.yaml]\n"
            "secretGenerator:\n  - name: sops-env\n    envs: [secret.env]\n"
            "generatorOptions: {disableNameSuffixHash: true}\n"
        ),
        "sops-broken/db.yaml": _flipped(
            _flipped(tampered, "mac: ENC[AES256_GCM,data:"), "other: ENC[AES256_GCM,data:"
        ),
        # Plaintext written under data, where the API server wants base64.
        "sops-data/db.yaml": encrypt(
            secret_manifest("sops-data", password=markers["sops-data"].value).replace(
                "stringData:", "data:"
            ),
            "db.yaml",
            recipient,
            "--encrypted-regex",
            FLUX_REGEX,
        ).decode(),
        "substitute/secret.yaml": secret_manifest("substituted", password="${db_password}"),
        "substitute-missing/secret.yaml": secret_manifest(
            "substituted-missing", password="${db_password}", user="${db_user}"
        ),
        "substitute-tagged/secret.yaml": secret_manifest(
            "substituted-tagged", password="${db_password}"
        ),
    }


def secret_manifest(name: str, **values: str) -> str:
    entries = "".join(f"  {key}: {value}\n" for key, value in values.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n{entries}"


def _flipped(text: str, prefix: str) -> str:
    """``text`` with the first character of the ciphertext after ``prefix`` changed."""
    start = text.index(prefix) + len(prefix)
    flipped = "A" if text[start] != "A" else "B"
    return text[:start] + flipped + text[start + 1 :]


RENDERED_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-rendered
stringData:
  password: {{ .Values.password | quote }}
  token: {{ .Values.auth.token | quote }}
{{- if .Values.strict }}
  user: {{ required "user.name is required with strict; set it" .Values.user.name | quote }}
{{- end }}
"""

VAULT_CHART = Chart(
    "vault",
    "1.0.0",
    templates={"secret.yaml": RENDERED_SECRET},
    values={"password": "", "auth": {"token": ""}, "user": {"name": ""}, "strict": False},
    schema={
        "type": "object",
        "properties": {"pin": {"type": "string", "pattern": "^[0-9]{4}$"}},
    },
)
"""The chart of every HelmRelease: a Secret of the password and the token its values
hold; with ``strict`` it wants a user too, and a ``pin`` must be four digits."""


def secret(namespace: str, name: str, data: dict[str, str], kind: str = "Opaque") -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def docker_config(namespace: str, name: str, host: str, entry: dict[str, str]) -> KubeObject:
    config = json.dumps({"auths": {host: entry}})
    return secret(
        namespace, name, {".dockerconfigjson": config}, kind="kubernetes.io/dockerconfigjson"
    )


def basic_auth_entry(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def cluster_secrets(
    namespace: str, markers: dict[str, Marker], agekey: str, registry: str
) -> list[KubeObject]:
    value = {purpose: marker.value for purpose, marker in markers.items()}
    return [
        secret(namespace, "sops-age", {"identity.agekey": agekey}),
        secret(namespace, "git-auth", {"username": GIT_USER, "password": value["git"]}),
        secret(namespace, "git-wrong", {"username": GIT_USER, "password": value["git-wrong"]}),
        secret(namespace, "vars", {"db_password": value["substitute"]}),
        secret(namespace, "vars-missing", {"db_password": value["substitute-missing"]}),
        # A password that starts with '!' reads as a YAML tag once substituted.
        secret(namespace, "vars-tagged", {"db_password": "!" + value["substitute-tagged"]}),
        docker_config(namespace, "oci-auth", registry, basic_auth_entry(OCI_USER, value["oci"])),
        docker_config(
            namespace,
            "image-auth",
            registry,
            {"username": IMAGE_USER, "password": value["image"]},
        ),
        docker_config(
            namespace,
            "registry-wrong",
            registry,
            basic_auth_entry(OCI_USER, value["registry-wrong"]),
        ),
        secret(namespace, "webhook-token", {"token": value["receiver"]}),
        secret(namespace, "chart-auth", {"username": CHART_USER, "password": value["helm-repo"]}),
        secret(
            namespace,
            "chart-auth-wrong",
            {"username": CHART_USER, "password": value["helm-repo-wrong"]},
        ),
        secret(
            namespace,
            "helm-values",
            {"values.yaml": f"password: {value['helm-values']}\n", "token": value["helm-target"]},
        ),
        # The values document under a key the HelmRelease does not name.
        secret(namespace, "helm-missing", {"values.yml": f"password: {value['helm-missing']}\n"}),
        secret(
            namespace, "helm-required", {"values.yaml": f"password: {value['helm-required']}\n"}
        ),
        secret(namespace, "helm-schema", {"pin": value["helm-schema"]}),
        # A values document whose value starts with '!': YAML reads a tag, and the
        # parser's message quotes it.
        secret(namespace, "helm-tagged", {"values.yaml": f"password: !{value['helm-tagged']}\n"}),
    ]


@dataclass(frozen=True)
class Workflows:
    """The lockstep objects of the workflows, in one namespace."""

    namespace: str
    git_url: str
    registry: str
    chart_url: str

    def shared(self) -> list[KubeObject]:
        """The objects that work, reconciled by both engines, and the Receiver."""
        return [
            self._named(SOURCE, "GitRepository", "private", self._git("git-auth")),
            self._named(SOURCE, "OCIRepository", "oci", self._oci("oci-auth")),
            self._named(IMAGE, "ImageRepository", "image", self._image("image-auth")),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "sops",
                self._kustomization("sops", decryption=DECRYPTION),
            ),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "substitute",
                self._kustomization("substitute", postBuild=substitute_from("vars")),
            ),
            self._named(
                NOTIFICATION,
                "Receiver",
                "webhook",
                {
                    "type": "github",
                    "events": ["push"],
                    "secretRef": {"name": "webhook-token"},
                    "resources": [{"kind": "GitRepository", "name": "private"}],
                },
            ),
            self._named(SOURCE, "HelmRepository", "charts", self._charts("chart-auth")),
            self._named(
                HELM,
                "HelmRelease",
                WORKING_RELEASE,
                self._release(
                    values_from("helm-values", "values.yaml"),
                    values_from("helm-values", "token", targetPath="auth.token"),
                ),
            ),
        ]

    def failing(self, log_format: str, token: str) -> list[KubeObject]:
        """The objects that fail, named after the engine's log format, with a reconcile
        request ``token``."""
        objects = [
            self._named(SOURCE, "GitRepository", "git-wrong", self._git("git-wrong")),
            self._named(SOURCE, "OCIRepository", "oci-wrong", self._oci("registry-wrong")),
            self._named(IMAGE, "ImageRepository", "image-wrong", self._image("registry-wrong")),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "sops-broken",
                self._kustomization("sops-broken", decryption=DECRYPTION),
            ),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "sops-data",
                self._kustomization("sops-data", decryption=DECRYPTION),
            ),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "substitute-missing",
                self._kustomization(
                    "substitute-missing", postBuild=substitute_from("vars-missing")
                ),
            ),
            self._named(
                KUSTOMIZE,
                "Kustomization",
                "substitute-tagged",
                self._kustomization("substitute-tagged", postBuild=substitute_from("vars-tagged")),
            ),
            self._named(SOURCE, "HelmRepository", "charts-wrong", self._charts("chart-auth-wrong")),
            self._named(
                HELM,
                "HelmRelease",
                "helm-missing",
                self._release(values_from("helm-missing", "values.yaml")),
            ),
            self._named(
                HELM,
                "HelmRelease",
                "helm-required",
                self._release(values_from("helm-required", "values.yaml"), values={"strict": True}),
            ),
            self._named(
                HELM,
                "HelmRelease",
                "helm-schema",
                self._release(values_from("helm-schema", "pin", targetPath="pin")),
            ),
            self._named(
                HELM,
                "HelmRelease",
                "helm-tagged",
                self._release(values_from("helm-tagged", "values.yaml")),
            ),
        ]
        for obj in objects:
            obj["metadata"]["name"] += f"-{log_format}"
            obj["metadata"]["annotations"] = {REQUESTED_AT: token}
        return objects

    def _named(self, api_version: str, kind: str, name: str, spec: dict[str, Any]) -> KubeObject:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }

    def _git(self, secret_name: str) -> dict[str, Any]:
        return {
            "url": self.git_url,
            "interval": "1h",
            "ref": {"branch": "main"},
            "secretRef": {"name": secret_name},
        }

    def _oci(self, secret_name: str) -> dict[str, Any]:
        return {
            "url": f"oci://{self.registry}/team/manifests",
            "interval": "1h",
            "ref": {"tag": "v1"},
            "insecure": True,
            "secretRef": {"name": secret_name},
        }

    def _image(self, secret_name: str) -> dict[str, Any]:
        return {
            "image": f"{self.registry}/team/app",
            "interval": "1h",
            "secretRef": {"name": secret_name},
        }

    def _charts(self, secret_name: str) -> dict[str, Any]:
        return {"url": self.chart_url, "interval": "1h", "secretRef": {"name": secret_name}}

    def _release(self, *references: dict[str, Any], **spec: Any) -> dict[str, Any]:
        return {
            "interval": "1h",
            "chart": {
                "spec": {
                    "chart": VAULT_CHART.name,
                    "version": VAULT_CHART.version,
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            "valuesFrom": list(references),
            **spec,
        }

    def _kustomization(self, path: str, **spec: Any) -> dict[str, Any]:
        return {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": "private"},
            "path": f"./{path}",
            "prune": True,
            "targetNamespace": self.namespace,
            **spec,
        }


DECRYPTION = {"provider": "sops", "secretRef": {"name": "sops-age"}}


def substitute_from(secret_name: str) -> dict[str, Any]:
    return {"substituteFrom": [{"kind": "Secret", "name": secret_name}]}


def values_from(secret_name: str, key: str, **reference: str) -> dict[str, Any]:
    return {"kind": "Secret", "name": secret_name, "valuesKey": key, **reference}


# --- the test ground ---------------------------------------------------------------


@dataclass
class Exposure:
    """What one engine left where people look."""

    log: str = ""
    metrics: str = ""
    disk_while_running: list[str] = field(default_factory=list)
    disk_after_stop: list[str] = field(default_factory=list)
    build_folders_left: list[str] = field(default_factory=list)
    artifact_tarballs: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """The Ready message of each failing Kustomization."""


@dataclass
class Ground:
    namespace: str
    markers: dict[str, Marker]
    text: Exposure = field(default_factory=Exposure)
    json: Exposure = field(default_factory=Exposure)
    events: str = ""
    objects: str = ""
    live_secrets: dict[str, KubeObject] = field(default_factory=dict)
    commands: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    cli_disk: list[str] = field(default_factory=list)
    webhook_answers: list[tuple[int, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def markers() -> dict[str, Marker]:
    made = {purpose: Marker.new(purpose) for purpose in PURPOSES}
    # Whoever sees the signature the Receiver expects for a body can forge that call.
    expected = hmac.new(made["receiver"].value.encode(), FORGED_BODY, hashlib.sha256).hexdigest()
    made["receiver"] = made["receiver"].deriving(expected)
    return made


@pytest.fixture(scope="module")
def marker_git_server(
    markers: dict[str, Marker], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GitServer]:
    """A Git server of the module's own, whose private repositories want the git marker."""
    server = GitServer(tmp_path_factory.mktemp("git-server"))
    server.credentials = BasicCredentials(GIT_USER, markers["git"].value)
    with server:
        yield server


@pytest.fixture(scope="module")
def marker_registry(
    markers: dict[str, Marker], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OciRegistry]:
    """A registry that answers two users, whose passwords are the oci and image markers."""
    root = tmp_path_factory.mktemp("registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(
        htpasswd_line(BasicAuth(OCI_USER, markers["oci"].value))
        + htpasswd_line(BasicAuth(IMAGE_USER, markers["image"].value))
    )
    with OciRegistry(root / "registry", htpasswd=htpasswd) as registry:
        yield registry


@pytest.fixture(scope="module")
def marker_chart_repository(markers: dict[str, Marker]) -> Iterator[ChartRepository]:
    """A chart repository serving `VAULT_CHART` to the user whose password is the
    helm-repo marker."""
    with ChartRepository((CHART_USER, markers["helm-repo"].value)) as repository:
        repository.add(VAULT_CHART)
        yield repository


def push_manifests(registry: OciRegistry, password: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {colour: blue}\n"
    )
    push_artifact(
        parse_artifact_reference(f"oci://{registry.host}/team/manifests:v1"),
        pack_artifact(folder),
        artifact_annotations(
            "https://example.invalid/infra", "main@sha1:" + "0" * 40, created_timestamp()
        ),
        RegistryOptions(auth=BasicAuth(OCI_USER, password), insecure=True, timeout=30),
    )


@pytest.fixture(scope="module")
async def ground(
    crds_installed: Path,
    kube: KubeClient,
    markers: dict[str, Marker],
    marker_git_server: GitServer,
    marker_registry: OciRegistry,
    marker_chart_repository: ChartRepository,
    tmp_path_factory: pytest.TempPathFactory,
) -> Ground:
    """Every workflow, run by a text-logging engine and then by a JSON-logging one."""
    kubeconfig = crds_installed
    folder = tmp_path_factory.mktemp("leak-scan")
    namespace = f"leak-{secrets.token_hex(4)}"
    key = new_key()
    identity = next(line for line in key.agekey.splitlines() if line.startswith("AGE-SECRET"))
    found = Ground(namespace, {**markers, "age-key": Marker("age-key", identity)})
    repo = marker_git_server.create_repo(f"leak-{secrets.token_hex(3)}.git", private=True)
    work = WorkingCopy.create(folder / "work", origin=repo.path)
    for path, content in repository_files(markers, key.recipient).items():
        work.write(path, content)
    work.commit("workflows with secrets")
    work.push()
    push_manifests(marker_registry, markers["oci"].value, folder / "manifests")
    push_tags(
        marker_registry, "team/app", "1.0.0", auth=BasicAuth(IMAGE_USER, markers["image"].value)
    )

    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for obj in cluster_secrets(namespace, markers, key.agekey, marker_registry.host):
        await kube.apply(obj)
    workflows = Workflows(
        namespace, repo.http_url, marker_registry.host, marker_chart_repository.url
    )
    for obj in workflows.shared():
        await kube.apply(obj)

    engine: Engine | None = None
    namespace_deleted = False
    try:
        engine = await run_engine(kubeconfig, kube, workflows, found, folder, "text")
        await stop_and_scan(engine, found, found.text, folder / "text")
        engine = None

        # The live Secret drifts, so that diff has Secret values to compare and mask.
        drifted = base64.b64encode(markers["drift"].value.encode()).decode()
        await kube.json_patch(
            ObjectRef("v1", "Secret", "sops-db", namespace),
            [{"op": "replace", "path": "/data/password", "value": drifted}],
        )
        await run_commands(
            kubeconfig, found, kustomization_commands(namespace, work.path), folder / "cli-tmp"
        )

        engine = await run_engine(kubeconfig, kube, workflows, found, folder, "json")
        await collect_cluster(kube, found)
        # The chart's Secret drifts, so that the release's diff has values to mask;
        # build and diff read the chart from the running engine's artifact server.
        drifted = base64.b64encode(markers["helm-drift"].value.encode()).decode()
        await kube.json_patch(
            ObjectRef("v1", "Secret", f"{WORKING_RELEASE}-rendered", namespace),
            [{"op": "replace", "path": "/data/password", "value": drifted}],
        )
        await run_commands(kubeconfig, found, helm_commands(namespace), folder / "cli-helm-tmp")
        await kube.delete(ObjectRef("v1", "Namespace", namespace))
        namespace_deleted = True
        await asyncio.to_thread(wait_for_deletions, kubeconfig, engine)
        await stop_and_scan(engine, found, found.json, folder / "json")
        engine = None
    finally:
        if not namespace_deleted:
            await kube.delete(ObjectRef("v1", "Namespace", namespace))
        if engine is not None:
            stop_engine(engine)
    return found


async def run_engine(
    kubeconfig: Path,
    kube: KubeClient,
    workflows: Workflows,
    found: Ground,
    folder: Path,
    log_format: str,
) -> Engine:
    """Start an engine logging in ``log_format``, have it reconcile every object in full
    and answer both webhook calls, and scan what it shows and holds while it runs."""
    exposure = found.text if log_format == "text" else found.json
    folder = folder / log_format
    tmpdir = folder / "tmp"
    tmpdir.mkdir(parents=True)
    namespace = found.namespace
    sources, builds = f"{log_format}-sources", f"{log_format}-builds"
    await request_reconcile(kube, namespace, sources, (*WORKING_SOURCES, RECEIVER))
    for obj in workflows.failing(log_format, sources):
        await kube.apply(obj)
    extra = ["--log-json"] if log_format == "json" else []
    engine = await asyncio.to_thread(
        start_engine, kubeconfig, folder, *extra, verbose=True, environment={"TMPDIR": str(tmpdir)}
    )
    try:
        await sources_settled(kube, namespace, sources, engine, log_format)
        await request_reconcile(
            kube,
            namespace,
            builds,
            (*kustomizations(log_format), (HELM, "HelmRelease", WORKING_RELEASE)),
        )
        exposure.failures = await kustomizations_settled(kube, namespace, builds, log_format)
        exposure.failures |= await releases_settled(
            kube, namespace, builds, sources, engine, log_format
        )
        found.webhook_answers += await call_webhook(kube, found, engine, sources)
        exposure.metrics = await asyncio.to_thread(read_metrics, engine)
        exposure.disk_while_running = scan_engine_folders(found, engine, tmpdir)
        exposure.artifact_tarballs = len(list(engine.storage_path.rglob("*.tar.gz")))
    except BaseException:
        stop_engine(engine)
        raise
    return engine


def kustomizations(log_format: str) -> tuple[tuple[str, str, str], ...]:
    names = (*WORKING_KUSTOMIZATIONS, *(f"{name}-{log_format}" for name in FAILING_KUSTOMIZATIONS))
    return tuple((KUSTOMIZE, "Kustomization", name) for name in names)


def read_metrics(engine: Engine) -> str:
    with urllib.request.urlopen(f"http://{engine.metrics_addr}/metrics", timeout=5) as answer:
        text: str = answer.read().decode()
    return text


async def stop_and_scan(engine: Engine, found: Ground, exposure: Exposure, folder: Path) -> None:
    await asyncio.to_thread(stop_engine, engine)
    tmpdir = folder / "tmp"
    exposure.disk_after_stop = scan_engine_folders(found, engine, tmpdir)
    exposure.build_folders_left = sorted(
        str(path.relative_to(tmpdir)) for path in tmpdir.rglob("lockstep-render-*")
    )
    exposure.log = engine.log.read_text()


def scan_engine_folders(found: Ground, engine: Engine, tmpdir: Path) -> list[str]:
    markers = found.markers.values()
    return [
        *(f"artifact store: {hit}" for hit in leaks_in_folder(markers, engine.storage_path)),
        *(f"TMPDIR: {hit}" for hit in leaks_in_folder(markers, tmpdir)),
    ]


async def request_reconcile(
    kube: KubeClient, namespace: str, token: str, objects: tuple[tuple[str, str, str], ...]
) -> None:
    for api_version, kind, name in objects:
        await kube.json_patch(
            ObjectRef(api_version, kind, name, namespace),
            [{"op": "add", "path": "/metadata/annotations", "value": {REQUESTED_AT: token}}],
        )


async def handled(
    kube: KubeClient, namespace: str, token: str, api_version: str, kind: str, name: str, ready: str
) -> KubeObject:
    """The object once the reconcile that handled ``token`` ended with Ready ``ready``."""
    return await eventually(
        lambda: kube.get(ObjectRef(api_version, kind, name, namespace)),
        lambda o: (
            (o.get("status") or {}).get("lastHandledReconcileAt") == token
            and condition(o, "Ready").startswith(ready)
        ),
        within=60,
        what=f"{kind} {name} reconciled for {token} with Ready={ready}",
    )


async def sources_settled(
    kube: KubeClient, namespace: str, token: str, engine: Engine, log_format: str
) -> None:
    for api_version, kind, name in WORKING_SOURCES:
        obj = await handled(kube, namespace, token, api_version, kind, name, "True")
        artifact = (obj.get("status") or {}).get("artifact")
        if artifact is not None:
            assert engine.storage_addr in artifact["url"], f"{kind} {name} not fetched again"
    for api_version, kind, name in FAILING_SOURCES:
        await handled(kube, namespace, token, api_version, kind, f"{name}-{log_format}", "False")


async def kustomizations_settled(
    kube: KubeClient, namespace: str, token: str, log_format: str
) -> dict[str, str]:
    """The Ready message of each failing Kustomization, by the name of its folder."""
    for name in WORKING_KUSTOMIZATIONS:
        await handled(kube, namespace, token, KUSTOMIZE, "Kustomization", name, "True")
    failures = {}
    for name in FAILING_KUSTOMIZATIONS:
        failed = await handled(
            kube, namespace, token, KUSTOMIZE, "Kustomization", f"{name}-{log_format}", "False"
        )
        failures[name] = condition(failed, "Ready")
    return failures


async def releases_settled(
    kube: KubeClient,
    namespace: str,
    token: str,
    failing_token: str,
    engine: Engine,
    log_format: str,
) -> dict[str, str]:
    """The Ready message of each failing HelmRelease, by its name without the log format,
    once the working one was released from a chart this engine stored."""
    await handled(kube, namespace, token, HELM, "HelmRelease", WORKING_RELEASE, "True")
    chart = await kube.get(
        ObjectRef(SOURCE, "HelmChart", f"{namespace}-{WORKING_RELEASE}", namespace)
    )
    assert engine.storage_addr in chart["status"]["artifact"]["url"], "the chart not stored again"
    failures = {}
    for name in FAILING_RELEASES:
        release = f"{name}-{log_format}"
        await handled(kube, namespace, failing_token, HELM, "HelmRelease", release, "False")
        # Its chart may still be on its way (stored anew in this engine): the failure of
        # the release itself comes once it is there.
        failed = await eventually(
            partial(kube.get, ObjectRef(HELM, "HelmRelease", release, namespace)),
            lambda o: "is not ready" not in condition(o, "Ready"),
            what=f"HelmRelease {release} failing on its own",
        )
        failures[name] = condition(failed, "Ready")
    return failures


async def call_webhook(
    kube: KubeClient, found: Ground, engine: Engine, token: str
) -> list[tuple[int, str]]:
    """Once this engine has reconciled the Receiver for ``token``: a call signed with the
    Receiver's token, which must trigger a reconcile of the GitRepository, and one signed
    with another token; their answers (status, body)."""
    receiver = await handled(kube, found.namespace, token, *RECEIVER, "True")
    url = f"http://{engine.receiver_addr}{receiver['status']['webhookPath']}"
    answers = [
        await post_push(url, SIGNED_BODY, found.markers["receiver"].value.encode()),
        await post_push(url, FORGED_BODY, b"lockstep-not-the-token"),
    ]
    source = ObjectRef(SOURCE, "GitRepository", "private", found.namespace)
    await eventually(
        lambda: kube.get(source),
        lambda o: (
            (o.get("status") or {}).get("lastHandledReconcileAt")
            == o["metadata"].get("annotations", {}).get(REQUESTED_AT)
            and not str(o["metadata"]["annotations"][REQUESTED_AT]).endswith("-sources")
        ),
        within=30,
        what="the webhook's reconcile of GitRepository private handled",
    )
    return answers


async def post_push(url: str, body: bytes, token: bytes) -> tuple[int, str]:
    signature = hmac.new(token, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as answer,
    ):
        return answer.status, await answer.text()


def kustomization_commands(namespace: str, work: Path) -> dict[str, list[str]]:
    """``build`` and ``diff`` of every Kustomization, ``get all`` and ``events``, by title."""
    # Each Kustomization's folder is named after it; the failing ones of the first engine.
    names = {name: name for name in WORKING_KUSTOMIZATIONS}
    names.update({name: f"{name}-text" for name in FAILING_KUSTOMIZATIONS})
    commands = {
        f"{verb} {folder}": [
            *("-v", verb, "kustomization", name, "-n", namespace),
            *("--path", str(work / folder)),
        ]
        for verb in ("build", "diff")
        for folder, name in names.items()
    }
    commands["get all"] = ["-v", "get", "all", "-n", namespace, "-o", "yaml"]
    commands["events"] = ["-v", "events", "-n", namespace]
    return commands


def helm_commands(namespace: str) -> dict[str, list[str]]:
    """``build`` and ``diff`` of every HelmRelease (the failing ones of the second engine),
    by title."""
    names = {WORKING_RELEASE: WORKING_RELEASE}
    names.update({name: f"{name}-json" for name in FAILING_RELEASES})
    return {
        f"{verb} helmrelease {title}": ["-v", verb, "helmrelease", name, "-n", namespace]
        for verb in ("build", "diff")
        for title, name in names.items()
    }


async def run_commands(
    kubeconfig: Path, found: Ground, commands: dict[str, list[str]], tmpdir: Path
) -> None:
    """``commands`` run at their most verbose, with ``TMPDIR`` in a folder scanned
    afterwards; their results join ``found.commands`` by title."""
    await asyncio.to_thread(tmpdir.mkdir)
    environment = {**os.environ, "TMPDIR": str(tmpdir)}

    async def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            lockstep_command(kubeconfig, *args),
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
        )

    results = await asyncio.gather(*(run(args) for args in commands.values()))
    found.commands.update(zip(commands, results, strict=True))
    found.cli_disk += leaks_in_folder(found.markers.values(), tmpdir)


async def collect_cluster(kube: KubeClient, found: Ground) -> None:
    namespace = found.namespace
    events = await kube.list("v1", "Event", namespace=namespace)
    found.events = json.dumps(events)
    objects = [
        obj
        for api_version, kind in LOCKSTEP_KINDS
        for obj in await kube.list(api_version, kind, namespace=namespace)
    ]
    found.objects = json.dumps(objects)
    for name in ("sops-db", "sops-env", "substituted", f"{WORKING_RELEASE}-rendered"):
        found.live_secrets[name] = await kube.get(ObjectRef("v1", "Secret", name, namespace))


# --- the tests ---------------------------------------------------------------------


def test_the_workflows_ran_and_their_secrets_reached_the_cluster(ground: Ground) -> None:
    """The positive control: where a marker must be, the scan finds it."""
    assert [status for status, _ in ground.webhook_answers] == [200, 401, 200, 401]
    expected = {"sops-db": "sops", "sops-env": "sops-env", "substituted": "substitute"}
    rendered = f"{WORKING_RELEASE}-rendered"
    for name, purpose in [*expected.items(), (rendered, "helm-values"), (rendered, "helm-target")]:
        hits = leaks([ground.markers[purpose]], json.dumps(ground.live_secrets[name]))
        assert hits, f"Secret {name} does not hold the {purpose} marker"
    assert ground.text.artifact_tarballs > 0
    assert ground.json.artifact_tarballs > 0


def test_the_folder_scan_finds_a_marker_in_a_file_and_in_a_tarball(
    ground: Ground, tmp_path: Path
) -> None:
    marker = ground.markers["sops"]
    (tmp_path / "plain.txt").write_text(f"password={marker.value}\n")
    (tmp_path / "inner.env").write_text(f"TOKEN={ground.markers['sops-env'].value}\n")
    with tarfile.open(tmp_path / "artifact.tar.gz", "w:gz") as tarball:
        tarball.add(tmp_path / "inner.env", "inner.env")
    (tmp_path / "inner.env").unlink()

    hits = leaks_in_folder(ground.markers.values(), tmp_path)

    assert "plain.txt: sops (plain)" in hits
    assert "artifact.tar.gz: sops-env (plain)" in hits


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_the_failures_say_what_failed(ground: Ground, log_format: str) -> None:
    exposure = ground.text if log_format == "text" else ground.json
    for name, named in (FAILING_KUSTOMIZATIONS | FAILING_RELEASES).items():
        assert named in exposure.failures[name], exposure.failures[name]


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_the_engine_log_holds_no_secret(ground: Ground, log_format: str) -> None:
    exposure = ground.text if log_format == "text" else ground.json
    assert "DEBUG" in exposure.log or '"level": "debug"' in exposure.log, "not at debug level"
    sources = [name for _, _, name in FAILING_SOURCES]
    for name in (*sources, *FAILING_KUSTOMIZATIONS, *FAILING_RELEASES):
        failing = f"{name}-{log_format}"
        assert failing in exposure.log, f"the log says nothing of {failing}: nothing was scanned"
    assert leaks(ground.markers.values(), exposure.log) == []


def test_webhook_answers_hold_no_secret(ground: Ground) -> None:
    answers = json.dumps(ground.webhook_answers)
    assert leaks(ground.markers.values(), answers) == []


def test_events_hold_no_secret(ground: Ground) -> None:
    assert "substitute-missing" in ground.events
    assert "helm-schema" in ground.events
    assert leaks(ground.markers.values(), ground.events) == []


def test_statuses_hold_no_secret(ground: Ground) -> None:
    assert "AuthenticationFailed" in ground.objects
    for kind in ("HelmRepository", "HelmChart", "HelmRelease"):
        assert f'"kind": "{kind}"' in ground.objects, kind
    assert leaks(ground.markers.values(), ground.objects) == []


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_metrics_hold_no_secret(ground: Ground, log_format: str) -> None:
    exposure = ground.text if log_format == "text" else ground.json
    assert 'controller="kustomization"' in exposure.metrics
    assert 'controller="helmrelease"' in exposure.metrics
    assert leaks(ground.markers.values(), exposure.metrics) == []


def test_build_and_diff_mask_secret_values(ground: Ground) -> None:
    commands = ground.commands
    for name in WORKING_KUSTOMIZATIONS:
        build = commands[f"build {name}"]
        assert build.returncode == 0, build.stderr
        assert "kind: Secret" in build.stdout
        assert "***" in build.stdout
    drifted = commands["diff sops"]
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "Secret" in drifted.stdout
    assert "*** (changed)" in drifted.stdout
    for name in FAILING_KUSTOMIZATIONS.keys() - APPLY_FAILURES:
        assert commands[f"build {name}"].returncode != 0, name
    for title, result in commands.items():
        assert leaks(ground.markers.values(), result.stdout + result.stderr) == [], title
    assert ground.cli_disk == []


def test_build_and_diff_of_a_helm_release_mask_secret_values(ground: Ground) -> None:
    commands = ground.commands
    build = commands[f"build helmrelease {WORKING_RELEASE}"]
    assert build.returncode == 0, build.stderr
    assert f"name: {WORKING_RELEASE}-rendered" in build.stdout
    assert "password: '***'" in build.stdout
    drifted = commands[f"diff helmrelease {WORKING_RELEASE}"]
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert f"Secret/{ground.namespace}/{WORKING_RELEASE}-rendered" in drifted.stdout
    assert "*** (changed)" in drifted.stdout
    for name, named in FAILING_RELEASES.items():
        for verb in ("build", "diff"):
            failed = commands[f"{verb} helmrelease {name}"]
            assert failed.returncode != 0, f"{verb} {name}"
            assert named in " ".join(failed.stderr.split()), failed.stderr
    for title, result in commands.items():
        assert leaks(ground.markers.values(), result.stdout + result.stderr) == [], title
    assert ground.cli_disk == []


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_no_plaintext_on_disk(ground: Ground, log_format: str) -> None:
    exposure = ground.text if log_format == "text" else ground.json
    assert exposure.disk_while_running == []
    assert exposure.disk_after_stop == []
    assert exposure.build_folders_left == [], "a build's private folder outlived the build"
