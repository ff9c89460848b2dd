"""The resident Helm rendering service: charts rendered, packaged and inspected by Helm's
own SDK in long-running Go processes, for the Helm release reconciler and for the
HelmChart artifacts of the source controller.

Why Go over Helm's SDK rather than Python: what users' charts depend on is Helm's own
behaviour, down to its quirks: its template engine with sprig and Helm's functions
(``include``, ``tpl``, ``required``, ``lookup``), the coalescing of values with the
chart's and its subcharts' (conditions, tags, import-values, globals), validation
against ``values.schema.json``, the ``kubeVersion`` constraint, the order of the
release manifest and of the hooks. Only Helm's code gives all of them exactly. The
Python bindings of Helm's SDK (helm-python-sdk, over a C library) lack the options
lockstep needs (post-renderers, CRD and hook handling), and running the helm command
per render costs a process start each time; a resident process answers in
milliseconds, as the Kustomize build service does (:mod:`lockstep.render.kustomizer`).
Helm only renders here: the objects are applied by lockstep's own apply engine, so
drift, health and diff work as for a Kustomization, and the release is stored in
Helm's own Secret format from what a render returns (:class:`Rendered`).

The program is the Go module in ``gomod/helmrender`` (``helm.sh/helm/v4`` at the
version the helm command of the tests pins, sharing its module download), built once
from its pinned ``go.sum`` and cached (:mod:`lockstep.gobuild`); ``make install`` and
``lockstep run`` build it ahead. :class:`HelmRenderer` is a
:class:`~lockstep.render.resident.ResidentPool` of its processes, with four verbs:

- :meth:`HelmRenderer.render`: the release manifest, hooks, CRDs, notes and chart
  record as ``helm install`` or ``helm upgrade`` would store them (not as ``helm
  template`` prints them: CRDs stay out of the manifest);
- :meth:`HelmRenderer.package`: a chart saved as ``helm package`` saves it, with its
  values.yaml replaced, dependency archives added under ``charts/`` and its version
  set (what a HelmChart artifact holds);
- :meth:`HelmRenderer.inspect`: the metadata of Chart.yaml and the vendored
  dependencies, to decide which dependencies to fetch;
- :meth:`HelmRenderer.sort`: a release's files, once post-rendered, sorted again into
  its manifest and hooks, as Helm does after its post-render step.

:func:`manifest_objects` reads a release manifest into objects with the bounds and
checks of every manifest the engine reads (:mod:`lockstep.render.documents`), naming the
template of a document it refuses.

Helm's refusals (a template error naming the template and line, a schema violation
naming the value, a bad archive) raise :class:`HelmRenderError` with Helm's message, put
on one line and cut to :data:`MAX_MESSAGE_CHARS` (a template that includes itself makes
Helm chain a thousand errors into one); a request past the memory or CPU limit of
:func:`~lockstep.render.process.build_limits`, or answering more than the pool reads,
raises one too, saying which limit. A service that cannot start or dies raises
:class:`HelmServiceFailed`; a request past its deadline
:class:`~lockstep.render.resident.BuildDeadline`, as for Kustomize builds.

:func:`shared_helm_renderer` is the one pool of the engine (one process per core, at
most four, bounded by :func:`lockstep.render.process.build_limits`). Thread-safe.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.gobuild import built_program
from lockstep.render.documents import load_documents
from lockstep.render.process import BuildLimits, LimitExceeded, build_limits
from lockstep.render.resident import ResidentPool, Service

PROGRAM_MODULE = Path(__file__).parent / "gomod" / "helmrender"
PROGRAM_NAME = "helmrender"
WHAT = "the Helm rendering service"
MAX_PROCESSES = 4

MAX_MESSAGE_CHARS = 1000
"""The longest message of a refusal: its beginning names the template and line, its end
the cause; what lies between is cut."""

DEFAULT_DEADLINE_SECONDS = 120.0
"""How long a request may take when its caller gives no deadline: a render of a large
chart takes a second; two minutes stops a runaway long before it matters."""


class HelmRenderError(Exception):
    """Helm refused the chart or the values; the message is Helm's. ``chart``: the
    chart's ``name@version`` when it loaded, which Helm's install and upgrade failures
    name."""

    def __init__(self, message: str, *, chart: str | None = None) -> None:
        super().__init__(message)
        self.chart = chart

    @property
    def message(self) -> str:
        return str(self)


class HelmServiceFailed(HelmRenderError):
    """The rendering service could not start, or ended without an answer: not the
    chart's fault, so another try may succeed."""


SERVICE = Service(what=WHAT, task="render", failed=HelmServiceFailed)


@dataclass(frozen=True)
class ReleaseContext:
    """The release a chart is rendered for: ``.Release`` of its templates."""

    name: str
    namespace: str
    revision: int = 1
    upgrade: bool = False
    """``.Release.IsUpgrade``; ``.Release.IsInstall`` is its opposite, as in Helm."""


@dataclass(frozen=True)
class RenderOptions:
    """What a render knows of the cluster: ``.Capabilities`` and ``lookup``."""

    kube_version: str | None = None
    """``.Capabilities.KubeVersion`` (``v1.37.0``), checked against the chart's
    ``kubeVersion``; ``None``: Helm's default, as ``helm template``."""

    api_versions: tuple[str, ...] | None = None
    """``.Capabilities.APIVersions`` (``apps/v1``, ``apps/v1/Deployment``), the whole
    set, as a cluster's discovery gives it to ``helm install``; ``None``: Helm's
    default set, as ``helm template``."""

    kubeconfig: str | None = field(default=None, repr=False)
    """The cluster ``lookup`` reads, as ``helm install`` does: a self-contained kubeconfig
    document (:meth:`lockstep.kube.KubeClient.self_contained_kubeconfig`), handed over
    as text, never written to disk; ``None``: ``lookup`` finds nothing, as in ``helm
    template``."""

    skip_schema_validation: bool = False
    """Render without checking the values against the charts' ``values.schema.json``
    (``helm install --skip-schema-validation``)."""


@dataclass(frozen=True)
class ReusedRelease:
    """The deployed revision whose values an upgrade keeps (``helm upgrade
    --reuse-values``, Flux's ``upgrade.preserveValues``): its chart as the release record
    stores it, and its user values. The user's values go over these, and the chart's
    values.yaml is replaced by the revision's chart values with its user values, as
    Helm does."""

    chart: Mapping[str, Any]
    config: Mapping[str, Any]


def default_render_options() -> RenderOptions:
    """Helm's default capabilities, ``lookup`` finding nothing."""
    return RenderOptions()


@dataclass(frozen=True)
class Hook:
    """One hook of the release, as Helm stores it (``release.Hook``)."""

    name: str
    kind: str
    path: str
    """The template it came from, as ``chart/templates/job.yaml``."""
    manifest: str
    events: tuple[str, ...]
    """``pre-install``, ``post-upgrade``...: the events it runs on."""
    weight: int
    delete_policies: tuple[str, ...]
    output_log_policies: tuple[str, ...]


@dataclass(frozen=True)
class ChartCRD:
    """A file of ``crds/`` of the chart or an enabled subchart."""

    name: str
    """Its path from the top chart, as ``chart/crds/widgets.yaml``."""
    content: str


@dataclass(frozen=True)
class Rendered:
    """A chart rendered for a release: what Helm stores in the release record."""

    manifest: str
    """The objects that are not hooks, as ``release.manifest``: ``---\\n# Source:
    chart/templates/x.yaml\\n...`` in Helm's install order."""
    hooks: tuple[Hook, ...]
    """In the release's order (by kind); :meth:`hooks_on` gives the order Helm runs them."""
    crds: tuple[ChartCRD, ...]
    notes: str
    """The chart's own NOTES.txt, rendered (not its subcharts')."""
    chart: dict[str, Any]
    """The chart as Helm serializes it into the release record."""
    config: dict[str, Any]
    """The user's values, as ``release.config``."""
    chart_name: str
    chart_version: str
    app_version: str

    def hooks_on(self, event: str) -> tuple[Hook, ...]:
        """The hooks of ``event`` in the order Helm runs them: by weight, then name, the
        release's order kept between equals."""
        running = [hook for hook in self.hooks if event in hook.events]
        return tuple(sorted(running, key=lambda hook: (hook.weight, hook.name)))


@dataclass(frozen=True)
class Packaged:
    """A chart archive saved by Helm."""

    path: Path
    """``OUT/NAME-VERSION.tgz``."""
    name: str
    version: str


@dataclass(frozen=True)
class ChartDependency:
    """A dependency as Chart.yaml lists it."""

    name: str
    version: str
    repository: str
    condition: str
    alias: str


@dataclass(frozen=True)
class ChartInfo:
    """The metadata of a chart's Chart.yaml, and the charts vendored under ``charts/``."""

    name: str
    version: str
    app_version: str
    type: str
    kube_version: str
    dependencies: tuple[ChartDependency, ...]
    vendored: tuple[str, ...]
    """The names of the charts under ``charts/``."""


def helm_render_program() -> Path:
    """The built program, built first when not cached (raises
    :class:`lockstep.gobuild.GoBuildError`)."""
    return built_program(PROGRAM_MODULE, PROGRAM_NAME, WHAT)


class HelmRenderer(ResidentPool):
    """A pool of rendering processes; see the module docstring."""

    def __init__(self, program: Path, processes: int, limits: BuildLimits | None = None) -> None:
        super().__init__(program, processes, limits, SERVICE)

    def render(
        self,
        chart: Path,
        values: Mapping[str, Any],
        release: ReleaseContext,
        options: RenderOptions | None = None,
        *,
        deadline: float | None = None,
        reuse: ReusedRelease | None = None,
        set_values: Sequence[str] = (),
        set_strings: Sequence[str] = (),
    ) -> Rendered:
        """``chart`` (an archive or a folder) rendered with the user's ``values``
        (already merged) for ``release``, before ``deadline`` (a :func:`time.monotonic`
        instant; :data:`DEFAULT_DEADLINE_SECONDS` from now by default); with ``reuse``,
        over the values of that revision (``config`` of the result: the values as
        merged). ``set_values`` and ``set_strings`` go over ``values`` as ``helm
        template --set`` and ``--set-string`` put them (``a.b=1``, ``list[0]=x``)."""
        options = options or default_render_options()
        request: dict[str, Any] = {
            "op": "render",
            "chart": str(chart),
            "values": dict(values),
            "release": {
                "name": release.name,
                "namespace": release.namespace,
                "revision": release.revision,
                "isInstall": not release.upgrade,
                "isUpgrade": release.upgrade,
            },
            "kubeVersion": options.kube_version or "",
            "skipSchemaValidation": options.skip_schema_validation,
            "apiVersions": list(options.api_versions) if options.api_versions is not None else None,
            "kubeconfig": options.kubeconfig or "",
            "reuse": (
                {"chart": dict(reuse.chart), "config": dict(reuse.config)} if reuse else None
            ),
            "set": list(set_values),
            "setString": list(set_strings),
        }
        answer = self._answer(request, deadline)
        return Rendered(
            manifest=answer["manifest"],
            hooks=tuple(_hook(hook) for hook in answer["hooks"]),
            crds=tuple(ChartCRD(crd["name"], crd["content"]) for crd in answer["crds"]),
            notes=answer["notes"],
            chart=answer["chart"],
            config=answer["config"],
            chart_name=answer["chartName"],
            chart_version=answer["chartVersion"],
            app_version=answer["appVersion"],
        )

    def package(
        self,
        chart: Path,
        out: Path,
        *,
        values: str | None = None,
        dependencies: Sequence[Path] = (),
        version: str | None = None,
        deadline: float | None = None,
    ) -> Packaged:
        """``chart`` (an archive or a folder) saved into the folder ``out`` as ``helm
        package`` saves it; ``values``: YAML text that replaces its values.yaml;
        ``dependencies``: chart archives placed under ``charts/``, each in place of a
        vendored chart of the same name; ``version``: the chart's version from now on
        (``helm package --version``)."""
        request = {
            "op": "package",
            "chart": str(chart),
            "values": values,
            "dependencies": [str(path) for path in dependencies],
            "version": version or "",
            "out": str(out),
        }
        answer = self._answer(request, deadline)
        return Packaged(Path(answer["path"]), answer["name"], answer["version"])

    def inspect(self, chart: Path, *, deadline: float | None = None) -> ChartInfo:
        """The Chart.yaml metadata of ``chart`` (an archive or a folder) and the charts
        it vendors."""
        answer = self._answer({"op": "inspect", "chart": str(chart)}, deadline)
        return ChartInfo(
            name=answer["name"],
            version=answer["version"],
            app_version=answer["appVersion"],
            type=answer["type"],
            kube_version=answer["kubeVersion"],
            dependencies=tuple(
                ChartDependency(
                    name=wanted["name"],
                    version=wanted["version"],
                    repository=wanted["repository"],
                    condition=wanted["condition"],
                    alias=wanted["alias"],
                )
                for wanted in answer["dependencies"]
            ),
            vendored=tuple(answer["vendored"]),
        )

    def sort(
        self, files: Mapping[str, str], *, deadline: float | None = None
    ) -> tuple[str, tuple[Hook, ...]]:
        """The release manifest and hooks of ``files`` (template path → YAML), sorted as
        Helm sorts the files a post-renderer gave back: hooks told by their annotations,
        the other objects in install order."""
        answer = self._answer({"op": "sort", "files": dict(files)}, deadline)
        return answer["manifest"], tuple(_hook(hook) for hook in answer["hooks"])

    def _answer(self, request: Mapping[str, Any], deadline: float | None) -> dict[str, Any]:
        if deadline is None:
            deadline = time.monotonic() + DEFAULT_DEADLINE_SECONDS
        try:
            answer = self.ask(request, deadline)
        except LimitExceeded as error:
            raise HelmRenderError(f"Helm {error}") from None
        if "error" in answer:
            name, version = answer.get("chartName"), answer.get("chartVersion")
            chart = f"{name}@{version}" if name else None
            raise HelmRenderError(one_line(str(answer["error"])), chart=chart)
        return answer


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base`` as Helm merges values files: maps merged key by key, any
    other value replaced."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def one_line(message: str) -> str:
    """Helm's ``message`` on one line of at most :data:`MAX_MESSAGE_CHARS`: its
    beginning and its end kept."""
    text = " ".join(message.split())
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    kept = (MAX_MESSAGE_CHARS - 5) // 2
    return f"{text[:kept]} ... {text[-kept:]}"


def _hook(answered: Mapping[str, Any]) -> Hook:
    return Hook(
        name=answered["name"],
        kind=answered["kind"],
        path=answered["path"],
        manifest=answered["manifest"],
        events=tuple(answered["events"]),
        weight=answered["weight"],
        delete_policies=tuple(answered["deletePolicies"]),
        output_log_policies=tuple(answered["outputLogPolicies"]),
    )


SOURCE_MARK = "# Source: "
"""The comment Helm puts at the head of each document of a manifest, naming its template."""


def manifest_objects(manifest: str, what: str = "the release manifest") -> list[dict[str, Any]]:
    """The objects of a release manifest in its order, each document read as every
    manifest is (:func:`~lockstep.render.documents.load_documents`: bounded, without
    YAML's timestamps, ``List`` kinds expanded). Raises
    :class:`~lockstep.render.errors.InvalidManifest` or
    :class:`~lockstep.render.errors.ContentLimitExceeded` naming the document's template
    (``chart/templates/x.yaml:2``, the line counted from its ``# Source:`` comment), or
    ``what`` for a manifest without them (one a post-renderer printed)."""
    objects: list[dict[str, Any]] = []
    for document in _split_sources(manifest):
        source = what
        if document.startswith(SOURCE_MARK):
            source = document[len(SOURCE_MARK) :].split("\n", 1)[0].strip() or what
        objects.extend(entry.obj for entry in load_documents(document, source))
    return objects


def _split_sources(manifest: str) -> list[str]:
    """The documents of a manifest at the separators Helm writes before each ``# Source:``
    comment; a manifest without them is one text."""
    first, *rest = ("\n" + manifest).split("\n---\n" + SOURCE_MARK)
    first = first.removeprefix("\n")
    return ([first] if first.strip() else []) + [SOURCE_MARK + part for part in rest]


_shared: HelmRenderer | None = None
_shared_lock = threading.Lock()


def shared_helm_renderer() -> HelmRenderer:
    """The engine's pool: one process per core, at most :data:`MAX_PROCESSES`, each
    bounded by the engine's :func:`~lockstep.render.process.build_limits`."""
    global _shared
    with _shared_lock:
        if _shared is None:
            processes = min(MAX_PROCESSES, os.cpu_count() or 1)
            _shared = HelmRenderer(helm_render_program(), processes, build_limits())
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    print(helm_render_program())
