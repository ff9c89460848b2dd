"""Reading Kubernetes objects out of YAML text, with the file and line of every problem.

`load_documents` parses a multi-document YAML text into `Document` entries that keep
where each object was written; `reject_duplicates` refuses two entries for the same
object; `parse_documents` does both and returns the plain objects. `object_key` and
`describe` give an object's identity and its name in messages (``Deployment/apps/web``);
`yaml_problem` puts a parser's error on one line, for every reader of YAML.

Called by :mod:`lockstep.render.kustomize` to validate plain-YAML directories before a
build and to read what Kustomize printed, and by
:mod:`lockstep.render.substitute` to read an object back after substitution.

YAML is read the way Kubernetes reads it: timestamps stay strings (PyYAML's safe
loader would turn ``2024-01-01`` into a ``date``, which the API would then receive as a
different value, or not at all since it is not JSON). It is read with libyaml, the C
parser that PyYAML's wheels include: every object of every build and substitution goes
through here, and PyYAML's parser in Python is about eight times slower. Every text is
first checked against the ceilings of :mod:`lockstep.render.bounds` (nesting, aliases),
so that no object handed on is too deep for Python to walk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from lockstep.render.bounds import check_yaml
from lockstep.render.errors import DuplicateObject, InvalidManifest

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _ManifestLoader(yaml.CSafeLoader):
    """The safe loader without the implicit timestamp type."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class ObjectKey:
    """What makes an object unique in a cluster: group, kind, namespace and name."""

    group: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Document:
    """One object and where it was written."""

    obj: dict[str, Any]
    source: str
    line: int

    @property
    def location(self) -> str:
        """``file:line`` of the document's first line."""
        return f"{self.source}:{self.line}"


def object_key(obj: dict[str, Any]) -> ObjectKey:
    """The identity of a validated object; the group is empty for the core API."""
    group, _, _ = str(obj["apiVersion"]).rpartition("/")
    metadata = obj["metadata"]
    # A namespace written as a number or a boolean is text to Kustomize and in messages.
    namespace = metadata.get("namespace")
    return ObjectKey(
        group, obj["kind"], "" if namespace is None else str(namespace), metadata["name"]
    )


def describe(obj: dict[str, Any]) -> str:
    """``Kind/namespace/name``, or ``Kind/name`` for an object without a namespace."""
    key = object_key(obj)
    return "/".join(part for part in (key.kind, key.namespace, key.name) if part)


def load_documents(text: str, source_name: str) -> list[Document]:
    """Parse ``text`` into objects, skipping empty documents; ``kind: *List`` documents are expanded.

    Raises `InvalidManifest` naming ``source_name`` and the line for YAML that does not
    parse, for a document that is not a mapping, and for an object without apiVersion,
    kind or metadata.name; `ContentLimitExceeded` for a text beyond the ceilings of
    :mod:`lockstep.render.bounds`.
    """
    check_yaml(text, source_name)
    loader = _ManifestLoader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None, "check_node() said a document follows"
            value = loader.construct_document(node)
            if value is not None:
                documents.extend(_objects_of(value, source_name, node.start_mark.line + 1))
    except yaml.YAMLError as err:
        line, problem = yaml_problem(err, text)
        raise InvalidManifest(
            f"{source_name}:{line}: invalid YAML: {problem}; fix the file"
        ) from err
    finally:
        loader.dispose()
    return documents


def reject_duplicates(documents: Iterable[Document]) -> None:
    """Raise `DuplicateObject` naming both places when two documents describe one object."""
    seen: dict[ObjectKey, Document] = {}
    for document in documents:
        key = object_key(document.obj)
        first = seen.setdefault(key, document)
        if first is not document:
            raise DuplicateObject(
                f"{describe(document.obj)} is defined twice, at {first.location} and "
                f"{document.location}; keep one of them"
            )


def parse_documents(text: str, source_name: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text, validated and free of duplicates."""
    documents = load_documents(text, source_name)
    reject_duplicates(documents)
    return [document.obj for document in documents]


def yaml_problem(err: yaml.YAMLError, text: str) -> tuple[int, str]:
    """The line of ``text`` where the parser stopped, and what it found, on one line.

    PyYAML's own message spans lines and names ``<unicode string>`` instead of the file.
    """
    if isinstance(err, yaml.MarkedYAMLError):
        return _error_line(err, len(text.rstrip())), str(err.problem or err.context)
    if isinstance(err, yaml.reader.ReaderError):
        character = err.character if isinstance(err.character, int) else ord(err.character)
        line = text.count("\n", 0, err.position) + 1
        return line, f"character U+{character:04X} is not allowed in YAML ({err.reason})"
    return 1, " ".join(str(err).split())


def _error_line(err: yaml.MarkedYAMLError, content_length: int) -> int:
    """The line to show: where the problem is, or where the construct began if that is past the end."""
    mark = err.problem_mark
    if (mark is None or mark.index >= content_length) and err.context_mark is not None:
        mark = err.context_mark
    return mark.line + 1 if mark is not None else 1


def _objects_of(value: object, source: str, line: int) -> list[Document]:
    """The objects one YAML document holds: itself, or the items of a ``List`` kind."""
    if not isinstance(value, dict):
        raise InvalidManifest(
            f"{source}:{line}: the document is a {type(value).__name__}, not a Kubernetes "
            "object; remove it or move the file out of the path"
        )
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        return [document for item in value["items"] for document in _objects_of(item, source, line)]
    missing = _missing_fields(value)
    if missing:
        what = kind if isinstance(kind, str) and kind else "the object"
        raise InvalidManifest(
            f"{source}:{line}: {what} has no {missing}; every object needs apiVersion, kind "
            "and metadata.name"
        )
    return [Document(value, source, line)]


def _missing_fields(obj: dict[str, Any]) -> str:
    """The first of apiVersion, kind, metadata.name that is absent or not a string, or ``""``."""
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            return field
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return "metadata.name"
    return "" if metadata["name"] else "metadata.name"
