"""The resident Helm rendering service: charts rendered as helm install and helm upgrade
store them (release manifest in install order, hooks, crds/, the chart's own notes,
subcharts enabled by their condition), Helm's own refusals passed on (a template error
naming template and line, a schema violation naming the value, an unmet kubeVersion, a
bad archive), the capabilities and the release given honoured, and charts packaged
and inspected as helm does. tests/integration/test_helm_render.py compares renders
with the real helm."""

from __future__ import annotations

import base64
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, hook
from lockstep.render.errors import InvalidManifest
from lockstep.render.helm import (
    MAX_MESSAGE_CHARS,
    ChartDependency,
    HelmRenderer,
    HelmRenderError,
    ReleaseContext,
    RenderOptions,
    ReusedRelease,
    helm_render_program,
    manifest_objects,
    one_line,
)
from lockstep.render.process import MIB, BuildLimits
from lockstep.render.resident import BuildDeadline
from unit.render.test_kustomizer import script

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  colour: {{ .Values.colour | quote }}
  replicas: {{ .Values.replicas | quote }}
  install: {{ .Release.IsInstall | quote }}
  upgrade: {{ .Release.IsUpgrade | quote }}
  revision: {{ .Release.Revision | quote }}
  service: {{ .Release.Service }}
  namespace: {{ .Release.Namespace }}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
"""
CAPABILITIES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: capabilities
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}
  gadgets: {{ .Capabilities.APIVersions.Has "example.com/v1/Gadget" | quote }}
  found: {{ lookup "v1" "Namespace" "" "default" | len | quote }}
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
"""
CACHE = Chart(
    "cache",
    "0.2.0",
    templates={
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cache\n"
        "data:\n  size: {{ .Values.size | quote }}\n",
        "NOTES.txt": "the cache's own notes\n",
    },
    values={"size": "1Gi"},
    crds={"gadgets.yaml": CRD.replace("widgets", "gadgets")},
)
SCHEMA = {
    "type": "object",
    "properties": {"replicas": {"type": "integer", "minimum": 1}},
    "required": ["replicas"],
}


def job(name: str, events: list[str], weight: int) -> str:
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}}
    return hook(manifest, events, weight)


def shop(**overrides: Any) -> Chart:
    fields: dict[str, Any] = {
        "templates": {
            "settings.yaml": SETTINGS,
            "web.yaml": DEPLOYMENT,
            "capabilities.yaml": CAPABILITIES,
            "migrate.yaml": job("migrate", ["pre-install", "pre-upgrade"], 5),
            "backup.yaml": job("backup", ["pre-upgrade"], -1),
            "_helpers.tpl": '{{ define "shop.name" }}shop{{ end }}',
            "NOTES.txt": "Thanks for installing {{ .Release.Name }}.\n",
        },
        "values": {"colour": "blue", "replicas": 2, "cache": {"enabled": True}},
        "schema": SCHEMA,
        "crds": {"widgets.yaml": CRD},
        "dependencies": [CACHE],
        "metadata": {
            "appVersion": "1.4.0",
            "dependencies": [
                {
                    "name": "cache",
                    "version": "0.2.0",
                    "repository": "https://charts.example.com",
                    "condition": "cache.enabled",
                }
            ],
        },
    }
    return Chart("shop", "1.0.0", **(fields | overrides))


@pytest.fixture(scope="module")
def renderer() -> Iterator[HelmRenderer]:
    pool = HelmRenderer(helm_render_program(), 2)
    yield pool
    pool.close()


def packaged(chart: Chart, folder: Path) -> Path:
    path = folder / chart.filename
    path.write_bytes(chart.package())
    return path


def soon() -> float:
    return time.monotonic() + 60


INSTALL = ReleaseContext("web", "shop-system")


def test_a_chart_is_rendered_as_helm_install_stores_it(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    rendered = renderer.render(
        packaged(shop(), tmp_path), {"colour": "green"}, INSTALL, deadline=soon()
    )

    assert rendered.manifest.startswith(
        "---\n# Source: shop/charts/cache/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\n"
    )
    assert rendered.manifest.endswith(
        "---\n# Source: shop/templates/web.yaml\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: web-web\nspec:\n  replicas: 2\n\n"
    ), "Deployments come after ConfigMaps, in Helm's install order"
    settings = documents(rendered.manifest)["web-settings"]
    assert settings["data"] == {
        "colour": "green",
        "replicas": "2",
        "install": "true",
        "upgrade": "false",
        "revision": "1",
        "service": "Helm",
        "namespace": "shop-system",
    }
    assert [(hook.name, hook.kind, hook.path) for hook in rendered.hooks] == [
        ("backup", "Job", "shop/templates/backup.yaml"),
        ("migrate", "Job", "shop/templates/migrate.yaml"),
    ]
    assert rendered.hooks[1].events == ("pre-install", "pre-upgrade")
    assert rendered.hooks[1].weight == 5
    assert "kind: Job" not in rendered.manifest, "hooks stay out of the manifest"
    assert [crd.name for crd in rendered.crds] == [
        "shop/crds/widgets.yaml",
        "shop/charts/cache/crds/gadgets.yaml",
    ]
    assert rendered.crds[0].content == CRD
    assert "CustomResourceDefinition" not in rendered.manifest
    assert rendered.notes == "Thanks for installing web.\n", "not the subchart's notes"
    assert (rendered.chart_name, rendered.chart_version, rendered.app_version) == (
        "shop",
        "1.0.0",
        "1.4.0",
    )
    assert rendered.config == {"colour": "green"}
    assert rendered.chart["metadata"]["name"] == "shop"
    assert rendered.chart["values"]["colour"] == "blue", "the chart's own values"
    assert json.loads(bytes_of(rendered.chart["schema"])) == SCHEMA


def test_hooks_run_by_weight_on_their_events(renderer: HelmRenderer, tmp_path: Path) -> None:
    rendered = renderer.render(packaged(shop(), tmp_path), {}, INSTALL, deadline=soon())

    assert [hook.name for hook in rendered.hooks_on("pre-upgrade")] == ["backup", "migrate"]
    assert [hook.name for hook in rendered.hooks_on("pre-install")] == ["migrate"]
    assert rendered.hooks_on("post-delete") == ()


def test_a_subchart_is_left_out_when_its_condition_is_false(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    rendered = renderer.render(
        packaged(shop(), tmp_path), {"cache": {"enabled": False}}, INSTALL, deadline=soon()
    )

    assert "name: cache" not in rendered.manifest
    assert [crd.name for crd in rendered.crds] == ["shop/crds/widgets.yaml"]


def test_a_folder_renders_like_its_archive(renderer: HelmRenderer, tmp_path: Path) -> None:
    folder = shop().write(tmp_path / "folder")
    archive = packaged(shop(), tmp_path)

    from_folder = renderer.render(folder, {}, INSTALL, deadline=soon())
    from_archive = renderer.render(archive, {}, INSTALL, deadline=soon())

    assert from_folder.manifest == from_archive.manifest
    assert from_folder.hooks == from_archive.hooks


def test_an_upgrade_is_rendered_as_helm_upgrade_renders_it(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    upgrade = ReleaseContext("web", "shop-system", revision=3, upgrade=True)

    rendered = renderer.render(packaged(shop(), tmp_path), {}, upgrade, deadline=soon())

    data = documents(rendered.manifest)["web-settings"]["data"]
    assert (data["install"], data["upgrade"], data["revision"]) == ("false", "true", "3")


def test_capabilities_are_those_given(renderer: HelmRenderer, tmp_path: Path) -> None:
    options = RenderOptions(kube_version="v1.37.0", api_versions=("v1", "example.com/v1/Widget"))

    rendered = renderer.render(packaged(shop(), tmp_path), {}, INSTALL, options, deadline=soon())

    data = documents(rendered.manifest)["capabilities"]["data"]
    assert data == {"kube": "v1.37.0", "widgets": "true", "gadgets": "false", "found": "0"}


def test_lookup_without_a_cluster_finds_nothing(renderer: HelmRenderer, tmp_path: Path) -> None:
    rendered = renderer.render(packaged(shop(), tmp_path), {}, INSTALL, deadline=soon())

    assert documents(rendered.manifest)["capabilities"]["data"]["found"] == "0"


def test_a_schema_violation_names_the_value(renderer: HelmRenderer, tmp_path: Path) -> None:
    with pytest.raises(HelmRenderError) as refused:
        renderer.render(packaged(shop(), tmp_path), {"replicas": 0}, INSTALL, deadline=soon())

    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert "/replicas" in str(refused.value)
    assert "minimum" in str(refused.value)


def test_a_schema_violation_renders_when_schema_validation_is_skipped(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    options = RenderOptions(skip_schema_validation=True)

    rendered = renderer.render(
        packaged(shop(), tmp_path), {"replicas": 0}, INSTALL, options, deadline=soon()
    )

    assert "name: web-web" in rendered.manifest


def test_a_template_error_names_the_template_and_line(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\ndata:\n  x: {{ .Values.missing.field }}\n"
    chart = shop(templates={"broken.yaml": broken})

    with pytest.raises(HelmRenderError, match=r"shop/templates/broken\.yaml:4:"):
        renderer.render(packaged(chart, tmp_path), {}, INSTALL, deadline=soon())


def test_an_unmet_kube_version_is_refused(renderer: HelmRenderer, tmp_path: Path) -> None:
    chart = shop(metadata={"kubeVersion": ">=1.99.0"}, dependencies=[])
    options = RenderOptions(kube_version="v1.37.0")

    with pytest.raises(
        HelmRenderError,
        match=r"chart requires kubeVersion: >=1\.99\.0 which is incompatible with Kubernetes v1\.37\.0",
    ):
        renderer.render(packaged(chart, tmp_path), {}, INSTALL, options, deadline=soon())


def test_a_missing_dependency_and_a_library_chart_are_refused(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    missing = shop(dependencies=[])
    library = Chart("tools", "1.0.0", metadata={"type": "library"})

    with pytest.raises(HelmRenderError, match=r"missing in charts/ directory: cache"):
        renderer.render(packaged(missing, tmp_path), {}, INSTALL, deadline=soon())
    with pytest.raises(HelmRenderError, match=r"^library charts are not installable$"):
        renderer.render(packaged(library, tmp_path), {}, INSTALL, deadline=soon())


def test_a_bad_archive_is_refused(renderer: HelmRenderer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")

    with pytest.raises(HelmRenderError, match=r"gzip"):
        renderer.render(bad, {}, INSTALL, deadline=soon())


def test_a_chart_is_packaged_with_new_values_and_an_added_dependency(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    chart = shop(dependencies=[])
    folder = chart.write(tmp_path / "source")
    cache = packaged(CACHE, tmp_path)
    values = "# merged\ncolour: red\nreplicas: 4\ncache:\n  enabled: true\n"
    out = tmp_path / "out"

    saved = renderer.package(folder, out, values=values, dependencies=[cache], deadline=soon())

    assert (saved.path, saved.name, saved.version) == (out / "shop-1.0.0.tgz", "shop", "1.0.0")
    with tarfile.open(saved.path) as archive:
        members = archive.getnames()
        written = archive.extractfile("shop/values.yaml")
        assert written is not None
        assert written.read().decode() == values, "the text whole, comments kept"
    assert "shop/charts/cache/templates/cm.yaml" in members
    rendered = renderer.render(saved.path, {}, INSTALL, deadline=soon())
    assert documents(rendered.manifest)["web-settings"]["data"]["colour"] == "red"
    assert "name: cache" in rendered.manifest


def test_a_chart_with_a_missing_dependency_is_not_packaged(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    folder = shop(dependencies=[]).write(tmp_path)

    with pytest.raises(HelmRenderError, match=r"missing in charts/ directory: cache"):
        renderer.package(folder, tmp_path / "out", deadline=soon())


def test_a_package_takes_the_version_given(renderer: HelmRenderer, tmp_path: Path) -> None:
    folder = shop().write(tmp_path)

    saved = renderer.package(folder, tmp_path / "out", version="1.0.0+4f2a9c1")

    assert saved.path.name == "shop-1.0.0+4f2a9c1.tgz"
    assert renderer.inspect(saved.path).version == "1.0.0+4f2a9c1"
    with pytest.raises(HelmRenderError, match=r"^invalid semantic version$"):
        renderer.package(folder, tmp_path / "out", version="latest")


def test_a_chart_is_inspected(renderer: HelmRenderer, tmp_path: Path) -> None:
    info = renderer.inspect(packaged(shop(), tmp_path), deadline=soon())
    bare = renderer.inspect(shop(dependencies=[]).write(tmp_path), deadline=soon())

    assert (info.name, info.version, info.app_version, info.type, info.kube_version) == (
        "shop",
        "1.0.0",
        "1.4.0",
        "",
        "",
    )
    assert info.dependencies == (
        ChartDependency("cache", "0.2.0", "https://charts.example.com", "cache.enabled", ""),
    )
    assert info.vendored == ("cache",)
    assert bare.vendored == ()


@pytest.mark.parametrize(
    ("template", "limits", "message"),
    [
        (
            '{{ $s := "x" }}{{ range until 40 }}{{ $s = print $s $s }}{{ end }}',
            BuildLimits(memory_bytes=256 * MIB),
            "Helm exceeded the build memory limit of 256 MiB",
        ),
        (
            "{{ range until 20000 }}{{ range until 20000 }}{{ end }}{{ end }}",
            BuildLimits(cpu_seconds=1),
            "Helm exceeded the build CPU limit of 1s",
        ),
    ],
    ids=["memory", "cpu"],
)
def test_a_render_past_a_limit_fails_and_the_next_one_renders(
    tmp_path: Path, template: str, limits: BuildLimits, message: str
) -> None:
    runaway = packaged(Chart("runaway", "1.0.0", templates={"bomb.yaml": template}), tmp_path)
    fine = packaged(shop(), tmp_path)
    pool = HelmRenderer(helm_render_program(), 1, limits)
    try:
        with pytest.raises(HelmRenderError) as exceeded:
            pool.render(runaway, {}, INSTALL, deadline=soon())
        after = pool.render(fine, {}, INSTALL, deadline=soon())
    finally:
        pool.close()

    assert str(exceeded.value) == message
    assert "name: web-web" in after.manifest


def test_a_late_render_raises_the_build_deadline(tmp_path: Path) -> None:
    program = script(tmp_path, "for line in sys.stdin:\n    time.sleep(30)")
    pool = HelmRenderer(program, 1)
    try:
        with pytest.raises(BuildDeadline):
            pool.inspect(tmp_path, deadline=time.monotonic() + 0.3)
    finally:
        pool.close()


def documents(manifest: str) -> dict[str, Any]:
    """The objects of a manifest by name."""
    return {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(manifest) if doc}


def bytes_of(encoded: str) -> bytes:
    return base64.b64decode(encoded)


def test_a_long_refusal_keeps_its_beginning_and_its_end() -> None:
    chain = "error calling include: " * 2000
    message = one_line(f"template: app/templates/loop.yaml:7:8:\n{chain}nested reference name")

    assert len(message) <= MAX_MESSAGE_CHARS
    assert message.startswith("template: app/templates/loop.yaml:7:8: error calling include")
    assert message.endswith("error calling include: nested reference name")
    assert " ... " in message


def test_a_short_refusal_is_put_on_one_line_whole() -> None:
    assert one_line("values don't meet the schema:\n- at '/replicas'") == (
        "values don't meet the schema: - at '/replicas'"
    )


def test_a_manifest_is_read_in_its_order_with_lists_expanded() -> None:
    manifest = (
        "---\n# Source: app/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: a\n  labels: {day: 2024-01-01}\n"
        "---\n# Source: app/templates/list.yaml\napiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
        "  - {apiVersion: v1, kind: Service, metadata: {name: c}}\n"
    )

    objects = manifest_objects(manifest)

    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "a"),
        ("Secret", "b"),
        ("Service", "c"),
    ]
    assert objects[0]["metadata"]["labels"]["day"] == "2024-01-01"
    assert manifest_objects("") == []


def test_a_manifest_document_without_a_kind_names_its_template() -> None:
    manifest = (
        "---\n# Source: app/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: a\n---\n# Source: app/templates/b.yaml\napiVersion: v1\n"
        "metadata:\n  name: b\n"
    )

    with pytest.raises(InvalidManifest, match=r"^app/templates/b\.yaml:2: the object has no kind"):
        manifest_objects(manifest)


def test_a_post_rendered_manifest_is_named_as_the_caller_says() -> None:
    with pytest.raises(InvalidManifest, match=r"^the post-rendered manifest:1: the document"):
        manifest_objects("just words\n", "the post-rendered manifest")


PRESERVED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: preserved
data:
  greeting: {{ .Values.greeting | quote }}
  colour: {{ .Values.colour | quote }}
  size: {{ .Values.size | quote }}
"""


def test_reused_values_go_under_the_new_ones_with_the_old_chart_values(
    renderer: HelmRenderer, tmp_path: Path
) -> None:
    first = Chart("keep", "1.0.0", templates={"preserved.yaml": PRESERVED}, values={"size": "s"})
    second = Chart("keep", "2.0.0", templates={"preserved.yaml": PRESERVED}, values={"size": "l"})
    installed = renderer.render(
        packaged(first, tmp_path),
        {"greeting": "hi", "colour": "blue"},
        INSTALL,
        deadline=soon(),
    )
    upgrade = ReleaseContext("web", "shop-system", revision=2, upgrade=True)

    upgraded = renderer.render(
        packaged(second, tmp_path),
        {"colour": "red"},
        upgrade,
        deadline=soon(),
        reuse=ReusedRelease(installed.chart, installed.config),
    )

    assert upgraded.config == {"greeting": "hi", "colour": "red"}
    assert documents(upgraded.manifest)["preserved"]["data"] == {
        "greeting": "hi",
        "colour": "red",
        "size": "s",
    }
