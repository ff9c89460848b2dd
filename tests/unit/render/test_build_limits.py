"""The processes of a build are bounded (:mod:`lockstep.render.process`): a Kustomize
build that blows the memory limit (Kustomize's YAML library, kyaml over go-yaml v3,
expands aliases without a ceiling of its own) or the CPU limit fails on one line naming the limit, its process is
replaced, the builds of the other processes and the later ones go on, and the engine's
own memory does not grow; a late build's whole process group is killed; an answer
larger than a build may print is not read whole; one-shot programs (sops) are bounded
the same way."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import pytest

from lockstep.render.kustomizer import (
    MAX_ANSWER_BYTES,
    BuildDeadline,
    Kustomizer,
    kustomizer_program,
)
from lockstep.render.process import MIB, BuildLimits, LimitExceeded, run_until
from unit.render.test_content_bounds import laughs, nested
from unit.render.test_kustomizer import script
from unit.render.trees import config_map, write

SMALL = BuildLimits(memory_bytes=256 * MIB, cpu_seconds=60)
"""A quarter of the default: enough for Kustomize, reached by an alias bomb in 0.5 s."""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A bomb under a name the engine does not check (only Kustomize reads it), a file
    that takes seconds of CPU to build, and a good app."""
    write(
        tmp_path,
        {
            "bomb/kustomization.yaml": "resources: [laughs.txt]\n",
            "bomb/laughs.txt": laughs(),
            "slow/kustomization.yaml": "resources: [deep.txt]\n",
            "slow/deep.txt": nested(5000),
            "good/kustomization.yaml": "resources: [cm.yaml]\n",
            "good/cm.yaml": config_map("good"),
        },
    )
    return tmp_path


def engine_peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def test_kustomize_expands_aliases_without_a_ceiling_of_its_own(tree: Path) -> None:
    """Why the memory limit is needed: a bomb of five levels comes out whole; the
    engine's own check (:mod:`lockstep.render.bounds`) is what refuses it earlier."""
    write(
        tree,
        {
            "five/kustomization.yaml": "resources: [laughs.txt]\n",
            "five/laughs.txt": laughs(levels=5),
        },
    )
    pool = Kustomizer(kustomizer_program(), 1, BuildLimits())
    try:
        printed = pool.build(tree / "five", tree, time.monotonic() + 30)
    finally:
        pool.close()

    assert printed.count("lol") == sum(9**level for level in range(1, 6)), "every level whole"


def test_a_build_past_the_memory_limit_fails_and_the_others_go_on(tree: Path) -> None:
    pool = Kustomizer(kustomizer_program(), 2, SMALL)
    peak_before = engine_peak_mib()
    good: list[str] = []

    def build_good_ones() -> None:
        for _ in range(20):
            good.append(pool.build(tree / "good", tree, time.monotonic() + 30))

    try:
        beside = threading.Thread(target=build_good_ones)
        beside.start()
        started = time.monotonic()
        with pytest.raises(LimitExceeded) as exceeded:
            pool.build(tree / "bomb", tree, time.monotonic() + 30)
        failed_after = time.monotonic() - started
        beside.join()
        after = pool.build(tree / "good", tree, time.monotonic() + 30)
    finally:
        pool.close()

    assert str(exceeded.value) == "exceeded the build memory limit of 256 MiB"
    assert failed_after < 10
    assert len(good) == 20
    assert all("name: good" in text for text in good), "the other process built throughout"
    assert "name: good" in after, "a new process took the dead one's place"
    assert engine_peak_mib() - peak_before < 50, "the bomb grew in the build service only"


def test_a_build_past_the_cpu_limit_fails_and_the_next_one_builds(tree: Path) -> None:
    pool = Kustomizer(kustomizer_program(), 1, BuildLimits(SMALL.memory_bytes * 4, cpu_seconds=1))
    try:
        first = pool.build(tree / "good", tree, time.monotonic() + 30)
        with pytest.raises(LimitExceeded) as exceeded:
            pool.build(tree / "slow", tree, time.monotonic() + 60)
        after = pool.build(tree / "good", tree, time.monotonic() + 30)
    finally:
        pool.close()

    assert str(exceeded.value) == "exceeded the build CPU limit of 1s"
    assert first == after


def test_the_cpu_limit_is_per_build_not_per_process(tree: Path) -> None:
    """Builds whose CPU time adds up past the limit all succeed."""
    # Each build takes about half the limit (a quarter once warm), well apart from it.
    write(
        tree, {"some/kustomization.yaml": "resources: [deep.txt]\n", "some/deep.txt": nested(500)}
    )
    pool = Kustomizer(kustomizer_program(), 1, BuildLimits(SMALL.memory_bytes, cpu_seconds=1))
    try:
        for _ in range(8):
            pool.build(tree / "some", tree, time.monotonic() + 30)
        used = _cpu_seconds(next(iter(pool._all)).popen.pid)
    finally:
        pool.close()

    assert used > 1, f"the builds used {used:.2f}s of CPU in all: too little to tell"


def test_a_late_build_kills_its_whole_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = script(
        tmp_path,
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open(os.environ['CHILD_PID_FILE'], 'w').write(str(child.pid))\n"
        "for line in sys.stdin:\n"
        "    time.sleep(60)",
    )
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("CHILD_PID_FILE", str(pid_file))
    pool = Kustomizer(program, 1, SMALL)
    try:
        with pytest.raises(BuildDeadline):
            pool.build(tmp_path, tmp_path, time.monotonic() + 1)
    finally:
        pool.close()

    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not _alive(child), "the program's own child was killed with it"


def test_an_answer_larger_than_a_build_may_print_is_not_read_whole(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        "chunk = 'x' * (1 << 20)\n"
        "for line in sys.stdin:\n"
        '    sys.stdout.write(\'{"output": "\')\n'
        f"    for _ in range({MAX_ANSWER_BYTES // (1 << 20) + 2}): sys.stdout.write(chunk)\n"
        "    sys.stdout.write('\"}\\n'); sys.stdout.flush()",
    )
    pool = Kustomizer(program, 1, SMALL)
    try:
        with pytest.raises(
            LimitExceeded, match=r"^printed more than the 64 MiB a build may print$"
        ):
            pool.build(tmp_path, tmp_path, time.monotonic() + 30)
    finally:
        pool.close()


def test_a_one_shot_program_is_bounded_in_memory_and_cpu(tree: Path) -> None:
    """The build service run once, as sops is: the same limits, the same messages."""
    command = [str(kustomizer_program())]

    def request(folder: str) -> bytes:
        return json.dumps({"root": str(tree), "dir": str(tree / folder)}).encode() + b"\n"

    with pytest.raises(LimitExceeded, match=r"^exceeded the build memory limit of 256 MiB$"):
        run_until(command, time.monotonic() + 30, SMALL, stdin=request("bomb"))
    with pytest.raises(LimitExceeded, match=r"^exceeded the build CPU limit of 1s$"):
        run_until(
            command,
            time.monotonic() + 60,
            BuildLimits(SMALL.memory_bytes * 4, 1),
            stdin=request("slow"),
        )
    done = run_until(command, time.monotonic() + 30, SMALL, stdin=request("good"))
    assert done is not None
    assert b"name: good" in done.stdout


def test_a_one_shot_program_past_the_deadline_is_killed_with_its_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = [
        sys.executable,
        "-c",
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)",
    ]

    assert run_until(command, time.monotonic() + 1, SMALL) is None

    time.sleep(0.2)
    assert not _alive(int(pid_file.read_text()))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
