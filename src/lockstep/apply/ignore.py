"""Drift-ignore rules: fields lockstep leaves as they are in the cluster.

A rule is a list of JSON pointers (``/spec/replicas``) and an optional
:class:`~lockstep.apply.selector.Selector` of the objects it covers (every object
when omitted), like a Kustomization's ``spec.ignore``. When an object covered by
a rule already exists, the value at each ignored pointer is taken from the live
object before the dry-run, or left out of the desired object when the live one
has none: the apply then neither reverts it nor gives up lockstep's ownership of
it, and the dry-run sees no drift there. When the object does not exist yet, it
is created as declared.

Called by :mod:`lockstep.apply.apply`; drift watchers call :func:`ignored_pointers`
to know which fields of an object to disregard.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockstep.apply.pointer import copy_at, parse_pointer, remove_at, value_at
from lockstep.apply.selector import Selector
from lockstep.kube import KubeObject


@dataclass(frozen=True)
class IgnoreRule:
    """Fields (JSON pointers) to leave alone on the objects ``target`` selects, or on all.

    Raises ValueError on construction when a path is not a JSON pointer.
    """

    paths: Sequence[str]
    target: Selector | None = None

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("ignore rule has no paths: give at least one JSON pointer")
        for path in self.paths:
            parse_pointer(path)
        # A tuple keeps the frozen rule immutable and hashable whatever sequence it got.
        object.__setattr__(self, "paths", tuple(self.paths))

    def covers(self, obj: Mapping[str, Any]) -> bool:
        return self.target is None or self.target.matches(obj)


def ignored_pointers(obj: Mapping[str, Any], rules: Iterable[IgnoreRule]) -> list[str]:
    """The JSON pointers of ``obj`` that ``rules`` say to leave alone, each once, in rule order."""
    pointers = (path for rule in rules if rule.covers(obj) for path in rule.paths)
    return list(dict.fromkeys(pointers))


def keep_ignored_fields(
    desired: Mapping[str, Any], live: Mapping[str, Any], rules: Iterable[IgnoreRule]
) -> KubeObject:
    """A copy of ``desired`` whose ignored fields hold the live values (or are left out)."""
    kept: KubeObject = copy.deepcopy(dict(desired))
    for pointer in ignored_pointers(desired, rules):
        tokens = parse_pointer(pointer)
        if value_at(live, tokens)[0]:
            copy_at(live, kept, tokens)
        else:
            remove_at(kept, tokens)
    return kept
