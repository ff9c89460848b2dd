"""The Helm rendering service against the real helm (the pinned release, built by
:mod:`lockstep.dev.helm`): a render gives the release ``helm install`` would store
(manifest, hooks, chart record, values, notes, compared with ``helm install
--dry-run=client -o json``), what ``helm template --is-upgrade`` prints with the same
capabilities, Helm's own messages for a schema violation and a template error, and
with a kubeconfig ``lookup`` reads the cluster as ``helm template --dry-run=server``
does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, Helm
from lockstep.kube import KubeClient
from lockstep.render.helm import (
    HelmRenderer,
    HelmRenderError,
    Hook,
    ReleaseContext,
    Rendered,
    RenderOptions,
    helm_render_program,
)
from unit.render.test_helm_render import shop

pytestmark = pytest.mark.integration

VALUES = {"colour": "green", "replicas": 3, "cache": {"size": "2Gi"}}
NAMESPACE = "shop-system"


@pytest.fixture(scope="module")
def renderer() -> Iterator[HelmRenderer]:
    pool = HelmRenderer(helm_render_program(), 1)
    yield pool
    pool.close()


@pytest.fixture
def offline_helm(helm_binary: Path, tmp_path: Path) -> Helm:
    """The real helm with no cluster: its kubeconfig does not exist."""
    return Helm(helm_binary, tmp_path / "no-kubeconfig", tmp_path / "helm-home")


def files(chart: Chart, folder: Path, values: dict[str, Any]) -> tuple[Path, Path]:
    """The package of ``chart`` and a values file of ``values``, under ``folder``."""
    package = folder / chart.filename
    package.write_bytes(chart.package())
    values_file = folder / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    return package, values_file


def deadline() -> float:
    return time.monotonic() + 60


def helm_hook(hook: Hook) -> dict[str, Any]:
    """A hook as Helm serializes it into the release record (empty fields left out)."""
    serialized: dict[str, Any] = {
        "name": hook.name,
        "kind": hook.kind,
        "path": hook.path,
        "manifest": hook.manifest,
        "events": list(hook.events),
        "last_run": {"phase": ""},
        "weight": hook.weight,
        "delete_policies": list(hook.delete_policies),
        "output_log_policies": list(hook.output_log_policies),
    }
    return {key: value for key, value in serialized.items() if value not in (0, [])}


def template_output(rendered: Rendered) -> str:
    """What ``helm template`` prints for a release: the manifest, then every hook."""
    hooks = "".join(f"---\n# Source: {hook.path}\n{hook.manifest}\n" for hook in rendered.hooks)
    return rendered.manifest.strip() + "\n" + hooks


def test_a_render_is_the_release_helm_install_stores(
    renderer: HelmRenderer, offline_helm: Helm, tmp_path: Path
) -> None:
    package, values_file = files(shop(), tmp_path, VALUES)
    printed = offline_helm.run(
        "install", "web", str(package), "-n", NAMESPACE, "-f", str(values_file),
        "--dry-run=client", "-o", "json",
    )  # fmt: skip
    release = json.loads(printed)

    rendered = renderer.render(
        package, VALUES, ReleaseContext("web", NAMESPACE), deadline=deadline()
    )

    assert rendered.manifest == release["manifest"]
    assert [helm_hook(hook) for hook in rendered.hooks] == release["hooks"]
    assert rendered.chart == release["chart"]
    assert rendered.config == release["config"]
    assert rendered.notes == release["info"]["notes"]


def test_an_upgrade_prints_as_helm_template_prints_it(
    renderer: HelmRenderer, offline_helm: Helm, tmp_path: Path
) -> None:
    package, values_file = files(shop(), tmp_path, VALUES)
    printed = offline_helm.run(
        "template", "web", str(package), "-n", NAMESPACE, "-f", str(values_file),
        "--is-upgrade", "--kube-version", "v1.37.0", "--api-versions", "example.com/v1/Widget",
    )  # fmt: skip
    options = RenderOptions(kube_version="v1.37.0", api_versions=("example.com/v1/Widget",))

    rendered = renderer.render(
        package,
        VALUES,
        ReleaseContext("web", NAMESPACE, upgrade=True),
        options,
        deadline=deadline(),
    )

    assert template_output(rendered) == printed
    assert 'upgrade: "true"' in printed
    assert 'kube: "v1.37.0"' in printed
    assert 'widgets: "true"' in printed


@pytest.mark.parametrize(
    ("case", "values"),
    [
        ("schema", {"replicas": 0}),
        ("template", {"broken": True}),
    ],
)
def test_helm_s_own_message_is_given(
    renderer: HelmRenderer, offline_helm: Helm, tmp_path: Path, case: str, values: dict[str, Any]
) -> None:
    broken = "{{ if .Values.broken }}{{ .Values.missing.field }}{{ end }}\n"
    chart = shop(templates={**shop().templates, "broken.yaml": broken})
    package, values_file = files(chart, tmp_path, values)
    refused = offline_helm.attempt(
        "template", "web", str(package), "-n", NAMESPACE, "-f", str(values_file)
    )

    with pytest.raises(HelmRenderError) as error:
        renderer.render(package, values, ReleaseContext("web", NAMESPACE), deadline=deadline())

    assert refused.returncode != 0
    # The same words, on the one line every refusal of the engine is.
    helm_says = " ".join(refused.stderr.split("\n\nUse --debug flag")[0].split())
    assert helm_says == f"Error: {error.value}", case


LOOKUP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: copied
data:
  colour: {{ dig "data" "colour" "" (lookup "v1" "ConfigMap" .Release.Namespace "origin") | quote }}
"""


async def test_lookup_reads_the_cluster_of_the_kubeconfig(
    renderer: HelmRenderer,
    helm: Helm,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "origin", "namespace": namespace},
            "data": {"colour": "teal"},
        }
    )
    package, _ = files(Chart("copier", "0.1.0", templates={"cm.yaml": LOOKUP}), tmp_path, {})
    printed = helm.run("template", "web", str(package), "-n", namespace, "--dry-run=server")
    release = ReleaseContext("web", namespace)

    rendered = renderer.render(
        package,
        {},
        release,
        RenderOptions(kubeconfig=kube.self_contained_kubeconfig()),
        deadline=deadline(),
    )
    offline = renderer.render(package, {}, release, deadline=deadline())

    assert 'colour: "teal"' in rendered.manifest
    assert template_output(rendered) == printed
    assert 'colour: ""' in offline.manifest, "without a kubeconfig lookup finds nothing"
