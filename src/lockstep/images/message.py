"""The commit message of an ImageUpdateAutomation, rendered from
``spec.git.commit.messageTemplate`` as Flux's image-automation-controller renders it.

The ImageUpdateAutomation controller calls :func:`render_commit_message` once it has
rewritten the files, with the changes :func:`lockstep.images.setters.rewrite` reported
per file. The template is Go text/template with sprig's hermetic functions (see
:mod:`lockstep.gotemplate`, written by hand: no maintained Python library runs Go
templates), executed on data shaped like Flux's ``TemplateData``:

- ``.AutomationObject``: the automation's namespace and name (``{{ .AutomationObject }}``
  prints ``namespace/name``; ``.Namespace`` and ``.Name`` work).
- ``.Changed.FileChanges``: file path -> object -> changes, the path relative to
  ``spec.update.path`` as Flux keys it (Flux walks that directory and names files from
  it). An object prints as ``{{{apps/v1 Deployment} {web default}}}`` and has ``.Kind``,
  ``.Name``, ``.Namespace`` and ``.APIVersion``; a change has ``.OldValue``,
  ``.NewValue`` and ``.Setter`` (``namespace:policy``, with ``:tag``, ``:name`` or
  ``:digest`` for a partial marker).
- ``.Changed.Objects``: object -> changes across files; ``.Changed.Changes``: every
  distinct change.
- ``.Values``: ``spec.git.commit.messageTemplateValues``.

Ranging over a map follows Go's sorted order. Where Go's order is random, this is
deterministic: ``.Changed.Changes`` lists files by path, objects in map order, changes in
file order; ``.Changed.Objects`` keeps, for an object found in several files, the
changes of the last file by path (Flux keeps one file's at random). A changed value
outside any object (a document without ``kind``) is listed under an empty identifier.

Errors::

    ValueError
    └── TemplateError   the template does not parse or fails to run; one line
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lockstep.gotemplate import ExecError, GoMap, GoSlice, GoStruct, ParseError, parse
from lockstep.images.setters import Change, ObjectRef

__all__ = ["DEFAULT_TEMPLATE", "TemplateError", "render_commit_message"]

DEFAULT_TEMPLATE = "Update from image update automation"
"""Flux's message when ``spec.git.commit.messageTemplate`` is empty."""

_TEMPLATE_NAME = "commit message"  # the name Go's errors cite, as in Flux
_GUIDE = "https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"
# Fields Flux removed: the error Go gives for them, and what to write instead.
_REMOVED_FIELDS = (
    ("can't evaluate field Updated in type source.TemplateData", ".Updated", ".Changed"),
    (
        "can't evaluate field ImageResult in type update.Result",
        ".Changed.ImageResult",
        ".Changed.FileChanges or .Changed.Objects",
    ),
)


class TemplateError(ValueError):
    """The commit message template does not parse or fails to run. The message is one
    line saying what is wrong and where in the template; it does not name the field,
    which callers put before it (``spec.git.commit.messageTemplate: ...``)."""


def render_commit_message(
    template: str | None,
    *,
    automation: tuple[str, str],
    changes: Mapping[str, Sequence[Change]],
    values: Mapping[str, str],
) -> str:
    """The commit message for ``changes``, keyed by file path relative to
    ``spec.update.path`` with each file's changes in file order, made by the
    automation ``(namespace, name)``; ``values`` are ``messageTemplateValues``.

    An empty or missing template gives :data:`DEFAULT_TEMPLATE`. Raises
    :class:`TemplateError`.
    """
    try:
        parsed = parse(_TEMPLATE_NAME, template or DEFAULT_TEMPLATE)
    except ParseError as error:
        raise TemplateError(_one_line(f"cannot parse: {error}")) from None
    data = _TemplateData(
        _NamespacedName(*automation),
        _Result(_file_changes(changes)),
        GoMap(values, "map[string]string", elem_zero=""),
    )
    try:
        return parsed.execute(data)
    except ExecError as error:
        for go_error, removed, replacement in _REMOVED_FIELDS:
            if go_error in str(error):
                message = f"uses {removed}, which Flux removed: use {replacement} (see {_GUIDE})"
                raise TemplateError(message) from None
        raise TemplateError(_one_line(f"cannot render: {error}")) from None


def _one_line(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


# Flux's types, as the template sees them


@dataclass(frozen=True)
class _NamespacedName(GoStruct):
    go_type = "types.NamespacedName"
    go_methods = ("String",)

    Namespace: str
    Name: str

    def String(self) -> str:
        return f"{self.Namespace}/{self.Name}"

    def go_string(self) -> str:
        return self.String()


@dataclass(frozen=True)
class _TypeMeta(GoStruct):
    go_type = "yaml.TypeMeta"
    go_json_names: ClassVar[dict[str, str]] = {
        "APIVersion": "apiVersion,omitempty",
        "Kind": "kind,omitempty",
    }

    APIVersion: str
    Kind: str


@dataclass(frozen=True)
class _NameMeta(GoStruct):
    go_type = "yaml.NameMeta"
    go_json_names: ClassVar[dict[str, str]] = {
        "Name": "name,omitempty",
        "Namespace": "namespace,omitempty",
    }

    Name: str
    Namespace: str


@dataclass(frozen=True)
class _ResourceIdentifier(GoStruct):
    """kyaml's ResourceIdentifier: TypeMeta and NameMeta embedded."""

    go_type = "yaml.ResourceIdentifier"
    go_embedded = ("TypeMeta", "NameMeta")

    type_meta: _TypeMeta
    name_meta: _NameMeta

    def go_fields(self) -> list[tuple[str, Any]]:
        return [("TypeMeta", self.type_meta), ("NameMeta", self.name_meta)]


@dataclass(frozen=True)
class _ObjectIdentifier(GoStruct):
    go_type = "update.ObjectIdentifier"
    go_embedded = ("ResourceIdentifier",)

    ResourceIdentifier: _ResourceIdentifier

    @classmethod
    def of(cls, ref: ObjectRef | None) -> _ObjectIdentifier:
        ref = ref or ObjectRef(api_version="", kind="", name="", namespace="")
        return cls(
            _ResourceIdentifier(
                _TypeMeta(ref.api_version, ref.kind), _NameMeta(ref.name, ref.namespace)
            )
        )


@dataclass(frozen=True)
class _Change(GoStruct):
    go_type = "update.Change"

    OldValue: str
    NewValue: str
    Setter: str


_CHANGES = "[]update.Change"
_OBJECT_CHANGES = "update.ObjectChanges"


def _object_changes(items: Mapping[_ObjectIdentifier, list[_Change]]) -> GoMap:
    return GoMap(
        {obj: GoSlice(found, _CHANGES) for obj, found in items.items()},
        _OBJECT_CHANGES,
        key_type="update.ObjectIdentifier",
        elem_zero=GoSlice([], _CHANGES),
    )


@dataclass(frozen=True)
class _Result(GoStruct):
    """update.Result, with its methods Changes and Objects."""

    go_type = "update.Result"
    go_methods = ("Changes", "Objects")

    FileChanges: GoMap

    def Changes(self) -> GoSlice:
        distinct: dict[_Change, None] = {}
        for path in sorted(self.FileChanges):
            objects = self.FileChanges[path]
            for obj in sorted(objects, key=_sort_key):
                distinct.update(dict.fromkeys(objects[obj]))
        return GoSlice(distinct, _CHANGES)

    def Objects(self) -> GoMap:
        merged: dict[_ObjectIdentifier, list[_Change]] = {}
        for path in sorted(self.FileChanges):
            merged.update({obj: list(found) for obj, found in self.FileChanges[path].items()})
        return _object_changes(merged)


@dataclass(frozen=True)
class _TemplateData(GoStruct):
    go_type = "source.TemplateData"

    AutomationObject: _NamespacedName
    Changed: _Result
    Values: GoMap


def _sort_key(obj: _ObjectIdentifier) -> tuple[str, str, str, str]:
    type_meta, name_meta = obj.ResourceIdentifier.type_meta, obj.ResourceIdentifier.name_meta
    return type_meta.APIVersion, type_meta.Kind, name_meta.Name, name_meta.Namespace


def _file_changes(changes: Mapping[str, Sequence[Change]]) -> GoMap:
    files: dict[str, GoMap] = {}
    for path, file_changes in changes.items():
        if not file_changes:
            continue
        objects: dict[_ObjectIdentifier, list[_Change]] = {}
        for change in file_changes:
            obj = _ObjectIdentifier.of(change.object)
            objects.setdefault(obj, []).append(
                _Change(change.old_value, change.new_value, change.setter)
            )
        files[path] = _object_changes(objects)
    return GoMap(files, "map[string]update.ObjectChanges", elem_zero=_object_changes({}))
