"""The controller runtime: what every reconciler runs on.

For now the work queue (:mod:`lockstep.runtime.queue`): keys deduplicated,
delayed, backed off on failure and handed to a bounded set of workers, with
time from an injectable :mod:`~lockstep.runtime.clock`. Controllers build one
:class:`WorkQueue` each, feed it from their watches and ``run`` it with their
reconcile function.
"""

from lockstep.runtime.clock import Clock, LoopClock, Timer
from lockstep.runtime.queue import (
    Backoff,
    Outcome,
    QueueShutDown,
    Success,
    TerminalFailure,
    TransientFailure,
    Worker,
    WorkQueue,
)

__all__ = [
    "Backoff",
    "Clock",
    "LoopClock",
    "Outcome",
    "QueueShutDown",
    "Success",
    "TerminalFailure",
    "Timer",
    "TransientFailure",
    "WorkQueue",
    "Worker",
]
