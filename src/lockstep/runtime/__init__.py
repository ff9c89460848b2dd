"""The controller runtime: what every reconciler runs on.

- :mod:`~lockstep.runtime.informer`: list + watch into an in-memory cache that
  reconcilers read, with resume, bookmarks and relist on expiry;
- :mod:`~lockstep.runtime.queue`: keys deduplicated, delayed, backed off on
  failure and handed to a bounded set of workers, with time from an injectable
  :mod:`~lockstep.runtime.clock`;
- :mod:`~lockstep.runtime.leader`: leader election on a Lease for replicas;
- :mod:`~lockstep.runtime.metrics`: Prometheus metrics and health state;
- :mod:`~lockstep.runtime.secrets`: the Secrets an object names, read and decoded.

Controllers build one :class:`WorkQueue` each, feed it from an informer and
``run`` it with their reconcile function.
"""

from lockstep.runtime.clock import Clock, LoopClock, Timer
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.runtime.leader import LeaderElector, LeadershipLost
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
    "LeaderElector",
    "LeadershipLost",
    "LoopClock",
    "ObjectCache",
    "ObjectKey",
    "Outcome",
    "QueueShutDown",
    "Success",
    "TerminalFailure",
    "Timer",
    "TransientFailure",
    "WorkQueue",
    "Worker",
]
