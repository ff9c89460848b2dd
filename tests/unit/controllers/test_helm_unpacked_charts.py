"""The charts of OCIRepository artifacts a HelmRelease reconciler keeps unpacked: the
most recently used, never more than its bound."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from lockstep.controllers.helm import release
from lockstep.controllers.helm.release import HelmReleaseReconciler


def _reconciler(folder: Path) -> HelmReleaseReconciler:
    """A reconciler with only what eviction reads: its folder and its version memo."""
    reconciler = object.__new__(HelmReleaseReconciler)
    reconciler._unpacked = folder
    reconciler._oci_chart_versions = OrderedDict()
    return reconciler


def _unpack(reconciler: HelmReleaseReconciler, digest: str) -> None:
    (reconciler._unpacked / digest).mkdir()
    reconciler._evict_unpacked(keep=digest)
    reconciler._oci_chart_versions[digest] = "1.0.0"


def test_the_least_recently_used_charts_are_removed_beyond_the_bound(tmp_path: Path) -> None:
    reconciler = _reconciler(tmp_path)
    bound = release.MAX_UNPACKED_CHARTS
    for index in range(bound):
        _unpack(reconciler, f"d{index}")
    reconciler._oci_chart_versions.move_to_end("d0")  # used again: kept

    _unpack(reconciler, "new")

    kept = sorted(path.name for path in tmp_path.iterdir())
    assert len(kept) == bound
    assert "d0" in kept
    assert "new" in kept
    assert "d1" not in kept
    assert list(reconciler._oci_chart_versions)[-1] == "new"
