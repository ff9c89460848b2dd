"""The flags each Flux column runs with, and the scrapes of two controllers added up."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.compare import FLUX_SETTINGS
from benchmarks.prometheus import parse_samples

from lockstep.dev.flux import FluxBinaries, FluxControllers


def test_the_benchmark_settings_are_those_of_flux_own_benchmark() -> None:
    flags = FLUX_SETTINGS["flux-benchmark"].flags()
    assert flags["source-controller"] == ["--log-level=info", "--concurrent=10"]
    assert flags["kustomize-controller"] == [
        "--log-level=info",
        "--concurrent=20",
        "--requeue-dependency=5s",
    ]
    assert FLUX_SETTINGS["flux-default"].requeue_dependency_seconds == 30.0


def test_extra_flags_for_a_controller_that_does_not_exist_are_refused(tmp_path: Path) -> None:
    binaries = FluxBinaries(tmp_path, {})
    with pytest.raises(ValueError, match="no Flux controller named helm-controller"):
        FluxControllers(binaries, tmp_path / "kubeconfig", tmp_path, {"helm-controller": []})


def test_two_scrapes_add_up_and_count_by_label() -> None:
    source = parse_samples('rest_client_requests_total{code="200",method="GET"} 3\n')
    kustomize = parse_samples(
        'rest_client_requests_total{code="200",method="GET"} 4\n'
        'rest_client_requests_total{code="201",method="POST"} 0.4\n'
    )
    both = source.plus(kustomize)
    assert both.counts_by("rest_client_requests_total", "method") == {"GET": 7}
