"""The Kubernetes client's request counts are exported at each scrape, by verb and dry-run."""

from __future__ import annotations

import httpx2

from lockstep.kube.requests import APPLY_PATCH_TYPE, RequestCounts
from lockstep.runtime.metrics import ControllerMetrics


def test_request_counts_are_read_at_each_scrape() -> None:
    counts = RequestCounts()
    metrics = ControllerMetrics()
    metrics.count_kube_requests(counts)
    assert b"lockstep_kube_requests_total{" not in metrics.exposition()

    path = "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a"
    counts.record(httpx2.Request("GET", path))
    apply = {"Content-Type": APPLY_PATCH_TYPE}
    counts.record(httpx2.Request("PATCH", path + "?dryRun=All", headers=apply))
    counts.record(httpx2.Request("PATCH", path + "?dryRun=All", headers=apply))

    text = metrics.exposition().decode()
    assert 'lockstep_kube_requests_total{dry_run="false",verb="GET"} 1.0' in text
    assert 'lockstep_kube_requests_total{dry_run="true",verb="APPLY"} 2.0' in text
