"""Sprig's hermetic text functions (Masterminds/sprig v3.3, ``HermeticTxtFuncMap``), which
Flux adds to commit message templates: :mod:`.sprig_text` (strings, numbers, encodings,
paths) and :mod:`.sprig_data` (lists, dicts, JSON, regular expressions), with sprig's
argument order (``"foo" | trimPrefix "f"``) and quirks (``split`` gives a map with keys
``_0``, ``_1``...; ``atoi "x"`` is 0; ``div`` truncates; ``substr`` counts bytes).

Where Go's result has no order (``keys``, ``values``), it comes sorted by key. Functions
of the map a commit message has no use for (certificates, encryption, dates, semver...)
are registered but fail when called, so a template that only names them parses as in
Flux, and one that calls them says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockstep.gotemplate import sprig_data, sprig_text
from lockstep.gotemplate.values import INTERFACE, CallError, Function

_UNSUPPORTED = (
    "abbrevboth",
    "swapcase",
    "shuffle",
    "wrap",
    "wrapWith",
    "toDecimal",
    "seq",
    "add1f",
    "addf",
    "subf",
    "divf",
    "mulf",
    "maxf",
    "minf",
    "deepCopy",
    "mustDeepCopy",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "dig",
    "chunk",
    "mustChunk",
    "bcrypt",
    "htpasswd",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
    "semver",
    "semverCompare",
    "urlParse",
    "urlJoin",
    "randInt",
    "ago",
    "duration",
    "durationRound",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "toDate",
    "unixEpoch",
)


def sprig_functions() -> dict[str, Function]:
    """The function map, by name."""
    functions = {**sprig_text.functions(), **sprig_data.functions()}
    for name in _UNSUPPORTED:
        functions[name] = Function((), _unsupported(name), variadic=INTERFACE)
    return functions


def _unsupported(name: str) -> Callable[..., Any]:
    def fail(*_: Any) -> Any:
        raise CallError(f"lockstep does not support {name}: write the message without it")

    return fail
