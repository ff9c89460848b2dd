"""The comparison's arithmetic and tables: figures, ratios Flux / lockstep, markdown."""

from __future__ import annotations

from typing import Any

from benchmarks import compare


def run(engine: str, seconds: float, cpu: float, *, complete: bool = True) -> dict[str, Any]:
    return {
        "shape": "w1a",
        "engine": engine,
        "kustomizations": 100,
        "complete": complete,
        "ready": 100 if complete else 40,
        "timeout_seconds": 180,
        "seconds_to_all_ready": seconds if complete else None,
        "time_to_ready": {"samples": 100, "p50_ms": 1500.0, "p95_ms": 2500.0},
        "engine_requests_per_kustomization": 12.0,
        "apiserver_requests_per_kustomization": 24.0,
        "usage": {
            "engine_cpu_seconds": cpu,
            "engine_peak_rss_mib": 100.0,
            "engine_tree_peak_rss_mib": 150.0,
            "control_plane_cpu_seconds": {"kube-apiserver": 8.0},
        },
    }


def test_peak_memory_is_the_larger_of_the_exact_and_the_sampled_peak() -> None:
    assert compare.figures(run("lockstep", 10.0, 4.0))["peak_rss_mib"] == 150.0


def test_ratios_divide_flux_by_lockstep() -> None:
    shares = compare.ratios(run("flux-default", 30.0, 6.0), run("lockstep", 10.0, 4.0))
    assert shares["seconds_to_all_ready"] == 3.0
    assert shares["engine_cpu_seconds"] == 1.5
    assert shares["apiserver_cpu_seconds"] == 1.0


def test_a_run_that_did_not_complete_has_no_ratio() -> None:
    shares = compare.ratios(
        run("flux-default", 0.0, 6.0, complete=False), run("lockstep", 10.0, 4.0)
    )
    assert set(shares.values()) == {None}
    assert compare.ratio(3.0, 0.0) is None


def test_the_table_shows_each_engine_then_the_ratios() -> None:
    document = {
        "when": "2026-01-01T00:00:00Z",
        "machine": {"cores": 2, "memory_gib": 23.5, "revision": "abc"},
        "flux_versions": {"kustomize-controller": "v1.9.6"},
        "engines": {key: {"command": key, "origin": "here"} for key in compare.ENGINES},
        "runs": [
            run("lockstep", 10.0, 4.0),
            run("flux-default", 20.0, 8.0),
            run("flux-benchmark", 0.0, 8.0, complete=False),
        ],
    }
    text = compare.markdown(document)
    assert "## w1a (one shared path), N = 100" in text
    assert "| lockstep | 10.0 s | 1.5 s / 2.5 s | 4.0 s | 150 MiB | 8.0 s | 12.0 | 24.0 |" in text
    assert "| flux-default / lockstep | 2.00x | | 2.00x | 1.00x | 1.00x | 1.00x | 1.00x |" in text
    assert "| flux-benchmark | not all Ready: 40 of 100 within 180 s |" in text
    assert "| flux-benchmark / lockstep | - |" in text
