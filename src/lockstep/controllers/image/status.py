"""Ready reasons the image kinds share, as Flux's image controllers report them.

The image kinds (:mod:`lockstep.controllers.image.repository`,
:mod:`lockstep.controllers.image.policy`,
:mod:`lockstep.controllers.image.update`) run in the one reconciler shell
(:mod:`lockstep.controllers.shell`) and raise its
:class:`~lockstep.controllers.shell.Failure` with these reasons.
"""

from __future__ import annotations

DEPENDENCY_NOT_READY = "DependencyNotReady"
"""Reason of Ready=False while the ImageRepository of a policy has no tags to offer."""

AUTHENTICATION_FAILED = "AuthenticationFailed"
"""Reason of Ready=False when the registry credentials are missing, malformed or refused."""

READ_OPERATION_FAILED = "ReadOperationFailed"
"""Reason of Ready=False when the registry could not be read: unreachable, busy, failing."""
