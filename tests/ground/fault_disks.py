"""A small disk for the test ground: a tmpfs of a given size mounted on a folder, made
larger while mounted as an operator grows a volume, and always unmounted at the end.

Mounting needs root, as the fault-injection suite runs; :func:`small_disk` is the
context manager the scenarios use, so that no mount outlives its test.

Used by the fault-injection suite (tests/faults/test_disk_full.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIB = 1024 * 1024


class SmallDisk:
    """A tmpfs mounted at ``path``, ``size`` bytes at most."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path))

    def grow(self, size: int) -> None:
        """Give the mounted disk ``size`` bytes, keeping what it holds (``remount``)."""
        _run("mount", "-o", f"remount,size={size}", str(self.path))
        self.size = size

    def unmount(self) -> None:
        """Unmount; lazily when a process still holds a file of it, so nothing is left."""
        if os.path.ismount(self.path):
            _run("umount", "--lazy", str(self.path))

    def free(self) -> int:
        """The bytes still free."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextmanager
def small_disk(path: Path, size: int) -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` bytes at ``path`` for the duration of the block."""
    disk = SmallDisk(path, size)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {done.stderr.strip()}")
