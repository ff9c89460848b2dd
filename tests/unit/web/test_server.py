"""The artifact server serves finished artifacts only; the metrics server its three paths."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from lockstep.runtime.metrics import ControllerMetrics, Health
from lockstep.web.server import artifact_app, metrics_app

DIGEST = "a" * 64


async def test_only_finished_artifacts_are_served(tmp_path: Path) -> None:
    folder = tmp_path / "gitrepository" / "flux-system" / "infra"
    folder.mkdir(parents=True)
    (folder / f"{DIGEST}.tar.gz").write_bytes(b"artifact")
    (folder / ".incoming-123.partial").write_bytes(b"half")
    (tmp_path / ".scratch").mkdir()
    (tmp_path / ".scratch" / "secret.txt").write_text("work in progress")
    (tmp_path.parent / "outside.tar.gz").write_text("not ours")

    async with TestClient(TestServer(artifact_app(tmp_path))) as client:
        found = await client.get(f"/gitrepository/flux-system/infra/{DIGEST}.tar.gz")
        assert found.status == 200
        assert await found.read() == b"artifact"
        for path in (
            "/gitrepository/flux-system/infra/.incoming-123.partial",
            "/.scratch/secret.txt",
            "/../outside.tar.gz",
            f"/gitrepository/flux-system/other/{DIGEST}.tar.gz",
        ):
            response = await client.get(path)
            assert response.status == 404, path


async def test_metrics_health_and_readiness() -> None:
    metrics, health = ControllerMetrics(), Health()
    metrics.observe("gitrepository", "success", 0.2)
    metrics.observe("gitrepository", "error", 0.1)
    health.not_ready("gitrepository", "cache not synced")
    async with TestClient(TestServer(metrics_app(metrics, health))) as client:
        text = await (await client.get("/metrics")).text()
        assert (
            'lockstep_reconcile_duration_seconds_count{controller="gitrepository",result="success"} 1.0'
            in text
        )
        assert 'lockstep_reconcile_errors_total{controller="gitrepository"} 1.0' in text
        assert (await client.get("/healthz")).status == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert "gitrepository: cache not synced" in await not_ready.text()
        health.ready("gitrepository")
        assert (await client.get("/readyz")).status == 200


async def test_readiness_lists_absent_kinds_without_waiting_for_them() -> None:
    metrics, health = ControllerMetrics(), Health()
    health.not_ready("kustomization", "cache not synced")
    health.absent("ImagePolicy", "image.toolkit.fluxcd.io/v1 is not served")
    async with TestClient(TestServer(metrics_app(metrics, health))) as client:
        waiting = await client.get("/readyz")
        assert waiting.status == 503
        assert await waiting.text() == (
            "kustomization: cache not synced\n"
            "absent: ImagePolicy: image.toolkit.fluxcd.io/v1 is not served\n"
        )
        health.ready("kustomization")
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.text() == (
            "ok\nabsent: ImagePolicy: image.toolkit.fluxcd.io/v1 is not served\n"
        )
        health.present("ImagePolicy")
        assert await (await client.get("/readyz")).text() == "ok\n"
