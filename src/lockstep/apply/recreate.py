"""Changes the API server refuses because a field is immutable: explain them, or recreate.

A Job's ``spec.template``, a Deployment's ``spec.selector`` or a Service's
``spec.clusterIP`` cannot change once set; the dry-run of such a change fails
with 422 Invalid. When recreation is asked for (:class:`ApplyOptions`
``recreate_immutable``, Flux's ``spec.force``, or the owner's annotation on
the object, ``kustomize.toolkit.fluxcd.io/force: enabled`` for Flux), the object is
first validated as a new one, so that a replacement that would be refused too
never costs the original; only when every dry-run of the stage has passed is the
live object deleted, waited for until it is gone, and created again by apply.
Otherwise the set fails with a message naming the fields and what to do (the
owner's ``recreate_hint``).

Called by :mod:`lockstep.apply.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lockstep.kube import Conflict, Invalid, KubeClient, KubeError, ObjectRef

# How the API server, CEL rules and admission webhooks word an immutable field.
_IMMUTABLE = re.compile(r"is immutable|immutable field|may not change once set", re.IGNORECASE)

# One field error of an aggregated Invalid message: "spec.template: Invalid value: ...".
_FIELD_ERROR = re.compile(
    r"(?:is invalid: \[?|, )(?P<field>[A-Za-z_$][\w.$/\[\]-]*): "
    r"(?:Invalid value|Forbidden|Required value|Unsupported value|Duplicate value"
    r"|Not found|Too long|Too many|Internal error)"
)


def is_immutable_error(error: KubeError) -> bool:
    return isinstance(error, Invalid) and _IMMUTABLE.search(error.message) is not None


def immutable_fields(message: str) -> list[str]:
    """The fields an Invalid message says are immutable, each once, in order."""
    starts = list(_FIELD_ERROR.finditer(message))
    fields: list[str] = []
    for immutable in _IMMUTABLE.finditer(message):
        before = [start for start in starts if start.start() < immutable.start()]
        if before and before[-1].group("field") not in fields:
            fields.append(before[-1].group("field"))
    return fields


def immutable_failure(ref: ObjectRef, error: KubeError, hint: str) -> str:
    """``Job/apps/migrate dry-run failed: spec.template is immutable; <hint>``, where the
    hint says how the owner asks for recreation (``set spec.force: true ...``)."""
    fields = immutable_fields(error.message)
    if not fields:
        return f"{ref} dry-run failed: {error.message}; {hint}"
    verb = "is" if len(fields) == 1 else "are"
    return f"{ref} dry-run failed: {', '.join(fields)} {verb} immutable; {hint}"


async def replacement_failure(kube: KubeClient, desired: Mapping[str, Any]) -> str:
    """Why ``desired`` could not be created once the live object is gone; empty when it could."""
    try:
        await kube.create_dry_run(desired)
    except Conflict:
        # The API server answers "already exists" only after validation and admission passed.
        return ""
    except KubeError as error:
        return f"{ObjectRef.of(desired)} dry-run failed: {error.message}"
    return ""
