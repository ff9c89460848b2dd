"""The resident Kustomize build service: kustomization folders built as Flux builds them,
in long-running processes, instead of one ``kubectl kustomize`` per build.

Starting ``kubectl kustomize`` costs about 50 ms of CPU per build, which on a monorepo
of a thousand folders is most of a reconciliation's cost; the same build in a running
process costs a couple of milliseconds. The program is the Go module in
``gomod/kustomizer``: Kustomize's library run as Flux's kustomize-controller runs it
(its options, and its file system confined to the artifact root from
``github.com/fluxcd/pkg/kustomize``, at the versions Flux pins), so a build reads what
Flux's reads (any file under the artifact root, nothing outside it) and prints what it
prints; its docstring says where it departs from Flux's build function (the OpenAPI
schema is reset only around the builds that change it). Built once from its pinned
``go.sum`` and cached (:mod:`lockstep.gobuild`); ``make install`` and ``lockstep run``
build it ahead of the first build.

:class:`Kustomizer` keeps up to ``processes`` of them, each building one folder at a
time (Kustomize's library is not safe for concurrent builds), started on demand, as a
:class:`~lockstep.render.resident.ResidentPool` (:mod:`lockstep.render.resident`):

- :meth:`Kustomizer.build` hands a folder and its artifact root to an idle process and
  returns what Kustomize printed, or raises :class:`KustomizeError` with its message;
- a build not answered by its deadline kills its process group (a new process starts
  for the next build) and raises :class:`BuildDeadline`; a process that dies is
  replaced the same way, and its build fails naming the exit;
- every process is bounded by the engine's :class:`~lockstep.render.process.BuildLimits`
  (:mod:`lockstep.render.process`): a build that goes past the memory limit, or past
  the CPU time one build may use, ends its process and raises
  :class:`~lockstep.render.process.LimitExceeded` ("exceeded the build memory limit of
  1024 MiB"); an answer longer than
  :data:`~lockstep.render.resident.MAX_ANSWER_BYTES` does too, so the engine
  never holds more of a build's output than that. Other processes, and the builds
  after, are not affected;
- the processes end with the engine: they read requests from a pipe and exit when
  it closes.

:func:`shared_kustomizer` is the one pool of the engine (one process per core, at
most four, bounded by :func:`lockstep.render.process.build_limits`), used by
:mod:`lockstep.render.kustomize`. Thread-safe: builds run in the reconcilers' thread
pool.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from lockstep.gobuild import built_program
from lockstep.render.process import BuildLimits, build_limits
from lockstep.render.resident import MAX_ANSWER_BYTES, BuildDeadline, ResidentPool, Service

__all__ = [
    "MAX_ANSWER_BYTES",
    "BuildDeadline",
    "KustomizeError",
    "Kustomizer",
    "ServiceFailed",
    "kustomizer_program",
    "shared_kustomizer",
]

PROGRAM_MODULE = Path(__file__).parent / "gomod" / "kustomizer"
PROGRAM_NAME = "kustomizer"
WHAT = "the Kustomize build service"
MAX_PROCESSES = 4


class KustomizeError(Exception):
    """Kustomize refused the build; the message is Kustomize's."""


class ServiceFailed(KustomizeError):
    """The build service could not start, or ended without an answer: not the build's
    fault, so another try may succeed."""


SERVICE = Service(what=WHAT, task="build", failed=ServiceFailed)


def kustomizer_program() -> Path:
    """The built program, built first when not cached (raises
    :class:`lockstep.gobuild.GoBuildError`)."""
    return built_program(PROGRAM_MODULE, PROGRAM_NAME, WHAT)


class Kustomizer(ResidentPool):
    """A pool of build processes; see the module docstring."""

    def __init__(self, program: Path, processes: int, limits: BuildLimits | None = None) -> None:
        super().__init__(program, processes, limits, SERVICE)

    def build(self, folder: Path, root: Path, deadline: float, *, schema: bool = False) -> str:
        """What Kustomize prints for ``folder``, reading only under ``root``, built
        before ``deadline`` (a :func:`time.monotonic` instant); ``schema``: the build's
        kustomizations change Kustomize's OpenAPI schema (``openapi``, ``crds``)."""
        request = {"root": str(root), "dir": str(folder), "schema": schema}
        answer = self.ask(request, deadline)
        if "error" in answer:
            raise KustomizeError(answer["error"])
        return str(answer["output"])


_shared: Kustomizer | None = None
_shared_lock = threading.Lock()


def shared_kustomizer() -> Kustomizer:
    """The engine's pool: one process per core, at most :data:`MAX_PROCESSES`, each
    bounded by the engine's :func:`~lockstep.render.process.build_limits`."""
    global _shared
    with _shared_lock:
        if _shared is None:
            processes = min(MAX_PROCESSES, os.cpu_count() or 1)
            _shared = Kustomizer(kustomizer_program(), processes, build_limits())
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    print(kustomizer_program())
