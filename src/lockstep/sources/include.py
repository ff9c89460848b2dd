"""Copy the content of one stored artifact into the tree of another (GitRepository ``include``).

The included artifact is a tarball this process wrote itself; it is still
extracted with the standard library's ``data`` filter (no absolute paths, no
``..``, no links leaving the destination, no device files), into a scratch folder
first, and only the requested sub-folder is moved into place.

Called by the GitRepository reconciler before it packs the including tree.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from lockstep.sources.errors import PathNotFound


def inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refusing paths that are absolute or climb out of ``root``."""
    parts = PurePosixPath(relative.strip("/") or ".").parts
    if relative.startswith("/") or ".." in parts:
        raise PathNotFound(f"{what} {relative!r} must be a path inside the artifact, without '..'")
    return root.joinpath(*parts)


def include_artifact(
    tarball: Path, from_path: str | None, destination: Path, *, source: str
) -> None:
    """Extract ``from_path`` (default: everything) of ``tarball`` into ``destination``.

    ``destination`` is replaced if it exists. ``source`` names the included
    repository in messages.
    """
    with tempfile.TemporaryDirectory(
        dir=destination.parent if destination.parent.exists() else None
    ) as scratch:
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarball, mode="r:gz") as archive:
            archive.extractall(unpacked, filter="data")
        chosen = inside(unpacked, from_path or "", f"fromPath of the include of {source}")
        if not chosen.is_dir():
            raise PathNotFound(
                f"the artifact of {source} has no folder {from_path!r}; correct fromPath"
            )
        if destination.exists():
            shutil.rmtree(destination)
        shutil.move(str(chosen), destination)
