"""The notification family: the Receiver reconciler and the webhooks it serves.

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.notification.receiver import ReceiverReconciler, Webhooks

__all__ = ["ReceiverReconciler", "Webhooks"]
