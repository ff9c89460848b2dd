"""Which object a log line is about, without passing it to every log call.

The controller manager sets :data:`reconciling` around each reconcile (a context
variable, so each worker task and the threads it starts see their own object);
:class:`ObjectLogFilter` copies it onto every log record as ``record.object_ref``
(``Kind/namespace/name``, or empty), which both log formats of ``lockstep run``
print and ``lockstep logs`` filters on.

Used by :mod:`lockstep.controllers.manager` and :mod:`lockstep.cli.run`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class LoggedObject:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind}/{self.name}"
        )


reconciling: ContextVar[LoggedObject | None] = ContextVar("reconciling", default=None)


@contextmanager
def logging_about(kind: str, namespace: str, name: str) -> Iterator[None]:
    """Within the block, log records name this object."""
    token = reconciling.set(LoggedObject(kind, namespace, name))
    try:
        yield
    finally:
        reconciling.reset(token)


class ObjectLogFilter(logging.Filter):
    """Adds ``object_ref`` (the object being reconciled, or ``None``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.object_ref = reconciling.get()
        return True
