"""Reading what the engine produced: conditions of an object, files of an artifact."""

from __future__ import annotations

import io
import tarfile
import urllib.request
from typing import Any


def condition(obj: dict[str, Any], kind: str) -> str:
    """``"<status>: <message>"`` of the object's condition ``kind``, or "" when absent."""
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry["type"] == kind:
            return f"{entry['status']}: {entry['message']}"
    return ""


def artifact_files(url: str) -> dict[str, bytes]:
    """The regular files of the artifact tarball at ``url``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        content = io.BytesIO(response.read())
    with tarfile.open(fileobj=content, mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }
