"""A real ``lockstep run`` process against the session's control plane.

The fixture installs the CRDs, starts the engine as a subprocess on free
loopback ports (artifacts, metrics, Receiver webhooks) with its own artifact
folder, and stops it with SIGTERM at the end of the module, checking that it
exits cleanly. Before it stops, it lets the engine finish the Kustomizations
of the namespaces the module's tests deleted, so that no module starts with
the previous one's deletions still pending. Its log is kept next to the
artifacts, and shown when a test fails to help explain why.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockstep.dev.loopback import free_port


@dataclass(frozen=True)
class Engine:
    """A running ``lockstep run``."""

    process: subprocess.Popen[bytes]
    storage_path: Path
    storage_addr: str
    metrics_addr: str
    receiver_addr: str
    log: Path
    extra: tuple[str, ...] = ()
    """The arguments of ``lockstep run`` it was started with beyond its folder and ports."""

    def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample of ``/metrics`` (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.metrics_addr}/metrics", timeout=5) as response:
            text = response.read().decode()
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{wanted}}} ") or (
                not labels and line.startswith(f"{name} ")
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def lockstep_command(kubeconfig: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lockstep", "--kubeconfig", str(kubeconfig), *args]


async def lockstep(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``lockstep`` command as a user would, without blocking the event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        lockstep_command(kubeconfig, *args),
        capture_output=True,
        text=True,
        timeout=180,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have exited 0; its output when it did not."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_engine(
    kubeconfig: Path,
    folder: Path,
    *extra: str,
    verbose: bool = False,
    environment: Mapping[str, str] | None = None,
) -> Engine:
    """Start ``lockstep run`` on free ports with its artifacts and log under ``folder``.

    ``verbose`` logs at debug level (``lockstep -v run``); ``environment`` is added to
    this process's own (a ``TMPDIR`` to scan afterwards, for instance).
    """
    folder.mkdir(parents=True, exist_ok=True)
    storage_addr, metrics_addr, receiver_addr = (f"127.0.0.1:{free_port()}" for _ in range(3))
    log = folder / "lockstep.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            lockstep_command(
                kubeconfig,
                *(["--verbose"] if verbose else []),
                "run",
                "--storage-path",
                str(folder / "artifacts"),
                "--storage-addr",
                storage_addr,
                "--metrics-addr",
                metrics_addr,
                "--receiver-addr",
                receiver_addr,
                *extra,
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(environment or {}), "PYTHONUNBUFFERED": "1"},
        )
    running = Engine(
        process, folder / "artifacts", storage_addr, metrics_addr, receiver_addr, log, extra
    )
    _wait_ready(running)
    return running


def stop_engine(engine: Engine) -> None:
    """SIGTERM, then insist on a clean exit within a minute."""
    engine.process.send_signal(signal.SIGTERM)
    code = engine.process.wait(timeout=60)
    assert code == 0, f"lockstep run exited with {code}:\n{engine.log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def crds_installed(kubeconfig: Path) -> Path:
    installed = subprocess.run(
        lockstep_command(kubeconfig, "install", "--crds"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    return kubeconfig


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    running = start_engine(crds_installed, tmp_path_factory.mktemp("engine"))
    yield running
    try:
        wait_for_deletions(crds_installed, running)
    finally:
        stop_engine(running)


DELETIONS_WITHIN_SECONDS = 60


def _kubectl_items(kubeconfig: Path, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items


def pending_deletions(kubeconfig: Path) -> list[str]:
    """The Kustomizations still held in namespaces being deleted, as ``namespace/name``."""
    terminating = {
        item["metadata"]["name"]
        for item in _kubectl_items(kubeconfig, "get", "namespaces", "-o", "json")
        if item.get("status", {}).get("phase") == "Terminating"
    }
    if not terminating:
        return []
    return [
        f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        for item in _kubectl_items(
            kubeconfig, "get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A", "-o", "json"
        )
        if item["metadata"]["namespace"] in terminating
    ]


def wait_for_deletions(kubeconfig: Path, engine: Engine) -> None:
    """Wait until the engine has released every Kustomization of a namespace being
    deleted; fail naming those it has not."""
    deadline = time.monotonic() + DELETIONS_WITHIN_SECONDS
    while pending := pending_deletions(kubeconfig):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Kustomizations of deleted namespaces still held after "
                f"{DELETIONS_WITHIN_SECONDS}s: {', '.join(pending)}\n"
                f"{engine.log.read_text()[-3000:]}"
            )
        time.sleep(0.5)


def _wait_ready(engine: Engine) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise AssertionError(f"lockstep run exited early:\n{engine.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(
                f"http://{engine.metrics_addr}/readyz", timeout=2
            ) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"lockstep run not ready within 60s:\n{engine.log.read_text()[-3000:]}")
