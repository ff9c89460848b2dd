"""W6 side by side: the figures of the install and the no-op pass, ratios, markdown."""

from __future__ import annotations

from typing import Any

from benchmarks import compare_helm, comparison


def run(engine: str, seconds: float, cpu: float, *, writes: int = 100) -> dict[str, Any]:
    return {
        "engine": engine,
        "releases": 100,
        "install": {
            "releases": 100,
            "complete": True,
            "ready": 100,
            "timeout_seconds": 180,
            "seconds_to_all_ready": seconds,
            "time_to_ready": {"samples": 100, "p50_ms": 1500.0, "p95_ms": 2500.0},
            "engine_requests_per_release": 20.0,
            "apiserver_requests_per_release": 30.0,
            "usage": {
                "engine_cpu_seconds": cpu,
                "engine_peak_rss_mib": 100.0,
                "engine_tree_peak_rss_mib": 150.0,
                "control_plane_cpu_seconds": {"kube-apiserver": 8.0},
            },
        },
        "noop": {
            "seconds": 2.0,
            "engine_writes": {"PATCH": writes},
            "engine_writes_total": writes,
            "apiserver_writes_by_resource": {"PATCH helmreleases": 100},
            "engine_cpu_seconds": 0.5,
            "engine_requests_per_release": 1.0,
            "status_fields_changed": {},
            "release_revisions_before": 100,
            "release_revisions_after": 100,
            "helm_service_cpu_seconds": None if engine != "lockstep" else 0.0,
        },
    }


def test_the_flux_column_runs_helm_controller_defaults() -> None:
    flags = compare_helm.FLUX.flags()
    assert flags == {
        "source-controller": ["--log-level=info", "--concurrent=4"],
        "helm-controller": ["--log-level=info", "--concurrent=4"],
    }


def test_ratios_divide_flux_by_lockstep_and_skip_zeros() -> None:
    flux, lockstep = run("flux-default", 30.0, 6.0, writes=200), run("lockstep", 10.0, 4.0)
    install = comparison.ratios(
        compare_helm.install_figures(flux), compare_helm.install_figures(lockstep)
    )
    assert install["seconds_to_all_ready"] == 3.0
    assert install["engine_cpu_seconds"] == 1.5
    assert install["peak_rss_mib"] == 1.0
    noop = comparison.ratios(compare_helm.noop_figures(flux), compare_helm.noop_figures(lockstep))
    assert noop["engine_writes_total"] == 2.0
    assert noop["rerendered"] is None, "no release re-rendered by either: no ratio"


def test_an_install_not_ready_in_time_has_no_figures_and_no_pass() -> None:
    late = run("flux-default", 0.0, 6.0)
    late["install"].update(complete=False, ready=40, seconds_to_all_ready=None)
    late["noop"] = None
    assert set(compare_helm.install_figures(late).values()) == {None}
    assert set(compare_helm.noop_figures(late).values()) == {None}


def test_the_tables_show_each_engine_then_the_ratios() -> None:
    late = run("flux-default", 0.0, 6.0)
    late["install"].update(complete=False, ready=40, seconds_to_all_ready=None)
    late["noop"] = None
    document = {
        "when": "2026-01-01T00:00:00Z",
        "chart": "app@1.0.0",
        "machine": {"cores": 2, "memory_gib": 23.5, "revision": "abc"},
        "flux_versions": {"helm-controller": "v1.6.0"},
        "engines": {key: {"command": key, "origin": "here"} for key in compare_helm.ENGINES},
        "runs": [run("lockstep", 10.0, 4.0), run("flux-default", 20.0, 8.0), late],
    }
    document["runs"][2]["releases"] = 500
    document["runs"][2]["install"]["releases"] = 500
    text = compare_helm.markdown(document)
    assert "## N = 100: install" in text
    assert "| lockstep | 10.0 s | 1.5 s / 2.5 s | 4.00 s | 150 MiB | 8.0 s | 20.0 | 30.0 |" in text
    assert "| flux-default / lockstep | 2.00x | | 2.00x | 1.00x | 1.00x | 1.00x | 1.00x |" in text
    served = "PATCH helmreleases 100"
    assert (
        f"| lockstep | 2.0 s | 100 | 0 | 0.50 s | 1.0 | PATCH 100 | {served} | none | 0 ms |"
        in (text)
    )
    assert f"| 1.0 | PATCH 100 | {served} | none | in-process |" in text
    assert "| flux-default | not all Ready: 40 of 500 within 180 s |" in text
    assert "| flux-default | none: the install did not complete |" in text


def test_the_timeout_leaves_flux_twice_its_wait_polls() -> None:
    assert compare_helm.timeout_for(10) == 90.0, "W6's own: at least 90 s"
    assert compare_helm.timeout_for(100) == 250.0
    assert compare_helm.timeout_for(500) == 1250.0
