"""Custom health checks in Lua, declared in Argo CD's argocd-cm ConfigMap, run in a sandbox.

Argo CD lets users judge the health of any kind with a Lua script returning
``{status = "Healthy" | "Progressing" | "Degraded" | "Suspended" | "Missing",
message = "..."}``, the object being the global ``obj``. argocd-cm declares the
scripts in two forms (:func:`parse_health_scripts`):

- ``resource.customizations.health.<group>_<kind>`` holds one script;
  ``<kind>`` alone is a core kind (``resource.customizations.health.Pod``),
  and ``all`` is every kind. lockstep also reads ``_Pod`` as the core group,
  where Argo CD would silently match nothing.
- ``resource.customizations`` holds YAML ``{"<group>/<kind>": {"health.lua": ...}}``
  (``<kind>`` alone for core kinds). A split key wins over this older form.

Group and kind may hold ``*``, ``?`` and ``[...]`` wildcards, matched separately
against the object's group and kind (so ``all`` covers core kinds too). An exact entry wins over wildcards; of
several matching wildcard entries the most specific (most literal characters)
wins, where Argo CD would take any of them.

A script runs with the object as ``obj`` (JSON arrays become tables indexed
from 1, as Argo CD's gopher-lua conversion gives them; JSON nulls are absent)
and with Lua 5.1's base functions (``print`` discards its output), ``string``,
``table`` and ``math``, and the ``os.time`` and ``os.date`` Argo CD also offers.
Nothing else: no ``io``, rest of ``os``, ``require``/``package``,
``dofile``/``loadfile``/``load``, ``debug``, ``coroutine``,
``getfenv``/``setfenv`` or ``string.dump``, and using one fails with a message
that names it; ``loadstring`` accepts source text only, never bytecode. Limits
(:class:`LuaLimits`): 1 s of wall time, as Argo CD allows, enforced by a count
hook that the setup code (which alone sees ``debug``) installs and that raises
once the deadline has passed, re-raised by the sandbox's ``pcall``/``xpcall``
so a script cannot swallow it; and a cap on the memory the script allocates
beyond the converted object, enforced by lupa's allocator. One case escapes
the clock: a single call into a C library function (a pathological
``string.find`` pattern) runs to its end before the hook can fire.

A script that fails to load or run, runs out of time or memory, or returns
anything but a table with a known status is ``Unknown`` with a one-line message
naming the kind and the reason, as Argo CD reports it.

Why lupa: it embeds the reference C Lua 5.1 (the language version of Argo CD's
gopher-lua) with a per-runtime memory cap, and releases the GIL while Lua runs
(the deadline hook takes it back briefly); it is well kept and already a pinned
dependency. Written
here: the argocd-cm parsing, the lookup, the sandbox environment, the deadline
hook and the reading of the result. Each call builds its own ``LuaRuntime``
(about 40 µs), so a script can leave nothing behind for the next one and calls
from several threads share no state: thread-safe without a lock.

Called by the Argo CD Application reconciler (:mod:`lockstep.controllers.argo`),
which passes :class:`LuaHealthChecks` to :func:`lockstep.health.argo.argo_health`
as its override.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import yaml

# No type stubs or py.typed marker: the runtime is Any, used only in the last two functions.
from lupa import lua51  # type: ignore[import-untyped]

from lockstep.health.argo import ArgoHealth, ArgoHealthStatus
from lockstep.health.result import GroupKind, KubeObject, group_kind

CUSTOMIZATIONS_KEY = "resource.customizations"
HEALTH_KEY_PREFIX = "resource.customizations.health."
WILDCARD_CHARACTERS = frozenset("*?[")


class LuaHealthConfigError(ValueError):
    """argocd-cm declares health scripts in a form that cannot be read; the message names the key."""


@dataclass(frozen=True)
class LuaLimits:
    """How long and how large one script run may get."""

    timeout_seconds: float = 1.0
    """Wall time for loading the object and running the script; Argo CD allows 1 s."""
    max_memory_bytes: int = 32 * 1024 * 1024
    """What the script may allocate in Lua beyond the converted object."""
    hook_interval: int = 1000
    """Lua instructions between deadline checks: small enough to stop on time, large enough to cost nothing."""


def default_lua_limits() -> LuaLimits:
    return LuaLimits()


def format_group_kind(key: GroupKind) -> str:
    """``group/Kind``, or ``Kind`` for the core group: how Argo CD names a kind in messages and keys."""
    group, kind = key
    return f"{group}/{kind}" if group else kind


def _split_key_group_kind(config_key: str) -> GroupKind:
    """``cert-manager.io_Certificate``, ``Pod``, ``_Pod`` or ``all`` → (group, kind)."""
    suffix = config_key.removeprefix(HEALTH_KEY_PREFIX)
    if suffix == "all":
        return "*", "*"
    group, _, kind = suffix.rpartition("_")
    if not kind or "_" in group:
        raise LuaHealthConfigError(
            f"argocd-cm key {config_key!r}: expected {HEALTH_KEY_PREFIX}<group>_<kind> or "
            f"{HEALTH_KEY_PREFIX}<kind> for a core kind"
        )
    return group, kind


def _old_form_scripts(text: str) -> dict[GroupKind, str]:
    """The ``health.lua`` entries of the YAML in ``resource.customizations``."""
    try:
        customizations = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise LuaHealthConfigError(
            f"argocd-cm key {CUSTOMIZATIONS_KEY!r} is not valid YAML: {first_line}"
        ) from error
    if not isinstance(customizations, Mapping):
        raise LuaHealthConfigError(
            f"argocd-cm key {CUSTOMIZATIONS_KEY!r} must map <group>/<kind> to customizations"
        )
    scripts = {}
    for key, customization in customizations.items():
        if not isinstance(customization, Mapping):
            raise LuaHealthConfigError(
                f"argocd-cm key {CUSTOMIZATIONS_KEY!r}: the entry for {key!r} must be a mapping"
            )
        script = customization.get("health.lua")
        if script is None:
            continue
        if not isinstance(script, str):
            raise LuaHealthConfigError(
                f"argocd-cm key {CUSTOMIZATIONS_KEY!r}: health.lua of {key!r} must be a string"
            )
        group, _, kind = str(key).rpartition("/")
        scripts[group, kind] = script
    return scripts


def parse_health_scripts(data: Mapping[str, str]) -> dict[GroupKind, str]:
    """The health scripts argocd-cm ``data`` declares, by (group, kind) pattern.

    Raises :class:`LuaHealthConfigError` on a key or YAML value that cannot be read.
    An empty script declares none, so a split key set to ``""`` also hides the
    older form's script for its kind, as in Argo CD.
    """
    scripts = _old_form_scripts(data.get(CUSTOMIZATIONS_KEY) or "")
    for key, script in data.items():
        if key.startswith(HEALTH_KEY_PREFIX):
            scripts[_split_key_group_kind(key)] = script
    return {key: script for key, script in scripts.items() if script.strip()}


def _is_pattern(key: GroupKind) -> bool:
    return any(WILDCARD_CHARACTERS & set(part) for part in key)


def _literal_length(key: GroupKind) -> int:
    return sum(1 for part in key for character in part if character not in WILDCARD_CHARACTERS)


@dataclass(frozen=True)
class LuaHealthChecks:
    """The health scripts of argocd-cm, as an override for :func:`~lockstep.health.argo.argo_health`."""

    scripts: Mapping[GroupKind, str]
    limits: LuaLimits = field(default_factory=default_lua_limits)

    @classmethod
    def from_argocd_cm(
        cls, data: Mapping[str, str], limits: LuaLimits | None = None
    ) -> LuaHealthChecks:
        return cls(parse_health_scripts(data), limits or default_lua_limits())

    def script_for(self, key: GroupKind) -> str | None:
        """The script for an object of ``key``: the exact entry, else the most specific wildcard."""
        if (script := self.scripts.get(key)) is not None and not _is_pattern(key):
            return script
        group, kind = key
        matching = [
            pattern
            for pattern in self.scripts
            if _is_pattern(pattern)
            and fnmatchcase(group, pattern[0])
            and fnmatchcase(kind, pattern[1])
        ]
        if not matching:
            return None
        return self.scripts[max(matching, key=lambda pattern: (_literal_length(pattern), pattern))]

    def __call__(self, obj: KubeObject) -> ArgoHealth | None:
        key = group_kind(obj)
        script = self.script_for(key)
        if script is None:
            return None
        return run_health_script(script, obj, name=format_group_kind(key), limits=self.limits)


# Runs inside a fresh runtime with (now, deadline, interval, source, obj). It keeps what
# the sandbox needs in locals, builds the script's environment, installs the deadline
# hook, then runs the script and returns (true, status, message) or (false, type).
_SANDBOX = r"""
local now, deadline, interval, source, obj = ...
local sethook, loadstring, setfenv = debug.sethook, loadstring, setfenv
local pcall, xpcall, error, type, rawget = pcall, xpcall, error, type, rawget
local format, setmetatable = string.format, setmetatable
local TIME_LIMIT = "time limit exceeded"

local function check_deadline()
  if now() > deadline then error(TIME_LIMIT, 0) end
end

local function after_protected_call(...)
  check_deadline()
  return ...
end

local function copy(library, names)
  local result = {}
  for _, name in ipairs(names) do result[name] = library[name] end
  return result
end

-- Strings index this table through their metatable: drop the bytecode dumper there too.
string.dump = nil

local env = copy(_G, {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawset",
  "select", "tonumber", "tostring", "type", "unpack", "getmetatable", "setmetatable",
  "_VERSION",
})
env.string = copy(string, {
  "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
  "rep", "reverse", "sub", "upper",
})
env.table = copy(table, {"concat", "insert", "maxn", "remove", "sort", "getn"})
env.math = copy(math, {
  "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg", "exp",
  "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf",
  "pi", "pow", "rad", "random", "randomseed", "sin", "sinh", "sqrt", "tan", "tanh",
})
env.os = copy(os, {"date", "time"})
env.print = function() end
env.pcall = function(f, ...) return after_protected_call(pcall(f, ...)) end
env.xpcall = function(f, handler) return after_protected_call(xpcall(f, handler)) end
env.loadstring = function(chunk, name)
  if type(chunk) == "string" and chunk:byte(1) == 27 then
    return nil, "loading bytecode is not allowed"
  end
  local loaded, message = loadstring(chunk, name)
  if loaded then setfenv(loaded, env) end
  return loaded, message
end
env._G = env
env.obj = obj

-- Name what is missing on purpose, rather than let the script fail on a nil value.
local function refuse(library, prefix, names)
  local refused = {}
  for _, name in ipairs(names) do refused[name] = true end
  setmetatable(library, {__index = function(_, name)
    if refused[name] then
      error(format("%s%s is not available to health scripts", prefix, name), 2)
    end
  end})
end
refuse(env, "", {
  "io", "debug", "package", "require", "module", "dofile", "loadfile", "load",
  "coroutine", "getfenv", "setfenv", "collectgarbage", "newproxy",
})
refuse(env.os, "os.", {
  "clock", "difftime", "execute", "exit", "getenv", "remove", "rename", "setlocale", "tmpname",
})
refuse(env.string, "string.", {"dump"})

if source:byte(1) == 27 then error("the script is bytecode; give its Lua source", 0) end
local script, message = loadstring(source, "=health.lua")
if not script then error(message, 0) end
setfenv(script, env)
sethook(check_deadline, "", interval)
local result = script()
if type(result) ~= "table" then return false, type(result) end
return true, rawget(result, "status"), rawget(result, "message")
"""


def _unknown(name: str, reason: str) -> ArgoHealth:
    return ArgoHealth(ArgoHealthStatus.UNKNOWN, f"health.lua for {name} failed: {reason}")


def _first_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


def _read_result(name: str, result: tuple[Any, ...]) -> ArgoHealth:
    returned_table, *rest = result
    if not returned_table:
        return _unknown(name, f"it returned a {rest[0]}, not a table {{status, message}}")
    code, message = rest
    status = ArgoHealthStatus.from_code(code) if isinstance(code, str) else None
    if status is None:
        known = ", ".join(member.code for member in ArgoHealthStatus)
        return _unknown(name, f"it returned status {code!r}; expected one of {known}")
    if message is not None and not isinstance(message, str):
        return _unknown(name, f"it returned a message that is not a string: {message!r}")
    return ArgoHealth(status, message or "")


def _convert_object(runtime: Any, obj: KubeObject, limits: LuaLimits) -> Any:
    """``obj`` as a Lua table, then the memory cap set for what the script allocates beyond it.

    The conversion runs outside any protected call, where Lua cannot fail an
    allocation without aborting the process; so it runs uncapped (the object
    is already in memory once), and the cap starts from what it took.
    """
    lua_obj = runtime.table_from(json.loads(json.dumps(obj)), recursive=True)
    runtime.set_max_memory(runtime.get_memory_used() + limits.max_memory_bytes)
    return lua_obj


def run_health_script(
    source: str, obj: KubeObject, *, name: str, limits: LuaLimits | None = None
) -> ArgoHealth:
    """Run a health script on ``obj`` in a fresh sandbox; failures are ``Unknown``.

    ``name`` (``group/Kind``) is what messages call the script.
    """
    limits = limits or default_lua_limits()
    # max_memory=0 counts allocations without a cap yet: see _convert_object.
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False, max_memory=0)
    deadline = time.monotonic() + limits.timeout_seconds
    lua_obj = _convert_object(runtime, obj, limits)
    try:
        result = runtime.execute(
            _SANDBOX, time.monotonic, deadline, limits.hook_interval, source, lua_obj
        )
    except lua51.LuaMemoryError:
        return _unknown(name, f"it used more than {limits.max_memory_bytes // 2**20} MiB of memory")
    except lua51.LuaError as error:
        if time.monotonic() > deadline:
            return _unknown(name, f"it ran longer than {limits.timeout_seconds:g} s")
        return _unknown(name, _first_line(error))
    return _read_result(name, result)
