"""`LoopbackProcess` reports a server that fails to start, and stops its whole group.

Uses short-lived ``sh`` processes, not servers: what is checked is the start/stop
contract that the git server and the OCI registry rely on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lockstep.dev.loopback import LoopbackProcess, ServerStartError


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_exits_names_the_server_and_its_log(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    process = LoopbackProcess("demo server", ["sh", "-c", "echo bad config >&2; exit 3"], log)

    with pytest.raises(ServerStartError) as failure:
        process.start(lambda: False)

    assert str(failure.value) == f"demo server exited with code 3 before answering; see {log}"
    assert log.read_text() == "bad config\n"


def test_a_process_that_never_answers_is_stopped_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 30 & echo $! >> {pids}; wait"
    process = LoopbackProcess("silent server", ["sh", "-c", script], tmp_path / "silent.log")

    with pytest.raises(ServerStartError, match=r"^silent server did not answer within 0\.3s; see "):
        process.start(lambda: False, timeout=0.3)

    leader, child = (int(line) for line in pids.read_text().split())
    deadline = time.monotonic() + 2
    while is_running(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not is_running(leader)
    assert not is_running(child)
