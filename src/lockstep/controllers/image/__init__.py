"""The image automation family: ImageRepository scans (:mod:`.repository`) fill the tag
store (:mod:`.tags`), ImagePolicies elect from it (:mod:`.policy`), and
ImageUpdateAutomations commit the elected images (:mod:`.update`).

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.image.policy import (
    ImagePolicyOptions,
    ImagePolicyReconciler,
    policies_for_repository,
)
from lockstep.controllers.image.repository import ImageRepositoryReconciler
from lockstep.controllers.image.tags import ImageTagStore
from lockstep.controllers.image.update import AutomationOptions, ImageUpdateAutomationReconciler

__all__ = [
    "AutomationOptions",
    "ImagePolicyOptions",
    "ImagePolicyReconciler",
    "ImageRepositoryReconciler",
    "ImageTagStore",
    "ImageUpdateAutomationReconciler",
    "policies_for_repository",
]
