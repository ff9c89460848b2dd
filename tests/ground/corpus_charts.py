"""Charts of the bad-input corpus, called by the ``make.py`` scripts of
``tests/corpus/helm/`` (see its README): a sound chart folder to add a bad file to
(:func:`write_chart`), and chart archives entry by entry (:func:`write_chart_archive`),
streamed when they are bombs (:func:`write_chart_bomb`).
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Mapping
from pathlib import Path

from ground.tarballs import CHUNK_BYTES, header, member, packed

CHART_YAML = "apiVersion: v2\nname: app\nversion: 0.1.0\n"

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"

CHART_FOLDER = "chart"
"""The folder a case renders by default (``chart`` in ``case.yaml``)."""

CHART_ARCHIVE = "chart.tgz"
"""The archive a case writes instead, named by ``chart: chart.tgz`` in its ``case.yaml``."""


def write_chart(dest: Path, files: Mapping[str, str | bytes] = {}) -> Path:
    """``dest/chart``: Chart.yaml, a template of one ConfigMap, and ``files`` (relative
    paths) written as they are; returns the folder."""
    folder = dest / CHART_FOLDER
    every = {"Chart.yaml": CHART_YAML, "templates/configmap.yaml": CONFIG_MAP, **files}
    for name, content in every.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return folder


def sound_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    """The entries of a sound archive of the chart ``app``."""
    return [
        member("app/Chart.yaml", content=CHART_YAML),
        member("app/templates/configmap.yaml", content=CONFIG_MAP),
    ]


def write_chart_archive(dest: Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    """``dest/chart.tgz``: the sound entries, then ``members``."""
    (dest / CHART_ARCHIVE).write_bytes(packed(*sound_entries(), *members))


def write_chart_bomb(dest: Path, name: str, size: int) -> None:
    """``dest/chart.tgz``: the sound entries, then a file ``name`` of ``size`` zeros, as
    one gzip member per MiB, each compressed once: about a thousandth of the size on
    disk, written in a moment, never held whole."""
    zeros = gzip.compress(bytes(CHUNK_BYTES), compresslevel=9)
    head = b"".join(_raw_entry(info.name, content) for info, content in sound_entries())
    with (dest / CHART_ARCHIVE).open("wb") as out:
        out.write(gzip.compress(head + header(name, tarfile.REGTYPE, size)))
        for _ in range(size // CHUNK_BYTES):
            out.write(zeros)


def _raw_entry(name: str, content: bytes) -> bytes:
    """The raw blocks of a file: its header and its content padded to a whole block."""
    padding = bytes(-len(content) % tarfile.BLOCKSIZE)
    return header(name, tarfile.REGTYPE, len(content)) + content + padding
