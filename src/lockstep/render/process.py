"""Running a renderer's helper program (sops) within the build's deadline.

A program that overruns is killed and reported as ``None``. Its
``TimeoutExpired`` is swallowed here on purpose: it holds what the program had
printed, decrypted values included, and must never become the context of an
error that reaches a log or a status.

Called by :mod:`lockstep.render.sops`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_until(
    command: Sequence[str],
    deadline: float,
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``command`` until ``deadline`` (``time.monotonic()``); ``None`` when it overran.
    Output is bytes: kustomize's is decoded by its caller, sops's may be binary."""
    try:
        return subprocess.run(
            list(command),
            input=stdin,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            timeout=max(deadline - time.monotonic(), 0.0),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
