"""Ceilings on the tenant content the engine parses itself: file size, nesting, aliases.

Whoever can commit to a source decides what the engine reads. A YAML file of a few
hundred bytes whose aliases refer to aliases (a "billion laughs") stands for billions
of nodes; a document of 25 KB nested 5,000 levels deep is beyond Python's recursion
limit in every function that walks it (printing, hashing, JSON). So every YAML or JSON
text read from an artifact, or printed by a build, is checked before it becomes objects:

- a file larger than :data:`MAX_FILE_BYTES` is not read at all;
- mappings and sequences nested deeper than :data:`MAX_DEPTH` levels are refused: a
  Kubernetes object nests about 20 levels, a CRD's schema up to about 50, while the
  engine's own walks of an object (the build digest, substitution's printing, JSON)
  take up to three Python frames a level, within the thousand Python allows;
- aliases standing for more than :data:`MAX_ALIAS_NODES` nodes in one text are
  refused, as is an alias to a node that contains it (which no JSON can hold).

:func:`check_yaml` follows the parser's events (libyaml), keeping only the open
collections and the size of each anchored node, so a check costs no memory beyond the
nesting itself (and about half the time of reading the text into objects: 100 ms for a
thousand Deployments); a text that does not parse is left to its reader to report.
:mod:`lockstep.render.kustomize` runs it on every YAML and JSON file of a build's
copy before Kustomize reads them, so that what would blow up the build service is
refused naming its file; Kustomize's own memory stays bounded by
:mod:`lockstep.render.process` for the files it reads under other names.

Called by :mod:`lockstep.render.documents`, :mod:`lockstep.render.references`,
:mod:`lockstep.render.kustomize`, :mod:`lockstep.render.sops` and
:mod:`lockstep.render.substitute`. Failures are
:class:`lockstep.render.errors.ContentLimitExceeded`, one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    ScalarEvent,
)

from lockstep.render.errors import ContentLimitExceeded, InvalidManifest

MAX_FILE_BYTES = 16 * 1024 * 1024
"""A file read from an artifact, at most: 16 MiB, ten times the 1.5 MiB the API server
stores for one object, enough for a file of many CRDs or an OpenAPI schema."""

MAX_DEPTH = 100
"""Levels of mappings and sequences one value may nest."""

MAX_ALIAS_NODES = 100_000
"""Nodes the aliases of one text may stand for, in all: manifests that use aliases share
a few blocks of tens of nodes, and a hundred thousand nodes are already megabytes of
objects once expanded."""


def read_text(file: Path, shown: str) -> str:
    """The text of ``file``, refused when larger than :data:`MAX_FILE_BYTES`; ``shown``
    names it in the message."""
    return read_bytes(file, shown).decode("utf-8", errors="replace")


def read_bytes(file: Path, shown: str) -> bytes:
    """The content of ``file``, refused when larger than :data:`MAX_FILE_BYTES`."""
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ContentLimitExceeded(
            f"{shown}: the file has {_mib(size)}, more than the {_mib(MAX_FILE_BYTES)} a file "
            "may have; split it"
        )
    return file.read_bytes()


def check_yaml(text: str, shown: str) -> None:
    """Refuse ``text`` (named ``shown``) when it nests deeper than :data:`MAX_DEPTH` or
    its aliases stand for more than :data:`MAX_ALIAS_NODES` nodes; see the module docstring."""
    walk = _Walk(shown)
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            walk.step(event)
    except yaml.YAMLError:
        # Not YAML from here on: whoever reads it reports where.
        return


@dataclass
class _Open:
    """A mapping or sequence being read: its anchor, nodes and height so far."""

    anchor: str | None
    nodes: int = 1
    height: int = 1


class _Walk:
    """The state of :func:`check_yaml` along the events of one text."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.open: list[_Open] = []
        self.anchors: dict[str, tuple[int, int]] = {}
        """Nodes and height of each anchored node of the current document."""
        self.aliased = 0

    def step(self, event: Event) -> None:
        if isinstance(event, CollectionStartEvent):
            if len(self.open) == MAX_DEPTH:
                raise self._too_deep(event)
            self.open.append(_Open(event.anchor))
        elif isinstance(event, CollectionEndEvent):
            done = self.open.pop()
            self._add(done.anchor, done.nodes, done.height)
        elif isinstance(event, ScalarEvent):
            self._add(event.anchor, 1, 0)
        elif isinstance(event, AliasEvent):
            self._alias(event)
        elif isinstance(event, DocumentStartEvent):
            self.anchors.clear()

    def _alias(self, event: AliasEvent) -> None:
        line = _line(event)
        if any(collection.anchor == event.anchor for collection in self.open):
            raise InvalidManifest(
                f"{self.shown}:{line}: the alias *{event.anchor} refers to a node that "
                "contains it; remove the alias"
            )
        nodes, height = self.anchors.get(str(event.anchor), (1, 0))
        self.aliased += nodes
        if self.aliased > MAX_ALIAS_NODES:
            raise ContentLimitExceeded(
                f"{self.shown}: aliases expand to more than {MAX_ALIAS_NODES} nodes at line "
                f"{line}; write the content out instead of nesting aliases"
            )
        if len(self.open) + height > MAX_DEPTH:
            raise self._too_deep(event)
        self._add(None, nodes, height)

    def _add(self, anchor: str | None, nodes: int, height: int) -> None:
        """A node is complete: remember it under its anchor, count it in its parent."""
        if anchor is not None:
            self.anchors[anchor] = (nodes, height)
        if self.open:
            parent = self.open[-1]
            parent.nodes += nodes
            parent.height = max(parent.height, height + 1)

    def _too_deep(self, event: Event) -> ContentLimitExceeded:
        return ContentLimitExceeded(
            f"{self.shown}: nesting deeper than {MAX_DEPTH} levels at line {_line(event)}; "
            "flatten the structure"
        )


def _line(event: Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 1


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
