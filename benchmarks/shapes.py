"""The fleet shapes of W1: how N Kustomizations of Flux's benchmark application are laid
out over Git repositories, paths and dependencies.

Each :class:`Shape` says what to commit to which repository (:meth:`Shape.files`, by
repository name, which is also the name of its GitRepository) and which Kustomizations
to create (:meth:`Shape.kustomizations`):

- ``w1a`` one shared path: one repository, every Kustomization reads ``./app`` and a
  postBuild variable makes the names unique (W1 as it has always been);
- ``w1b`` monorepo: one repository of ``max(1000, N)`` folders ``apps/app-NNNN/``, each
  with its own ``kustomization.yaml`` and the application with its index written in,
  one folder per Kustomization, no postBuild;
- ``w1c`` many sources: N/10 repositories that each hold the application, 10
  Kustomizations on each;
- ``w1d`` dependency chain: one repository as ``w1a``, 10 levels of ``dependsOn``, N/10
  wide: the Kustomization of a column at level L > 0 depends on that column's at L - 1.

Pure data: :mod:`benchmarks.fleet` commits and creates it, for W1's workloads and
``benchmarks/compare.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.fluxapp import APP, APP_PATH, app_kustomization, kustomization
from lockstep.kube import KubeObject

MONOREPO_FOLDERS = 1000
KUSTOMIZATIONS_PER_SOURCE = 10
LEVELS = 10
INTERVAL = "60m"
SHARED_SOURCE = "app"
MONOREPO_SOURCE = "apps"

FOLDER_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - app.yaml
"""

Files = dict[str, dict[str, str]]
"""File contents by path, by repository name."""


@dataclass(frozen=True)
class Shape:
    """One layout of a fleet of N copies of the application."""

    key: str
    title: str
    files: Callable[[int], Files]
    """What to commit, for N Kustomizations."""
    kustomizations: Callable[[int, str], list[KubeObject]]
    """The N Kustomizations, in a namespace."""
    levels: int = 1
    """Levels of ``dependsOn``: each level waits for the one before to be Ready."""


def shared_app_files(_size: int) -> Files:
    return {SHARED_SOURCE: {f"{APP_PATH}/app.yaml": APP}}


def shared_path_kustomizations(size: int, namespace: str) -> list[KubeObject]:
    return [
        app_kustomization(index, namespace, SHARED_SOURCE, interval=INTERVAL)
        for index in range(size)
    ]


def folder(index: int) -> str:
    """The monorepo folder of copy ``index``."""
    return f"apps/app-{index:04d}"


def monorepo_files(size: int) -> Files:
    """``max(1000, size)`` folders, each a Kustomize application of its own copy."""
    files: dict[str, str] = {}
    for index in range(max(MONOREPO_FOLDERS, size)):
        files[f"{folder(index)}/kustomization.yaml"] = FOLDER_KUSTOMIZATION
        files[f"{folder(index)}/app.yaml"] = APP.replace("${INDEX}", str(index))
    return {MONOREPO_SOURCE: files}


def monorepo_kustomizations(size: int, namespace: str) -> list[KubeObject]:
    return [
        kustomization(f"app-{index}", namespace, MONOREPO_SOURCE, f"./{folder(index)}", INTERVAL)
        for index in range(size)
    ]


def source_of(index: int) -> str:
    """The repository (and GitRepository) of copy ``index`` when sources are many."""
    return f"app-source-{index // KUSTOMIZATIONS_PER_SOURCE}"


def many_sources_files(size: int) -> Files:
    sources = math.ceil(size / KUSTOMIZATIONS_PER_SOURCE)
    return {
        source_of(index * KUSTOMIZATIONS_PER_SOURCE): {f"{APP_PATH}/app.yaml": APP}
        for index in range(sources)
    }


def many_sources_kustomizations(size: int, namespace: str) -> list[KubeObject]:
    return [
        app_kustomization(index, namespace, source_of(index), interval=INTERVAL)
        for index in range(size)
    ]


def dependency_of(index: int, size: int) -> int | None:
    """The copy that copy ``index`` depends on in a chain of ``LEVELS`` levels, if any.

    Copies are laid out level by level, ``ceil(size / LEVELS)`` columns wide: copy ``i`` is
    at level ``i // columns`` and depends on the copy one level up in its column.
    """
    columns = math.ceil(size / LEVELS)
    return index - columns if index >= columns else None


def chain_kustomizations(size: int, namespace: str) -> list[KubeObject]:
    objects = shared_path_kustomizations(size, namespace)
    for index, obj in enumerate(objects):
        above = dependency_of(index, size)
        if above is not None:
            obj["spec"]["dependsOn"] = [{"name": f"app-{above}"}]
    return objects


SHAPES = {
    shape.key: shape
    for shape in (
        Shape("w1a", "one shared path", shared_app_files, shared_path_kustomizations),
        Shape("w1b", "monorepo, a folder each", monorepo_files, monorepo_kustomizations),
        Shape(
            "w1c",
            f"many sources, {KUSTOMIZATIONS_PER_SOURCE} Kustomizations each",
            many_sources_files,
            many_sources_kustomizations,
        ),
        Shape(
            "w1d",
            f"dependency chain, {LEVELS} levels",
            shared_app_files,
            chain_kustomizations,
            levels=LEVELS,
        ),
    )
}
