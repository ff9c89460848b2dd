"""lockstep and Flux side by side on W6, Helm releases (``make bench-compare-helm``).

Builds Flux's source-controller and helm-controller from their pinned modules
(:func:`lockstep.dev.flux.ensure_binaries` and :func:`~lockstep.dev.flux.ensure_helm_binaries`,
cached) and, on one fresh control plane with one chart repository, runs
:func:`benchmarks.w6_helm_releases.release_fleet` at each N with each engine, back to
back:

- ``lockstep``: ``lockstep run --concurrent 4``, its default;
- ``flux-default``: the source-controller and helm-controller with ``--concurrent=4``,
  helm-controller's own default, and its other defaults (the kustomize-controller is not
  run: nothing here needs it).

Each run has a fresh namespace and a fresh engine, the other stopped, Flux on the CRDs
``lockstep install --crds`` installs, the same chart server and the same watcher. Both
engines wait for the released objects (``disableWait`` is unset, as W6 leaves it; Flux
waits with kstatus, lockstep with its health checks). A run whose install does not reach
all Ready in time (:func:`timeout_for`, the same for both) is recorded with how many were
Ready and has no no-op pass; the comparison goes on.

``python -m benchmarks.compare_helm --sizes 100 --engines flux-default`` runs a subset.
The full run writes ``benchmarks/results/compare-helm.json`` and ``compare-helm.md``
(the ratios Flux / lockstep per N), a subset the same files under
``benchmarks/results/custom/``; both are rewritten after every run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import fleet
from benchmarks import w6_helm_releases as w6
from benchmarks.comparison import (
    LOCKSTEP,
    Figures,
    cell,
    choices,
    counts,
    first_line,
    heading,
    ratio_cell,
    ready_table,
    report_build,
    shares_of,
    write_results,
)
from benchmarks.flux_engine import FluxEngine, FluxHelmSettings
from benchmarks.ground import CONCURRENT, Ground
from benchmarks.helmchart import CHART_NAME, CHART_VERSION, ChartServer
from benchmarks.run import RESULTS, machine_facts
from lockstep.dev.flux import (
    HELM_CONTROLLER,
    SOURCE_CONTROLLER,
    FluxBinaries,
    ensure_binaries,
    ensure_helm_binaries,
)
from lockstep.dev.toolchain import ToolchainError

NAME = "compare-helm"
SIZES = (100, 500)
FLUX = FluxHelmSettings(
    "flux-default",
    ("--concurrent=4",),
    ("--concurrent=4",),
    "Flux's defaults: helm-controller's own (--concurrent=4, --requeue-dependency=30s, "
    "waiting on), source-controller at the same --concurrent=4 (its own default is 2)",
)
ENGINES = (LOCKSTEP, FLUX.key)
FLUX_WAIT_POLL_SECONDS = 5.0
"""While it waits for a release's objects, helm-controller reads their status every 5 s
(``internal/action/wait.go``), so each release holds one of its workers that long."""
INSTALL_FIGURES = (
    ("seconds_to_all_ready", "all Ready"),
    ("engine_cpu_seconds", "engine CPU"),
    ("peak_rss_mib", "peak RSS"),
    ("apiserver_cpu_seconds", "API server CPU"),
    ("engine_requests_per_release", "engine requests / release"),
    ("apiserver_requests_per_release", "API server requests / release"),
)
NOOP_FIGURES = (
    ("seconds", "pass"),
    ("engine_writes_total", "engine writes"),
    ("rerendered", "releases re-rendered"),
    ("engine_cpu_seconds", "engine CPU"),
    ("engine_requests_per_release", "engine requests / release"),
)
"""What is compared, with its column title: the install, then the no-op pass."""
CELLS = {
    "seconds_to_all_ready": "{:.1f} s",
    "seconds": "{:.1f} s",
    "engine_cpu_seconds": "{:.2f} s",
    "apiserver_cpu_seconds": "{:.1f} s",
    "peak_rss_mib": "{:.0f} MiB",
    "engine_writes_total": "{:.0f}",
    "rerendered": "{:.0f}",
}


@dataclass(frozen=True)
class FluxBuilds:
    """The built controllers the Flux column runs."""

    sources: FluxBinaries
    """The source-controller's module (its kustomize-controller is not run)."""
    helm: FluxBinaries

    def versions(self) -> dict[str, str]:
        return {
            SOURCE_CONTROLLER: self.sources.versions[SOURCE_CONTROLLER],
            HELM_CONTROLLER: self.helm.versions[HELM_CONTROLLER],
        }


def install_figures(run: dict[str, Any]) -> Figures:
    """The compared figures of one install; ``None`` for all of them if it did not complete.

    Peak RSS is the larger of the processes' own peaks (``VmHWM``, added up for Flux's two
    controllers) and the peak of their sum with children, sampled (lockstep's Helm
    service).
    """
    install = run["install"]
    if not install.get("complete"):
        return {key: None for key, _title in INSTALL_FIGURES}
    usage = install["usage"]
    return {
        "seconds_to_all_ready": install["seconds_to_all_ready"],
        "engine_cpu_seconds": usage["engine_cpu_seconds"],
        "peak_rss_mib": max(usage["engine_peak_rss_mib"], usage["engine_tree_peak_rss_mib"]),
        "apiserver_cpu_seconds": usage["control_plane_cpu_seconds"].get("kube-apiserver"),
        "engine_requests_per_release": install["engine_requests_per_release"],
        "apiserver_requests_per_release": install["apiserver_requests_per_release"],
    }


def noop_figures(run: dict[str, Any]) -> Figures:
    """The compared figures of one no-op pass; ``None`` for all of them if there was none.
    A release re-rendered stores a new Helm revision."""
    noop = run.get("noop")
    if not noop:
        return {key: None for key, _title in NOOP_FIGURES}
    return {
        "seconds": noop["seconds"],
        "engine_writes_total": noop["engine_writes_total"],
        "rerendered": noop["release_revisions_after"] - noop["release_revisions_before"],
        "engine_cpu_seconds": noop["engine_cpu_seconds"],
        "engine_requests_per_release": noop["engine_requests_per_release"],
    }


def timeout_for(size: int) -> float:
    """How long the install of ``size`` releases may take, for both engines: W6's own
    timeout, or twice what Flux's workers need at one wait poll a release if longer."""
    return max(fleet.timeout_for(size), 2 * size * FLUX_WAIT_POLL_SECONDS / CONCURRENT)


def engine_command(key: str) -> str:
    return f"lockstep run --concurrent {CONCURRENT}" if key == LOCKSTEP else FLUX.describe()


def engine_origin(key: str) -> str:
    return "lockstep's default" if key == LOCKSTEP else FLUX.origin


def engine_starter(ground: Ground, key: str, builds: FluxBuilds | None) -> w6.StartEngine:
    """How to start a fresh engine ``key`` on ``ground``."""
    if key == LOCKSTEP:
        return ground.engine
    assert builds is not None, "Flux's controllers are needed but were not built"

    def start(name: str) -> AbstractAsyncContextManager[FluxEngine]:
        return FluxEngine.started_helm(ground, builds.sources, builds.helm, FLUX, f"{key}-{name}")

    return start


async def one_run(
    ground: Ground, charts: ChartServer, size: int, key: str, builds: FluxBuilds | None
) -> dict[str, Any]:
    """W6 at one N with one engine; an install not Ready in time or a failure is recorded,
    not raised."""
    sys.stderr.write(f"running w6 at N = {size} with {key}\n")
    try:
        result = await w6.release_fleet(
            ground, charts, size, engine_starter(ground, key, builds), within=timeout_for(size)
        )
    except w6.ReleasesNotReady as late:
        result = {"releases": size, "install": late.install, "noop": None}
    except w6.NoopPassFailed as failed:
        traceback.print_exc()
        result = {
            "releases": size,
            "install": failed.install,
            "noop": None,
            "error": first_line(failed),
        }
    except Exception as error:
        traceback.print_exc()
        result = {
            "releases": size,
            "install": {"complete": False},
            "noop": None,
            "error": first_line(error),
        }
    return {"engine": key, **result}


async def compare(
    sizes: Sequence[int], engines: Sequence[str], builds: FluxBuilds | None, folder: Path
) -> dict[str, Any]:
    """Every N with every engine on one fresh ground and chart server; the document written."""
    document: dict[str, Any] = {
        "workload": NAME,
        "chart": f"{CHART_NAME}@{CHART_VERSION}",
        "engines": {
            key: {"command": engine_command(key), "origin": engine_origin(key)} for key in engines
        },
        "flux_versions": builds.versions() if builds else {},
        "runs": [],
    }
    machine = machine_facts()
    async with Ground.started(settle=True) as ground:
        machine["kubernetes"] = ground.kubernetes_version
        with ChartServer() as charts:
            for size in sizes:
                for key in engines:
                    document["runs"].append(await one_run(ground, charts, size, key, builds))
                    write_results(folder, NAME, document, machine, markdown)
    return document


def markdown(document: dict[str, Any]) -> str:
    """The comparison as tables: per N, the install and the no-op pass, a row per engine,
    then the ratios."""
    lines = [
        *heading("lockstep and Flux side by side: W6, Helm releases", document),
        f"N HelmReleases of one chart ({document['chart']}: a ServiceAccount, a Service, a",
        "Deployment scaled to 0) from one HelmRepository on 127.0.0.1, each its own release,",
        "created at once, timed until all are Ready; both engines wait for the objects",
        "(`disableWait` unset). Engine CPU and peak RSS of all the engine's processes",
        "(lockstep with its Helm service; Flux: source-controller and helm-controller added",
        "up); requests per release as the engine's client counts them (Flux: client-go's",
        "`rest_client_requests_total`, Helm's clients included) and as the API server served",
        "them (every client); API server CPU over the same window.",
        "",
        "No-op pass, once all were Ready and the engine idle: every HelmRelease asked to",
        "reconcile (`reconcile.fluxcd.io/requestedAt`), until each status has handled the",
        "request and the engine has finished N HelmRelease reconciles. Engine writes: POST,",
        "PUT, PATCH, APPLY, DELETE as the engine's client counts them (client-go by HTTP",
        "method: a server-side apply is a PATCH, and a dry-run one cannot be told apart);",
        "the API server's, by resource, leave dry-runs out and include the harness's N",
        "PATCHes of helmreleases (the annotations) and the control plane's leases. Releases",
        "re-rendered: Helm revisions stored during the pass (Helm's Secrets after less",
        "before).",
        "",
    ]
    for size in dict.fromkeys(run["releases"] for run in document["runs"]):
        runs = {run["engine"]: run for run in document["runs"] if run["releases"] == size}
        lines += _install_table(size, runs) + _noop_table(size, runs)
    return "\n".join(lines)


def _install_table(size: int, runs: dict[str, dict[str, Any]]) -> list[str]:
    return ready_table(
        f"N = {size}: install",
        runs,
        INSTALL_FIGURES,
        install_figures,
        _outcome,
        CELLS,
        timings_of=lambda run: run["install"],
    )


def _noop_table(size: int, runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"## N = {size}: no-op pass",
        "",
        "| engine | "
        + " | ".join(title for _key, title in NOOP_FIGURES)
        + " | engine writes by verb | API server writes, every client"
        " | status fields changed besides lastHandledReconcileAt | Helm service CPU |",
        "|---|" + "---|" * (len(NOOP_FIGURES) + 4),
    ]
    for key, run in runs.items():
        if not run.get("noop"):
            lines.append(f"| {key} | none: {_missing_pass(run)} |")
            continue
        values = noop_figures(run)
        lines.append(
            f"| {key} | "
            + " | ".join(cell(values[name], CELLS.get(name)) for name, _title in NOOP_FIGURES)
            + f" | {_noop_details(run['noop'])} |"
        )
    for key, shares in shares_of(runs, noop_figures):
        lines.append(
            f"| {key} / lockstep | "
            + " | ".join(ratio_cell(shares[name]) for name, _title in NOOP_FIGURES)
            + " | | | | |"
        )
    return [*lines, ""]


def _missing_pass(run: dict[str, Any]) -> str:
    if run["install"]["complete"]:
        return f"failed: {run.get('error', 'unknown')}"
    return "the install did not complete"


def _noop_details(noop: dict[str, Any]) -> str:
    writes = ", ".join(f"{verb} {n}" for verb, n in noop["engine_writes"].items()) or "none"
    served = ", ".join(f"{key} {n}" for key, n in noop["apiserver_writes_by_resource"].items())
    fields = ", ".join(f"{key} ({n})" for key, n in noop["status_fields_changed"].items())
    helm_service = noop.get("helm_service_cpu_seconds")
    rendering = "in-process" if helm_service is None else f"{helm_service * 1000:.0f} ms"
    return f"{writes} | {served or 'none'} | {fields or 'none'} | {rendering}"


def _outcome(run: dict[str, Any]) -> str:
    install = run["install"]
    if run.get("error") and not install["complete"]:
        return f"failed: {run['error']}"
    if not install["complete"]:
        return (
            f"not all Ready: {install['ready']} of {run['releases']} "
            f"within {install['timeout_seconds']} s"
        )
    return cell(install["seconds_to_all_ready"], CELLS["seconds_to_all_ready"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated Ns (default: %(default)s)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated engines (default: %(default)s)",
    )
    args = parser.parse_args()
    engines = choices(parser, args.engines, ENGINES, "engine")
    sizes = counts(parser, args.sizes, "HelmReleases")
    full = tuple(sizes) == SIZES and tuple(engines) == ENGINES
    folder = RESULTS if full else RESULTS / "custom"
    try:
        builds = _flux_builds() if FLUX.key in engines else None
    except ToolchainError as error:
        sys.stderr.write(f"error: cannot build Flux's controllers: {error}\n")
        return 1
    document = asyncio.run(compare(sizes, engines, builds, folder))
    sys.stdout.write(markdown(document))
    failed = [run for run in document["runs"] if run.get("error")]
    if failed:
        sys.stderr.write(f"{len(failed)} runs failed; see {folder / (NAME + '.json')}\n")
        return 1
    return 0


def _flux_builds() -> FluxBuilds:
    return FluxBuilds(ensure_binaries(report_build), ensure_helm_binaries(report_build))


if __name__ == "__main__":
    raise SystemExit(main())
