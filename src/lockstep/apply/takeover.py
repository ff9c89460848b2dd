"""Taking over the fields kubectl wrote, so that lockstep is their only applier.

``kubectl apply`` (client-side), ``kubectl edit``, ``patch``, ``label`` ... record
the fields they set under managers of their own (``kubectl-client-side-apply``,
``kubectl-edit`` ..., operation ``Update``; ``before-first-apply`` for objects
older than managed fields), and ``kubectl apply`` leaves the
``kubectl.kubernetes.io/last-applied-configuration`` annotation. Server-side apply
removes a field that an applier stops declaring only when no other manager owns
it, so a field created with kubectl and later dropped from Git would stay for
ever, and a value changed with kubectl would not be reverted. Before lockstep
applies such an object, one JSON patch merges those managers' field sets into
lockstep's own apply entry and removes the annotation; the apply that follows
then owns every field alone and removes what Git no longer declares. Entries of
subresources (``kubectl scale`` writes ``/scale``) are left alone.

Objects annotated ``kustomize.toolkit.fluxcd.io/ssa: Merge`` are not taken over:
fields other tools set on them are kept.

Called by :mod:`lockstep.apply.apply`: :func:`needs_take_over` while planning, to
report the object configured; :func:`take_over` when writing, just before the
apply.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lockstep.kube import Invalid, KubeClient, KubeObject, ObjectRef

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

# (manager name prefix, operation) of the entries merged into lockstep's own.
TAKEN_OVER_MANAGERS: tuple[tuple[str, str], ...] = (
    ("kubectl", "Update"),
    ("kubectl", "Apply"),
    ("before-first-apply", "Update"),
)

TAKE_OVER_ATTEMPTS = 3

_LAST_APPLIED_POINTER = "/metadata/annotations/" + LAST_APPLIED_ANNOTATION.replace("/", "~1")


def needs_take_over(live: Mapping[str, Any], field_manager: str) -> bool:
    """Whether ``live`` has fields of kubectl's managers or its last-applied annotation."""
    return bool(take_over_patch(live, field_manager))


def take_over_patch(live: Mapping[str, Any], field_manager: str) -> list[KubeObject]:
    """The JSON patch that hands ``live``'s kubectl fields to ``field_manager``; empty when none.

    The patch first tests the resourceVersion, so it fails rather than overwrite
    the field ownership of a write it has not seen.
    """
    metadata = live.get("metadata") or {}
    entries: list[KubeObject] = metadata.get("managedFields") or []
    annotations = metadata.get("annotations") or {}
    operations: list[KubeObject] = []
    if any(_is_taken_over(entry, field_manager) for entry in entries):
        operations.append(
            {
                "op": "replace",
                "path": "/metadata/managedFields",
                "value": _merged_entries(entries, field_manager),
            }
        )
    if LAST_APPLIED_ANNOTATION in annotations:
        operations.append({"op": "remove", "path": _LAST_APPLIED_POINTER})
    if not operations:
        return []
    resource_version = metadata.get("resourceVersion", "")
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
    return [test, *operations]


async def take_over(kube: KubeClient, ref: ObjectRef) -> None:
    """Patch the object as it is now, read again: it may have changed since it was planned.

    A write in between (a controller updating the status) fails the patch's test;
    the object is then read and patched again, a few times.
    """
    for attempt in range(1, TAKE_OVER_ATTEMPTS + 1):
        patch = take_over_patch(await kube.get(ref), kube.field_manager)
        if not patch:
            return
        try:
            await kube.json_patch(ref, patch)
            return
        except Invalid as error:
            if attempt == TAKE_OVER_ATTEMPTS:
                raise Invalid(
                    f"the object changed during each of {attempt} attempts, or its managed "
                    f"fields were refused: {error.message}",
                    code=error.code,
                    reason=error.reason,
                ) from error


def merge_field_sets(first: Mapping[str, Any], second: Mapping[str, Any]) -> KubeObject:
    """The union of two ``fieldsV1`` trees: every field either of them owns."""
    merged: KubeObject = copy.deepcopy(dict(first))
    for key, subtree in second.items():
        merged[key] = merge_field_sets(merged.get(key) or {}, subtree or {})
    return merged


def _is_taken_over(entry: Mapping[str, Any], field_manager: str) -> bool:
    if entry.get("subresource"):
        return False
    manager = str(entry.get("manager", ""))
    operation = entry.get("operation")
    if manager == field_manager:
        # Writes lockstep made other than by apply (a create, a patch) become applied too.
        return operation == "Update"
    return any(
        manager.startswith(prefix) and operation == taken_operation
        for prefix, taken_operation in TAKEN_OVER_MANAGERS
    )


def _is_own_apply(entry: Mapping[str, Any], field_manager: str) -> bool:
    return (
        entry.get("manager") == field_manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    )


def _merged_entries(entries: list[KubeObject], field_manager: str) -> list[KubeObject]:
    """``entries`` with the taken-over ones folded into one apply entry of ``field_manager``.

    The API server accepts a single entry per manager and operation, so the
    field sets are merged, not merely renamed; lockstep's own apply entry, if
    there is one, gives the merged entry its apiVersion.
    """
    folded: list[KubeObject] = []
    kept: list[KubeObject] = []
    for entry in entries:
        taken = _is_own_apply(entry, field_manager) or _is_taken_over(entry, field_manager)
        (folded if taken else kept).append(entry)
    folded.sort(key=lambda entry: not _is_own_apply(entry, field_manager))
    fields: KubeObject = {}
    for entry in folded:
        fields = merge_field_sets(fields, entry.get("fieldsV1") or {})
    applied: KubeObject = {
        **folded[0],
        "manager": field_manager,
        "operation": "Apply",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    return [applied, *kept]
