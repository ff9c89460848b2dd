"""The resident Kustomize build service: builds answered by long-running processes, at
most one build per process at a time, a late build's process killed and replaced, a
dead process replaced, Kustomize's own errors passed on, and files read as Flux reads
them: anywhere under the artifact root, nowhere outside it."""

from __future__ import annotations

import json
import os
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

    printed = kustomizer.build(tmp_path / "app", tmp_path, time.monotonic() + 30)

    assert printed == (
        "apiVersion: v1\ndata:\n  colour: blue\nkind: ConfigMap\nmetadata:\n  name: p-settings\n"
    )


def test_kustomize_s_error_is_passed_on(kustomizer: Kustomizer, tmp_path: Path) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})

    with pytest.raises(KustomizeError, match=r"missing\.yaml"):
        kustomizer.build(tmp_path / "app", tmp_path, time.monotonic() + 30)


def test_files_outside_the_folder_are_read_as_in_flux_but_not_outside_the_root(
    kustomizer: Kustomizer, tmp_path: Path
) -> None:
    root = tmp_path / "artifact"
    write(
        tmp_path,
        {
            "artifact/app/kustomization.yaml": "resources: [../shared/cm.yaml]\n",
            "artifact/shared/cm.yaml": config_map("shared"),
            "artifact/escape/kustomization.yaml": "resources: [../../outside.yaml]\n",
            "outside.yaml": config_map("outside"),
        },
    )

    assert "name: shared" in kustomizer.build(root / "app", root, time.monotonic() + 30)
    with pytest.raises(KustomizeError, match=r"outside\.yaml"):
        kustomizer.build(root / "escape", root, time.monotonic() + 30)


WIDGET_SCHEMA = json.dumps(
    {
        "definitions": {
            "v1.Widget": {
                "type": "object",
                "x-kubernetes-group-version-kind": [
                    {"group": "example.com", "kind": "Widget", "version": "v1"}
                ],
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "items": {
                                "type": "array",
                                "x-kubernetes-patch-merge-key": "name",
                                "x-kubernetes-patch-strategy": "merge",
                                "items": {"type": "object"},
                            }
                        },
                    }
                },
            }
        }
    }
)
WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  items: [{name: a, size: "1"}, {name: b, size: "2"}]
"""
PATCH = "patches:\n- patch: |\n    {kind: Widget, apiVersion: example.com/v1, metadata: {name: w}, spec: {items: [{name: a, size: '9'}]}}\n"


def items_after(kustomizer: Kustomizer, folder: Path, root: Path, schema: bool) -> int:
    printed = kustomizer.build(folder, root, time.monotonic() + 30, schema=schema)
    return printed.count("name: ") - 1


def test_a_build_that_changes_the_schema_leaves_the_next_builds_alone(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "custom/kustomization.yaml": "openapi: {path: schema.json}\nresources: [w.yaml]\n"
            + PATCH,
            "custom/schema.json": WIDGET_SCHEMA,
            "custom/w.yaml": WIDGET,
            "plain/kustomization.yaml": "resources: [w.yaml]\n" + PATCH,
            "plain/w.yaml": WIDGET,
        },
    )
    pool = Kustomizer(kustomizer_program(), 1)
    try:
        merged = items_after(pool, tmp_path / "custom", tmp_path, schema=True)
        after = items_after(pool, tmp_path / "plain", tmp_path, schema=False)
        leaked_then = items_after(pool, tmp_path / "custom", tmp_path, schema=False)
        leaked = items_after(pool, tmp_path / "plain", tmp_path, schema=False)
    finally:
        pool.close()

    assert merged == 2, "the custom schema's merge key kept item b"
    assert after == 1, "the next build has Kustomize's own schema: the list is replaced"
    assert (leaked_then, leaked) == (2, 2), "without the reset the schema would leak"


def test_builds_in_parallel_share_the_processes(kustomizer: Kustomizer, tmp_path: Path) -> None:
    for index in range(8):
        write(tmp_path, {f"app-{index}/cm.yaml": config_map(f"app-{index}")})
        write(tmp_path, {f"app-{index}/kustomization.yaml": "resources: [cm.yaml]\n"})

    with ThreadPoolExecutor(8) as pool:
        printed = list(
            pool.map(
                lambda index: kustomizer.build(
                    tmp_path / f"app-{index}", tmp_path, time.monotonic() + 30
                ),
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
        first = pool.build(tmp_path / "fast", tmp_path, time.monotonic() + 10)
        with pytest.raises(BuildDeadline):
            pool.build(tmp_path / "slow", tmp_path, time.monotonic() + 0.3)
        second = pool.build(tmp_path / "fast", tmp_path, time.monotonic() + 10)
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
            pool.build(tmp_path / "crash", tmp_path, time.monotonic() + 10)
        assert pool.build(tmp_path / "fine", tmp_path, time.monotonic() + 10) == "ok"
    finally:
        pool.close()


def test_an_idle_process_that_died_is_replaced_before_the_next_build(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        "for line in sys.stdin:\n    print(json.dumps({'output': str(os.getpid())}), flush=True)",
    )
    pool = Kustomizer(program, 1)
    try:
        first = pool.build(tmp_path, tmp_path, time.monotonic() + 10)
        os.kill(int(first), 9)
        time.sleep(0.2)
        second = pool.build(tmp_path, tmp_path, time.monotonic() + 10)
    finally:
        pool.close()

    assert second != first
