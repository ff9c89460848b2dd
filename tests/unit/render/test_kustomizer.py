"""The resident Kustomize build service: builds answered by long-running processes, at
most one build per process at a time, a late build's process killed and replaced, a
dead process replaced, and Kustomize's own errors passed on."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lockstep.render.kustomizer import BuildDeadline, KustomizeError, Kustomizer, kustomizer_program
from unit.render.trees import config_map, write


@pytest.fixture(scope="module")
def kustomizer() -> Kustomizer:
    pool = Kustomizer(kustomizer_program(), 2)
    yield pool
    pool.close()


def script(tmp_path: Path, body: str) -> Path:
    """A stand-in for the program, to drive the pool's handling of its processes."""
    program = tmp_path / "program"
    program.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n")
    program.chmod(0o755)
    return program


def test_a_folder_is_built_by_kustomize(kustomizer: Kustomizer, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: p-\n",
            "app/cm.yaml": config_map("settings", colour="blue"),
        },
    )

    printed = kustomizer.build(tmp_path / "app", time.monotonic() + 30)

    assert printed == (
        "apiVersion: v1\ndata:\n  colour: blue\nkind: ConfigMap\nmetadata:\n  name: p-settings\n"
    )


def test_kustomize_s_error_is_passed_on(kustomizer: Kustomizer, tmp_path: Path) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})

    with pytest.raises(KustomizeError, match=r"missing\.yaml"):
        kustomizer.build(tmp_path / "app", time.monotonic() + 30)


def test_loads_outside_the_kustomization_folder_are_refused(
    kustomizer: Kustomizer, tmp_path: Path
) -> None:
    write(
        tmp_path,
        {"app/kustomization.yaml": "resources: [../cm.yaml]\n", "cm.yaml": config_map("x")},
    )

    with pytest.raises(KustomizeError, match="is not in or below"):
        kustomizer.build(tmp_path / "app", time.monotonic() + 30)


def test_builds_in_parallel_share_the_processes(kustomizer: Kustomizer, tmp_path: Path) -> None:
    for index in range(8):
        write(tmp_path, {f"app-{index}/cm.yaml": config_map(f"app-{index}")})
        write(tmp_path, {f"app-{index}/kustomization.yaml": "resources: [cm.yaml]\n"})

    with ThreadPoolExecutor(8) as pool:
        printed = list(
            pool.map(
                lambda index: kustomizer.build(tmp_path / f"app-{index}", time.monotonic() + 30),
                range(8),
            )
        )

    assert [f"name: app-{index}" in text for index, text in enumerate(printed)] == [True] * 8
    assert len(kustomizer._all) <= 2


def test_a_late_build_kills_its_process_and_the_next_gets_a_new_one(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        "for line in sys.stdin:\n"
        "    if 'slow' in line: time.sleep(30)\n"
        "    print(json.dumps({'output': str(os.getpid())}), flush=True)",
    )
    pool = Kustomizer(program, 1)
    try:
        first = pool.build(tmp_path / "fast", time.monotonic() + 10)
        with pytest.raises(BuildDeadline):
            pool.build(tmp_path / "slow", time.monotonic() + 0.3)
        second = pool.build(tmp_path / "fast", time.monotonic() + 10)
    finally:
        pool.close()

    assert first != second, "a new process answered"


def test_a_process_that_dies_fails_its_build_and_is_replaced(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        "for line in sys.stdin:\n"
        "    if 'crash' in line: sys.exit(3)\n"
        "    print(json.dumps({'output': 'ok'}), flush=True)",
    )
    pool = Kustomizer(program, 1)
    try:
        with pytest.raises(KustomizeError, match=r"exited \(3\) during the build"):
            pool.build(tmp_path / "crash", time.monotonic() + 10)
        assert pool.build(tmp_path / "fine", time.monotonic() + 10) == "ok"
    finally:
        pool.close()
