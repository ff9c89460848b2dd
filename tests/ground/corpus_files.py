"""Files of the bad-input corpus's build cases that cannot be committed: bytes that are
not text, symbolic links, and manifests too big or too deep to keep in the repository.

Called by the ``make.py`` scripts of ``tests/corpus/`` (see its README): each writes its
folder with :func:`write_app` or :func:`write_files` and adds what is particular to its
case: a link, a byte that is not text, a file of the wrong encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def config_map(name: str) -> str:
    """A ConfigMap without data, the good part of most cases' manifests."""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


CONFIG_MAP = config_map("settings")

CONFIG_MAP_KUSTOMIZATION = "resources: [configmap.yaml]\n"
"""A kustomization file that lists ``configmap.yaml``."""

OUTSIDE_KUSTOMIZATION = "outside-kustomization.yaml"
"""The file beside the tree that :func:`outside_kustomization` writes."""


def config_map_with_value(value: bytes) -> bytes:
    """The ConfigMap ``settings`` whose one value is ``value``, which text may not hold."""
    return CONFIG_MAP.encode() + b"data:\n  key: " + value + b"\n"


def write_files(folder: Path, files: Mapping[str, str | bytes]) -> Path:
    """``folder``, made, with ``files`` (name to content) in it: text as text, bytes as they
    are. Returns the folder, for the links a case adds."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    return folder


def write_app(
    dest: Path, manifest: str | bytes = CONFIG_MAP, kustomization: str | bytes | None = None
) -> Path:
    """``dest/app``, the folder most cases build, holding ``configmap.yaml`` (``manifest``)
    and, when given, ``kustomization.yaml``. Returns the folder, for the links a case adds."""
    files = {"configmap.yaml": manifest}
    if kustomization is not None:
        files["kustomization.yaml"] = kustomization
    return write_files(dest / "app", files)


def outside_kustomization(dest: Path) -> Path:
    """A kustomization file beside the tree, outside what is built, for a case's link to
    point at; the build must neither read nor write it."""
    file = dest.parent / OUTSIDE_KUSTOMIZATION
    file.write_text(CONFIG_MAP_KUSTOMIZATION)
    return file


def billion_laughs(head: str, depth: int = 9) -> str:
    """``head``, whole lines, followed by ``depth`` levels of nine aliases of the level
    before: 9^depth strings once a YAML parser expands them."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, depth):
        levels.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return head + "\n".join(levels) + "\n"
