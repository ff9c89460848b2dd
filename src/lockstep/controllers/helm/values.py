"""A HelmRelease's values: ``spec.valuesFrom`` read from ConfigMaps and Secrets and
merged in order, then ``spec.values`` over them, as Flux's helm-controller composes them.

- A reference without ``targetPath`` reads its ``valuesKey`` (``values.yaml`` by
  default) as a YAML document of values, merged deeply into what came before (maps
  merged key by key, anything else replaced).
- With ``targetPath`` the key's text is set as a string at that path (``a.b.c``, a
  ``\\.`` keeps a dot in a key), as Helm's ``--set-string`` does.
- An ``optional`` reference whose object or key is missing is skipped; otherwise the
  missing object or key fails the release with a message naming both.

What comes from Secrets is never shown: :class:`ComposedValues` keeps the texts read
from them (a ``targetPath`` text, each string of a values document) and masks them in
any message that would go to the status, the events, the log or the command line,
since Helm quotes a value its chart refuses (a values.schema.json ``pattern``: ``'...'
does not match pattern``). Only strings are masked: a number or a boolean would mask
line numbers and API versions too. A Secret's values document that is not YAML is
reported by line and column only: the parser's message can quote it (an unknown tag).

:func:`config_digest` is the digest the status records as ``lastAttemptedConfigDigest``
and each history snapshot as ``configDigest``, byte for byte Flux's (``DigestValues`` of
``fluxcd/pkg/chartutil``), so that a release taken over from Flux, or handed back to
it, is not seen as changed: sha256 of the values as go-yaml v2 writes them once every
map is sorted by key byte by byte, every number read as Go's JSON decoder reads it (a
float64, written as an integer when it has no fraction), and of nothing at all for no
values. The writing is :func:`lockstep.render.resmap_yaml.go_yaml_document`'s (go-yaml's
quoting, folding at 80 columns, literal blocks); ``tests/golden/valuesdigest`` compares
the digests with Flux's own function.

Called by :mod:`lockstep.controllers.helm.release` and, for ``lockstep build`` and
``diff helmrelease``, :mod:`lockstep.controllers.helm.preview`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from lockstep.kube import KubeClient, NotFound, ObjectRef
from lockstep.render.helm import merge_values
from lockstep.render.resmap_yaml import go_yaml_document

DEFAULT_VALUES_KEY = "values.yaml"
MASK = "***"
_INT64_LIMIT = float(1 << 63)


class ValuesUnavailable(Exception):
    """A referenced ConfigMap, Secret or key is missing, or its text is not values."""


@dataclass(frozen=True)
class ComposedValues:
    """A HelmRelease's values, and the texts among them that were read from Secrets."""

    values: dict[str, Any]
    secret_texts: frozenset[str] = frozenset()

    def masked(self, message: str) -> str:
        """``message`` with every text read from a Secret replaced by ``***``, as written
        and as Go quotes it (Helm's schema errors escape newlines and quotes). The
        longest first, so that a text holding a shorter one is masked whole."""
        forms = {form for text in self.secret_texts for form in _quoted_forms(text)}
        for form in sorted(forms, key=len, reverse=True):
            message = message.replace(form, MASK)
        return message


async def compose_values(
    kube: KubeClient,
    namespace: str,
    references: list[Mapping[str, Any]],
    inline: Mapping[str, Any] | None,
) -> ComposedValues:
    """The values of a HelmRelease in ``namespace``: ``references`` (``spec.valuesFrom``
    entries as written) in order, then ``inline`` (``spec.values``)."""
    values: dict[str, Any] = {}
    secret_texts: set[str] = set()
    for reference in references:
        kind, name = str(reference.get("kind")), str(reference.get("name"))
        key = str(reference.get("valuesKey") or DEFAULT_VALUES_KEY)
        optional = bool(reference.get("optional"))
        text = await _read_key(kube, kind, namespace, name, key, optional)
        if text is None:
            continue
        target = reference.get("targetPath")
        if target:
            values = set_at_path(values, str(target), text)
            strings = [text]
        else:
            document = _values_document(kind, f"{namespace}/{name}", key, text)
            values = merge_values(values, document)
            strings = list(_strings(document))
        if kind == "Secret":
            secret_texts.update(strings)
    return ComposedValues(merge_values(values, dict(inline or {})), frozenset(secret_texts))


def _values_document(kind: str, name: str, key: str, text: str) -> dict[str, Any]:
    """The values document of ``key`` of the ConfigMap or Secret ``name``."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        if kind == "Secret":
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise ValuesUnavailable(
                f"Secret {name} key '{key}' is not valid YAML{where}; fix the Secret"
            ) from None
        raise ValuesUnavailable(
            f"{kind} {name} key '{key}' is not valid YAML: {str(error).splitlines()[0]}"
        ) from error
    if not isinstance(document, dict):
        raise ValuesUnavailable(f"{kind} {name} key '{key}' is not a map of values")
    return document


def _strings(value: Any) -> Iterator[str]:
    """Every non-empty string of a values document."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _quoted_forms(text: str) -> set[str]:
    """``text``, and inside double quotes as Go's ``%q`` and JSON write it."""
    return {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def set_at_path(values: Mapping[str, Any], path: str, text: str) -> dict[str, Any]:
    """A copy of ``values`` with the string ``text`` at ``path`` (dots separate keys, an
    escaped ``\\.`` stays in the key)."""
    keys = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", path)]
    result = dict(values)
    node = result
    for key in keys[:-1]:
        child = node.get(key)
        child = dict(child) if isinstance(child, Mapping) else {}
        node[key] = child
        node = child
    node[keys[-1]] = text
    return result


def config_digest(values: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of ``values`` as Flux digests them (see the module docstring)."""
    text = go_yaml_document(_as_decoded_by_go(values)) if values else ""
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def _as_decoded_by_go(value: Any) -> Any:
    """``value`` with its numbers as Flux writes them: read by Go's JSON decoder as a
    float64 (an integer beyond 2**53 rounded), then made the int64 or uint64 of the same
    value when there is one (``sigs.k8s.io/yaml``'s ``JSONObjectToYAMLObject``)."""
    if isinstance(value, Mapping):
        return {key: _as_decoded_by_go(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_decoded_by_go(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer() and -_INT64_LIMIT <= number < 2 * _INT64_LIMIT:
            return int(number)
        return number
    return value


async def _read_key(
    kube: KubeClient, kind: str, namespace: str, name: str, key: str, optional: bool
) -> str | None:
    if kind not in ("ConfigMap", "Secret"):
        raise ValuesUnavailable(f"valuesFrom kind {kind} is not ConfigMap or Secret")
    try:
        obj = await kube.get(ObjectRef("v1", kind, name, namespace))
    except NotFound as error:
        if optional:
            return None
        raise ValuesUnavailable(
            f"{kind} {namespace}/{name} named in spec.valuesFrom not found; create it or mark "
            "the reference optional"
        ) from error
    if kind == "Secret":
        encoded = (obj.get("data") or {}).get(key)
        text = base64.b64decode(encoded).decode() if encoded is not None else None
    else:
        text = (obj.get("data") or {}).get(key)
    if text is None:
        if optional:
            return None
        raise ValuesUnavailable(
            f"{kind} {namespace}/{name} has no key '{key}' named in spec.valuesFrom; add it or "
            "mark the reference optional"
        )
    return str(text)
