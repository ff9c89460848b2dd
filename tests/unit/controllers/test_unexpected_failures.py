"""An exception no stage expected never escapes a reconcile: the shell turns it into a
retried ReconciliationFailed status with one line naming the object, and one log line
without a traceback; in the Kustomization's build it is the build's failure
(``BuildFailed``), naming the Kustomization and, for what a tenant commits, the file;
the Kustomization beside it builds."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

import pytest

from lockstep.controllers.kustomize import kustomization as kustomization_module
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.controllers.kustomize.kustomization import KustomizationOptions
from lockstep.controllers.shell import Failure, unexpected_error
from lockstep.runtime.queue import TransientFailure
from unit.controllers.test_kustomization_artifacts import (
    _artifact,
    _kustomization,
    _reconciler,
    artifacts,
)
from unit.controllers.test_shell import KEY, Setup, widget
from unit.render.test_content_bounds import laughs, nested
from unit.sources.test_artifact_fetch import Artifacts, sha256, tarball

__all__ = ["artifacts"]  # the fixture, used by name

GOOD = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n"
REPOSITORY = tarball(
    ("bomb/laughs.yaml", laughs().encode()),
    ("deep/deep.yaml", nested(5000).encode()),
    ("good/cm.yaml", GOOD),
)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


class Defect(RuntimeError):
    """What a bug in a stage raises."""


async def test_an_unexpected_exception_becomes_a_retried_failure_in_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = Setup(widget())
    defect = RecursionError("maximum recursion depth\nexceeded")
    setup.reconciler.pipeline = _failing_pipeline(defect)

    with caplog.at_level(logging.INFO):
        outcome = await setup.reconciler.reconcile(KEY)

    assert outcome == TransientFailure(max_delay=120)
    ready = setup.condition("Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ReconciliationFailed")
    assert ready["message"] == (
        "Widget apps/web: reconciliation failed unexpectedly: RecursionError: maximum "
        "recursion depth exceeded"
    )
    assert setup.events() == [("Warning", "ReconciliationFailed", ready["message"])]
    logged = [record.getMessage() for record in caplog.records]
    assert logged == [f"Widget apps/web ReconciliationFailed: {ready['message']}"]
    assert all(record.exc_info is None for record in caplog.records), "no traceback at INFO"


def test_an_unexpected_message_is_one_short_line() -> None:
    told = unexpected_error(Defect("x\n" * 1000))

    assert "\n" not in told
    assert told.startswith("Defect: x x x")
    assert len(told) < 320
    assert unexpected_error(Defect()) == "Defect"


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        (
            "bomb",
            "Kustomization apps/bomb: bomb/laughs.yaml: aliases expand to more than 100000 nodes",
        ),
        (
            "deep",
            "Kustomization apps/deep: deep/deep.yaml: nesting deeper than 100 levels at line 5",
        ),
    ],
)
def test_a_bad_folder_fails_the_build_naming_the_file_and_its_sibling_builds(
    artifacts: Artifacts, scratch: Path, folder: str, message: str
) -> None:
    artifacts.files["abc.tar.gz"] = REPOSITORY
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(REPOSITORY))
    engine = _reconciler(scratch, KustomizationOptions())

    with pytest.raises(Failure) as failed:
        engine._build(_kustomization(folder, f"./{folder}"), artifact, BuildInputs())
    good = engine._build(_kustomization("good", "./good"), artifact, BuildInputs())

    assert failed.value.reason == "BuildFailed"
    assert str(failed.value).startswith(message)
    assert "\n" not in str(failed.value)
    assert [obj["metadata"]["name"] for obj in good.objects] == ["good"]


def test_an_unexpected_exception_of_a_build_is_the_build_s_failure(
    artifacts: Artifacts, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts.files["abc.tar.gz"] = REPOSITORY
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(REPOSITORY))
    engine = _reconciler(scratch, KustomizationOptions())
    monkeypatch.setattr(kustomization_module, "render_objects", _failing(Defect("walked too far")))

    with pytest.raises(Failure) as failed:
        engine._build(_kustomization("good", "./good"), artifact, BuildInputs())

    assert failed.value.reason == "BuildFailed"
    assert str(failed.value) == (
        "Kustomization apps/good: building ./good failed: Defect: walked too far"
    )


def test_a_full_disk_under_a_build_is_told_naming_the_folder(
    artifacts: Artifacts, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts.files["abc.tar.gz"] = REPOSITORY
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(REPOSITORY))
    engine = _reconciler(scratch, KustomizationOptions())
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(kustomization_module, "render_objects", _failing(full))

    with pytest.raises(Failure) as failed:
        engine._build(_kustomization("good", "./good"), artifact, BuildInputs())

    assert failed.value.reason == "ArtifactFailed"
    assert str(failed.value).startswith(
        "Kustomization apps/good: no space left on device to extract revision main@sha1:abc "
        f"into {scratch / 'artifacts'} or to build ./good in "
    )


def _failing_pipeline(error: Exception) -> Any:
    async def pipeline(*args: Any) -> Any:
        raise error

    return pipeline


def _failing(error: Exception) -> Any:
    def render(*args: Any, **kwargs: Any) -> Any:
        raise error

    return render
