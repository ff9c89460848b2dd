"""Argo CD's ``ignoreDifferences``: the fields of an object left out of its comparison.

Pure: objects come in as plain dicts, argocd-cm as its ``data``, and answers are data (JSON
pointers, and the apply engine's :class:`~lockstep.apply.ignore.IgnoreRule`). Caller: the
Application reconciler (:mod:`lockstep.controllers.argo.application`), which asks for the
pointers of each rendered object against its live copy and hands one rule per object to the
apply engine's plan, so that the dry run sees no difference there and, with
``RespectIgnoreDifferences=true``, a sync keeps the live values.

The rules are Argo CD 3.x's (util/argo/normalizers, util/argo/diff, util/settings):

- An entry covers an object when its ``group`` and ``kind`` match as gobwas globs
  (:func:`lockstep.controllers.argo.project.glob_match`: ``*``, ``?``, ``[a-z]``,
  ``{a,b}``; an empty group is the core group only) and its ``name`` and ``namespace``, when set,
  are equal to the object's.
- ``jsonPointers`` are taken as written; one naming a field that is not there ignores nothing.
- ``jqPathExpressions`` are run as ``path(<expression>)`` on the desired and on the live
  object, as Argo CD deletes them from both before comparing; each path is kept when it
  names something in the object it came from, as a JSON pointer. An expression that fails
  on an object (``.x[]`` where there is no list) ignores nothing there, as in Argo CD.
- ``managedFieldsManagers``: every field of the live object that one of these managers owns
  in ``metadata.managedFields``, whatever the operation (``Update`` as well as ``Apply``)
  and subresource (``scale``, ``status``), as Argo CD trusts every entry of the manager.
- System rules from argocd-cm: ``resource.customizations.ignoreDifferences.<group>_<kind>``
  (``_<kind>`` or ``<kind>`` for the core group, ``all`` for every kind) and the older
  ``resource.customizations`` map (``<group>/<kind>: {ignoreDifferences: ...}``), the
  split key replacing the older form's entry for the same group and kind.

Expressions are run by jq itself (the ``jq`` bindings to the C implementation), not by a
subset written here: users copy expressions from Argo CD's documentation and their own
``jq`` sessions, and every filter, ``select`` and ``?`` must mean what it means there.

Departures from Argo CD: the fields of trusted managers are left out whether or not the
desired object changes them (Argo CD removes only the ones that differ, to the same
effect on the comparison), and list items they own are addressed by index where Argo CD
cannot reach into lists; the managers of system rules and of the Application are joined
(Argo CD lets a system rule for the kind hide the Application's managers); an expression
that does not compile, or a pointer that is not a JSON pointer, is refused with a message
instead of being skipped in a debug log; a jq path through a slice (``.a[1:3]``) ignores
nothing; Argo CD's one-second limit on an expression is not enforced; the ``/status`` and
``/spec/preserveUnknownFields`` rule Argo CD adds for CustomResourceDefinitions
(``resource.compareoptions``) is not made here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A compiled extension without stubs: mypy finds no module to read at all.
import jq  # type: ignore[import-not-found]
import yaml

from lockstep.api.argo import ResourceIgnoreDifferences
from lockstep.apply.ignore import IgnoreRule
from lockstep.apply.pointer import parse_pointer
from lockstep.apply.selector import Selector
from lockstep.controllers.argo.project import glob_match
from lockstep.controllers.drift import owned_fields, pointer_of
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

CUSTOMIZATIONS_KEY = "resource.customizations"
"""argocd-cm key of the older form: a YAML map of ``<group>/<kind>`` to customizations."""
IGNORE_DIFFERENCES_PREFIX = "resource.customizations.ignoreDifferences."
"""argocd-cm key prefix of the split form, followed by ``<group>_<kind>`` or ``all``."""

_FIELDS = ("jsonPointers", "jqPathExpressions", "managedFieldsManagers")


class IgnoreDifferencesError(ValueError):
    """An ignoreDifferences rule that cannot be used; the message names where it is written."""


@dataclass(frozen=True)
class IgnoreDifferencesRule:
    """Fields to leave out of the comparison of the objects the rule covers.

    ``group`` and ``kind`` are globs; ``name`` and ``namespace`` must be equal when set.
    ``origin`` says where the rule is written (``spec.ignoreDifferences[1]``, an argocd-cm
    key) for messages. Raises :class:`IgnoreDifferencesError` on construction when a
    pointer is not a JSON pointer or an expression does not compile.
    """

    origin: str
    group: str
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for index, pointer in enumerate(self.json_pointers):
            try:
                parse_pointer(pointer)
            except ValueError as error:
                raise IgnoreDifferencesError(
                    f"{self.origin}: jsonPointers[{index}] {error}: write it as /spec/replicas"
                ) from None
        for index, expression in enumerate(self.jq_path_expressions):
            try:
                _path_program(expression)
            except ValueError as error:
                raise IgnoreDifferencesError(
                    f'{self.origin}: jqPathExpressions[{index}] "{expression}" is not a jq '
                    f"expression ({_first_line(error)}): correct it or remove it"
                ) from None

    def covers(self, obj: Mapping[str, Any]) -> bool:
        group, kind, name, namespace = _identity(obj)
        return (
            glob_match(self.group, group)
            and glob_match(self.kind, kind)
            and (not self.name or self.name == name)
            and (not self.namespace or self.namespace == namespace)
        )


def application_rules(entries: Sequence[ResourceIgnoreDifferences]) -> list[IgnoreDifferencesRule]:
    """The rules of an Application's ``spec.ignoreDifferences``, each named by its index.

    Raises :class:`IgnoreDifferencesError` naming the first field that cannot be used.
    """
    return [
        IgnoreDifferencesRule(
            origin=f"spec.ignoreDifferences[{index}]",
            group=entry.group or "",
            kind=entry.kind,
            name=entry.name or "",
            namespace=entry.namespace or "",
            json_pointers=tuple(entry.json_pointers),
            jq_path_expressions=tuple(entry.jq_path_expressions),
            managed_fields_managers=tuple(entry.managed_fields_managers),
        )
        for index, entry in enumerate(entries)
    ]


def parse_system_rules(data: Mapping[str, str]) -> list[IgnoreDifferencesRule]:
    """The system-level rules written in argocd-cm's ``data``; other customizations are skipped.

    Raises :class:`IgnoreDifferencesError` naming the key that cannot be read.
    """
    by_group_kind: dict[tuple[str, str], IgnoreDifferencesRule] = {}
    customizations = _yaml(data.get(CUSTOMIZATIONS_KEY) or "", CUSTOMIZATIONS_KEY)
    for group_kind, customization in customizations.items():
        if isinstance(customization, Mapping) and "ignoreDifferences" in customization:
            origin = f"argocd-cm {CUSTOMIZATIONS_KEY} {group_kind}"
            group, kind = _split_override_key(str(group_kind), origin)
            body = customization["ignoreDifferences"]
            fields = _yaml(body, origin) if isinstance(body, str) else body
            by_group_kind[group, kind] = _system_rule(origin, group, kind, fields)
    for key in sorted(data):
        if key.startswith(IGNORE_DIFFERENCES_PREFIX):
            origin = f"argocd-cm {key}"
            group, kind = _split_group_kind(key.removeprefix(IGNORE_DIFFERENCES_PREFIX), origin)
            by_group_kind[group, kind] = _system_rule(origin, group, kind, _yaml(data[key], origin))
    return list(by_group_kind.values())


def covering_rules(
    obj: Mapping[str, Any], rules: Iterable[IgnoreDifferencesRule]
) -> list[IgnoreDifferencesRule]:
    """The rules that cover ``obj``, in their order."""
    return [rule for rule in rules if rule.covers(obj)]


def pointers_to_ignore(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    entries: Sequence[ResourceIgnoreDifferences],
    system_rules: Sequence[IgnoreDifferencesRule] = (),
) -> list[str]:
    """The JSON pointers of one object to leave out of its comparison, each once.

    ``desired`` is the object as rendered, ``live`` as read (``None`` when it does not
    exist); ``entries`` are the Application's, ``system_rules`` from
    :func:`parse_system_rules`. Raises :class:`IgnoreDifferencesError` as
    :func:`application_rules` does.
    """
    pointers: list[str] = []
    for rule in covering_rules(desired, [*system_rules, *application_rules(entries)]):
        pointers.extend(rule.json_pointers)
        for expression in rule.jq_path_expressions:
            for document in (desired, live):
                if document is not None:
                    pointers.extend(_jq_pointers(expression, document))
        if live is not None:
            pointers.extend(_managed_pointers(live, rule.managed_fields_managers))
    return list(dict.fromkeys(pointers))


def ignore_rule_for(obj: Mapping[str, Any], pointers: Sequence[str]) -> IgnoreRule | None:
    """An apply-engine rule leaving ``pointers`` alone on ``obj`` alone; ``None`` without any.

    The object is selected by group, kind, name and namespace, each matched exactly (an
    empty one only by an empty value), and at any version.
    """
    if not pointers:
        return None
    group, kind, name, namespace = _identity(obj)
    target = Selector(
        group=_exactly(group),
        kind=_exactly(kind),
        name=_exactly(name),
        namespace=_exactly(namespace),
    )
    return IgnoreRule(pointers, target)


async def ignore_rules_of(
    kube: KubeClient,
    resources: Sequence[KubeObject],
    entries: Sequence[ResourceIgnoreDifferences],
    system: Sequence[IgnoreDifferencesRule],
) -> tuple[IgnoreRule, ...]:
    """The apply engine's rules for the fields ``entries`` (an Application's
    ``ignoreDifferences``) and ``system`` (argocd-cm's) leave out, one per object of
    ``resources`` they cover, whose live copy is read for jq expressions and field
    managers; what the reconciler compares with and ``lockstep app diff`` shows.
    Raises :class:`IgnoreDifferencesError` for a bad entry and
    :class:`~lockstep.kube.KubeError` when a live copy cannot be read."""
    rules = [*system, *application_rules(entries)]
    found: list[IgnoreRule] = []
    for desired in resources:
        if not covering_rules(desired, rules):
            continue
        try:
            live: KubeObject | None = await kube.get(ObjectRef.of(desired))
        except NotFound:
            live = None
        rule = ignore_rule_for(desired, pointers_to_ignore(desired, live, entries, system))
        if rule is not None:
            found.append(rule)
    return tuple(found)


# --- jq ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _path_program(expression: str) -> Any:
    """``path(<expression>)`` compiled; raises ValueError with jq's message when it does not
    compile.

    The expression is compiled alone first, so that one closing the parenthesis of
    ``path(`` (``.a) | (.b``) is refused instead of running as something else.
    """
    jq.compile(expression)
    return jq.compile(f"path({expression})")


def _jq_pointers(expression: str, document: Mapping[str, Any]) -> list[str]:
    try:
        paths = _path_program(expression).input_value(document).all()
    except ValueError:
        # As Argo CD: an expression failing on this object (iterating over null, a path
        # through a computed value) removes nothing from it.
        return []
    return [pointer for path in paths if (pointer := _pointer_in(document, path)) is not None]


def _pointer_in(document: Any, path: Any) -> str | None:
    """The JSON pointer of a jq path when it names something in ``document``.

    Negative indices count from the end of their list, as in jq.
    """
    if not isinstance(path, list) or not path:
        return None
    tokens: list[str] = []
    node = document
    for component in path:
        if isinstance(node, Mapping) and isinstance(component, str) and component in node:
            tokens.append(component)
            node = node[component]
        elif (
            isinstance(node, list)
            and isinstance(component, int)
            and not isinstance(component, bool)
            and -len(node) <= component < len(node)
        ):
            index = component % len(node)
            tokens.append(str(index))
            node = node[index]
        else:
            return None
    return _pointer(tokens)


# --- managed fields ------------------------------------------------------------------------


def _managed_pointers(live: Mapping[str, Any], managers: Sequence[str]) -> list[str]:
    pointers = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        manager = entry.get("manager")
        if manager not in managers:
            continue
        for path in sorted(owned_fields(_as_applied(entry), manager)):
            tokens = pointer_of(path, live)
            if tokens:
                pointers.append(_pointer(tokens))
    return pointers


def _as_applied(entry: Mapping[str, Any]) -> KubeObject:
    """An object holding only ``entry``, recorded as an apply of the main resource.

    drift's ``owned_fields`` reads a manager's applied sets only, which is what drift is
    about; Argo CD trusts every entry of a manager, updates and subresources alike.
    """
    applied = {
        "manager": entry.get("manager"),
        "operation": "Apply",
        "fieldsV1": entry.get("fieldsV1"),
    }
    return {"metadata": {"managedFields": [applied]}}


# --- argocd-cm -----------------------------------------------------------------------------


def _yaml(text: str, origin: str) -> Mapping[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise IgnoreDifferencesError(
            f"{origin} is not YAML ({_first_line(error)}): correct it in argocd-cm"
        ) from None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise IgnoreDifferencesError(f"{origin} is not a YAML map: correct it in argocd-cm")
    return value


def _system_rule(origin: str, group: str, kind: str, fields: Any) -> IgnoreDifferencesRule:
    if not isinstance(fields, Mapping):
        raise IgnoreDifferencesError(f"{origin} is not a YAML map: correct it in argocd-cm")
    lists: dict[str, tuple[str, ...]] = {}
    for field in _FIELDS:
        values = fields.get(field) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise IgnoreDifferencesError(
                f"{origin}: {field} is not a list of strings: correct it in argocd-cm"
            )
        lists[field] = tuple(values)
    return IgnoreDifferencesRule(
        origin=origin,
        group=group,
        kind=kind,
        json_pointers=lists["jsonPointers"],
        jq_path_expressions=lists["jqPathExpressions"],
        managed_fields_managers=lists["managedFieldsManagers"],
    )


def _split_group_kind(group_kind: str, origin: str) -> tuple[str, str]:
    """(group, kind) of a split key's ``<group>_<kind>``, ``<kind>`` or ``all``."""
    parts = group_kind.split("_")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and group_kind:
        return ("*", "*") if group_kind == "all" else ("", group_kind)
    raise IgnoreDifferencesError(
        f"{origin}: the key must end in <group>_<kind>, <kind> or all: rename it"
    )


def _split_override_key(key: str, origin: str) -> tuple[str, str]:
    """(group, kind) of an older-form key, ``<group>/<kind>`` or ``<kind>``."""
    parts = key.split("/")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and key:
        return "", key
    raise IgnoreDifferencesError(f"{origin}: the key must be <group>/<kind> or <kind>: rename it")


# --- helpers -------------------------------------------------------------------------------


def _identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, name, namespace) of ``obj``; the core group is empty."""
    group, _, _ = str(obj.get("apiVersion", "")).rpartition("/")
    metadata = obj.get("metadata") or {}
    return (
        group,
        str(obj.get("kind", "")),
        str(metadata.get("name", "")),
        str(metadata.get("namespace") or ""),
    )


def _exactly(value: str) -> str:
    """A Selector pattern matching ``value`` only (an empty pattern would match anything)."""
    return re.escape(value) if value else "^$"


def _pointer(tokens: Iterable[str]) -> str:
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0].removeprefix("jq: error: ")
