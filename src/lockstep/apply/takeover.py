"""Taking over the fields kubectl or Flux wrote, so that lockstep is their only applier.

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

Objects that Flux applied carry the apply entry of Flux's field manager
(``kustomize-controller``, :data:`PREDECESSOR_MANAGERS`). Adopting them must
change nothing that Git did not change, so that entry is left alone while every
field it owns is declared by lockstep's own apply too (the dry-run's entry of
lockstep tells which) or is one the API server would put back by itself (see
:func:`drops_fields`): the object is then not written at all. Once Git drops a
field that entry owns, it is taken over like kubectl's, and the apply removes
the field, as Flux itself would have.

Objects annotated ``kustomize.toolkit.fluxcd.io/ssa: Merge`` are not taken over:
fields other tools set on them are kept.

Called by :mod:`lockstep.apply.plan`: :func:`needs_take_over` while planning, to
report the object configured; by :mod:`lockstep.apply.apply`: :func:`take_over`
when writing, just before the apply.
"""

from __future__ import annotations

import copy
import json
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

# Appliers lockstep succeeds: their apply entries are taken over once Git drops a
# field they own (see the module's docstring).
PREDECESSOR_MANAGERS: tuple[str, ...] = ("kustomize-controller",)

TAKE_OVER_ATTEMPTS = 3

_LAST_APPLIED_POINTER = "/metadata/annotations/" + LAST_APPLIED_ANNOTATION.replace("/", "~1")


def needs_take_over(
    live: Mapping[str, Any], field_manager: str, dry_run: Mapping[str, Any] | None = None
) -> bool:
    """Whether ``live`` has fields of kubectl's managers or its last-applied annotation,
    or a predecessor's apply entry owns a field that ``dry_run`` (the object as
    ``field_manager``'s apply would leave it) shows ``field_manager`` not declaring."""
    if take_over_patch(live, field_manager):
        return True
    if dry_run is None:
        return False
    declared = _own_apply_fields(dry_run, field_manager)
    return any(
        drops_fields(entry.get("fieldsV1") or {}, declared, live)
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if _is_predecessor(entry)
    )


def take_over_patch(
    live: Mapping[str, Any], field_manager: str, predecessors: bool = False
) -> list[KubeObject]:
    """The JSON patch that hands ``live``'s kubectl fields to ``field_manager``; empty when none.

    With ``predecessors``, the apply entries of :data:`PREDECESSOR_MANAGERS` are
    handed over too. The patch first tests the resourceVersion, so it fails
    rather than overwrite the field ownership of a write it has not seen.
    """
    metadata = live.get("metadata") or {}
    entries: list[KubeObject] = metadata.get("managedFields") or []
    annotations = metadata.get("annotations") or {}
    operations: list[KubeObject] = []
    if any(_is_taken_over(entry, field_manager, predecessors) for entry in entries):
        operations.append(
            {
                "op": "replace",
                "path": "/metadata/managedFields",
                "value": _merged_entries(entries, field_manager, predecessors),
            }
        )
    if LAST_APPLIED_ANNOTATION in annotations:
        operations.append({"op": "remove", "path": _LAST_APPLIED_POINTER})
    if not operations:
        return []
    resource_version = metadata.get("resourceVersion", "")
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
    return [test, *operations]


async def take_over(kube: KubeClient, ref: ObjectRef, field_manager: str) -> None:
    """Patch the object as it is now, read again: it may have changed since it was planned;
    the taken-over fields go to ``field_manager`` (the owner's).

    Called only for an object planned to be taken over, so the predecessors'
    apply entries are handed over too. A write in between (a controller updating
    the status) fails the patch's test; the object is then read and patched
    again, a few times.
    """
    for attempt in range(1, TAKE_OVER_ATTEMPTS + 1):
        patch = take_over_patch(await kube.get(ref), field_manager, predecessors=True)
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


def drops_fields(owned: Mapping[str, Any], declared: Mapping[str, Any], live: Any) -> bool:
    """Whether ``owned`` (a ``fieldsV1`` tree of ``live``) holds a field that ``declared``
    lacks and whose removal would change the object.

    Flux applies objects normalized through Kubernetes' typed structs, which writes
    empty structs (``strategy: {}``, a container's ``resources: {}``) and the
    default ``protocol: TCP`` of ports; a field of that kind left out of Git is
    what the API server puts back anyway, so it does not count. Nor does a field
    the object no longer has.
    """
    for key, subtree in owned.items():
        if key == ".":
            # The node itself: its parent's presence in ``declared`` decides.
            continue
        value = _child(live, key)
        if value is _ABSENT:
            continue
        if subtree:
            if drops_fields(subtree, declared.get(key) or {}, value):
                return True
        elif key not in declared and not _restored_by_the_server(key, value):
            return True
    return False


_ABSENT = object()


def _child(live: Any, key: str) -> Any:
    """The value a ``fieldsV1`` key names inside ``live`` (``_ABSENT`` when there is none)."""
    kind, _, name = key.partition(":")
    if kind == "f" and isinstance(live, Mapping):
        return live.get(name, _ABSENT)
    if kind in ("k", "v") and isinstance(live, list):
        try:
            wanted = json.loads(name)
        except ValueError:
            return _ABSENT
        for item in live:
            if kind == "v" and item == wanted:
                return item
            if (
                kind == "k"
                and isinstance(item, Mapping)
                and isinstance(wanted, Mapping)
                and all(item.get(field) == part for field, part in wanted.items())
            ):
                return item
    return _ABSENT


def _restored_by_the_server(key: str, value: Any) -> bool:
    if isinstance(value, Mapping):
        # Owned as a whole but none of its fields: a struct the server fills in itself.
        return True
    return key == "f:protocol" and value == "TCP"


def _own_apply_fields(obj: Mapping[str, Any], field_manager: str) -> Mapping[str, Any]:
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if _is_own_apply(entry, field_manager):
            fields: Mapping[str, Any] = entry.get("fieldsV1") or {}
            return fields
    return {}


def _is_predecessor(entry: Mapping[str, Any]) -> bool:
    return (
        entry.get("manager") in PREDECESSOR_MANAGERS
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    )


def _is_taken_over(
    entry: Mapping[str, Any], field_manager: str, predecessors: bool = False
) -> bool:
    if entry.get("subresource"):
        return False
    if predecessors and _is_predecessor(entry):
        return True
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


def _merged_entries(
    entries: list[KubeObject], field_manager: str, predecessors: bool
) -> list[KubeObject]:
    """``entries`` with the taken-over ones folded into one apply entry of ``field_manager``.

    The API server accepts a single entry per manager and operation, so the
    field sets are merged, not merely renamed; lockstep's own apply entry, if
    there is one, gives the merged entry its apiVersion.
    """
    folded: list[KubeObject] = []
    kept: list[KubeObject] = []
    for entry in entries:
        taken = _is_own_apply(entry, field_manager) or _is_taken_over(
            entry, field_manager, predecessors
        )
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
