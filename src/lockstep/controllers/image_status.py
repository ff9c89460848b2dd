"""Ready reasons the image kinds share, as Flux's image controllers report them.

The image kinds (:mod:`lockstep.controllers.imagerepository`,
:mod:`lockstep.controllers.imagepolicy`,
:mod:`lockstep.controllers.imageupdateautomation`) run in the one reconciler shell
(:mod:`lockstep.controllers.shell`) and raise its
:class:`~lockstep.controllers.shell.Failure` with these reasons.
:func:`~lockstep.controllers.shell.invalid_object_message` is re-exported for the
Kustomization reconciler, which does not run in the shell yet.
"""

from __future__ import annotations

from lockstep.controllers.shell import invalid_object_message

__all__ = [
    "AUTHENTICATION_FAILED",
    "DEPENDENCY_NOT_READY",
    "READ_OPERATION_FAILED",
    "invalid_object_message",
]

DEPENDENCY_NOT_READY = "DependencyNotReady"
"""Reason of Ready=False while the ImageRepository of a policy has no tags to offer."""

AUTHENTICATION_FAILED = "AuthenticationFailed"
"""Reason of Ready=False when the registry credentials are missing, malformed or refused."""

READ_OPERATION_FAILED = "ReadOperationFailed"
"""Reason of Ready=False when the registry could not be read: unreachable, busy, failing."""
