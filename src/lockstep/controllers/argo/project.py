"""The AppProject rules of Argo CD: which repositories, destinations, kinds of object and
Application namespaces a project permits.

Pure: the AppProject comes in as the plain dict the API server returns, and answers are data
(a list of one-line violations). Callers: the Application reconciler of this package, which
checks an Application before rendering it (`check_application`) and each object before applying
it (`check_object`); `syncwindows.py` beside this module reuses `glob_match`.

Matching follows Argo CD 3.x (pkg/apis/application/v1alpha1, AppProject methods):

- Repository URLs are normalised as Argo CD's `NormalizeGitURL` does (trimmed, lower-cased,
  `git@host:org/repo` written as `git@host/org/repo`, a trailing `.git` and a leading `ssh://`
  dropped) on both sides, then matched as globs in which `*` stops at `/` and `**` does not;
  the single pattern `*` permits every repository.
- A pattern starting with `!` denies: a repository or destination that matches any deny entry is
  refused even when another entry allows it; a deny entry also allows everything it does not
  deny, as in Argo CD.
- Destinations match by server or by name (the reconciler passes the resolved pair) and by
  namespace; globs here have no separator.
- Group/kind lists use Go's `filepath.Match`. Cluster-scoped kinds are refused unless listed in
  `clusterResourceWhitelist`; namespaced kinds are permitted when `namespaceResourceWhitelist`
  is absent, and refused when it is present but empty. A blacklist entry always wins.
- `sourceNamespaces` entries are globs or `/regular expressions/`, with no negation; an
  Application in the control-plane namespace may always use its project.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PROJECT_NAME = "default"


class InvalidProjectError(ValueError):
    """An AppProject whose spec cannot be used; the message names the project and the field."""


@dataclass(frozen=True)
class Destination:
    """Where an Application (or one of its objects) goes: the cluster resolved to both its
    name and server (either may be empty when unknown) and a namespace."""

    server: str
    name: str
    namespace: str


@dataclass(frozen=True)
class GroupKind:
    """One `{group, kind}` entry of a resource white- or blacklist (patterns)."""

    group: str
    kind: str


@dataclass(frozen=True)
class ProjectRules:
    """The parts of an AppProject spec that permit or refuse. `namespace_whitelist` is None when
    the field is absent (every namespaced kind permitted), as distinct from an empty list."""

    name: str
    source_repos: tuple[str, ...] = ()
    destinations: tuple[Destination, ...] = ()
    cluster_whitelist: tuple[GroupKind, ...] = ()
    cluster_blacklist: tuple[GroupKind, ...] = ()
    namespace_whitelist: tuple[GroupKind, ...] | None = None
    namespace_blacklist: tuple[GroupKind, ...] = ()
    source_namespaces: tuple[str, ...] = ()


def default_project_rules() -> ProjectRules:
    """The rules of the `default` project that Argo CD creates when none exists: every
    repository, every destination and every kind of object, but no other Application
    namespace than the control plane's."""
    return ProjectRules(
        name=DEFAULT_PROJECT_NAME,
        source_repos=("*",),
        destinations=(Destination(server="*", name="", namespace="*"),),
        cluster_whitelist=(GroupKind(group="*", kind="*"),),
    )


def parse_project(obj: Mapping[str, Any]) -> ProjectRules:
    """Read the rules of an AppProject given as the API server's dict."""
    name = str(obj.get("metadata", {}).get("name", ""))
    spec = obj.get("spec") or {}
    whitelist = spec.get("namespaceResourceWhitelist")
    return ProjectRules(
        name=name,
        source_repos=_strings(name, spec, "sourceRepos"),
        destinations=tuple(
            Destination(
                server=str(item.get("server") or ""),
                name=str(item.get("name") or ""),
                namespace=str(item.get("namespace") or ""),
            )
            for item in _entries(name, spec, "destinations")
        ),
        cluster_whitelist=_group_kinds(name, spec, "clusterResourceWhitelist"),
        cluster_blacklist=_group_kinds(name, spec, "clusterResourceBlacklist"),
        namespace_whitelist=None
        if whitelist is None
        else _group_kinds(name, spec, "namespaceResourceWhitelist"),
        namespace_blacklist=_group_kinds(name, spec, "namespaceResourceBlacklist"),
        source_namespaces=_strings(name, spec, "sourceNamespaces"),
    )


def _entries(project: str, spec: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = spec.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise InvalidProjectError(f"AppProject '{project}': spec.{field} must be a list of objects")
    return value


def _strings(project: str, spec: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = spec.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidProjectError(f"AppProject '{project}': spec.{field} must be a list of strings")
    return tuple(value)


def _group_kinds(project: str, spec: Mapping[str, Any], field: str) -> tuple[GroupKind, ...]:
    return tuple(
        GroupKind(group=str(item.get("group") or ""), kind=str(item.get("kind") or ""))
        for item in _entries(project, spec, field)
    )


# --- globs -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _compile_glob(pattern: str, separator: str, go_filepath: bool) -> re.Pattern[str] | None:
    """Translate a glob to a regular expression; None when the pattern is malformed (Argo CD
    then treats it as matching nothing). `go_filepath` selects Go's `filepath.Match` syntax
    (`[^...]` negates, no braces, no `**`) instead of gobwas/glob's (`[!...]`, `{a,b}`, `**`)."""
    any_char = f"[^{re.escape(separator)}]" if separator else "."
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 == len(pattern):
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            if not go_filepath and pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append(any_char + "*")
        elif char == "?":
            out.append(any_char)
        elif char == "[":
            end, cls = _char_class(pattern, i + 1, "^" if go_filepath else "!")
            if cls is None:
                return None
            out.append(cls)
            i = end
        elif char == "{" and not go_filepath:
            depth += 1
            out.append("(?:")
        elif char == "," and depth:
            out.append("|")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        return None
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, start: int, negation: str) -> tuple[int, str | None]:
    """Read a `[...]` class starting after its `[`; return the index of its `]` and the regex."""
    i = start
    negate = i < len(pattern) and pattern[i] == negation
    if negate:
        i += 1
    items: list[str] = []
    while i < len(pattern) and (pattern[i] != "]" or not items):
        if pattern[i] == "]":
            return i, None
        low = pattern[i + 1] if pattern[i] == "\\" and i + 1 < len(pattern) else pattern[i]
        i += 2 if pattern[i] == "\\" else 1
        if i + 1 < len(pattern) and pattern[i] == "-" and pattern[i + 1] != "]":
            items.append(f"{re.escape(low)}-{re.escape(pattern[i + 1])}")
            i += 2
        else:
            items.append(re.escape(low))
    if i >= len(pattern) or not items:
        return i, None
    return i, f"[{'^' if negate else ''}{''.join(items)}]"


def glob_match(pattern: str, value: str, separator: str = "") -> bool:
    """Argo CD's glob match (gobwas/glob): `*` alone matches everything, `*` and `?` stop at
    `separator`, `**` crosses it, `[!a-z]` and `{a,b}` as in gobwas; a malformed pattern
    matches nothing."""
    if pattern == "*":
        return True
    compiled = _compile_glob(pattern, separator, False)
    return compiled is not None and compiled.fullmatch(value) is not None


def _filepath_match(pattern: str, value: str) -> bool:
    compiled = _compile_glob(pattern, "/", True)
    return compiled is not None and compiled.fullmatch(value) is not None


def _is_deny(pattern: str) -> bool:
    return pattern.startswith("!")


def _glob_or_deny(pattern: str, value: str, separator: str = "") -> bool:
    """A pattern with `!` matches what its remainder does not."""
    if _is_deny(pattern):
        compiled = _compile_glob(pattern[1:], separator, False)
        return compiled is None or compiled.fullmatch(value) is None
    return glob_match(pattern, value, separator)


# --- repositories ------------------------------------------------------------------------

_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


def normalize_repo_url(url: str) -> str:
    """The form in which Argo CD compares repository URLs."""
    url = url.strip().lower()
    if _SSH_URL.match(url) and not url.startswith("ssh://"):
        url = "ssh://" + url.replace(":", "/", 1)
    url = url.removesuffix(".git")
    return url.removeprefix("ssh://")


def is_source_permitted(rules: ProjectRules, repo_url: str) -> bool:
    """Whether `spec.sourceRepos` permits a repository: one entry must match and no `!` entry."""
    normalized = normalize_repo_url(repo_url)
    matched = False
    for pattern in rules.source_repos:
        if _is_deny(pattern):
            if not _glob_or_deny("!" + normalize_repo_url(pattern[1:]), normalized, "/"):
                return False
            matched = True
        elif glob_match(normalize_repo_url(pattern), normalized, "/"):
            matched = True
    return matched


# --- destinations ------------------------------------------------------------------------


def is_destination_permitted(rules: ProjectRules, destination: Destination) -> bool:
    """Whether `spec.destinations` permits a destination: an entry must match its server or
    name and its namespace, and no entry's `!` pattern may exclude it."""
    allowed = False
    for item in rules.destinations:
        name_ok = bool(destination.name) and _glob_or_deny(item.name, destination.name)
        server_ok = bool(destination.server) and _glob_or_deny(item.server, destination.server)
        namespace_ok = _glob_or_deny(item.namespace, destination.namespace)
        if (name_ok or server_ok) and namespace_ok:
            allowed = True
        elif (
            (not name_ok and _is_deny(item.name))
            or (not server_ok and _is_deny(item.server))
            or (not namespace_ok and _is_deny(item.namespace))
        ):
            return False
    return allowed


# --- kinds of object ---------------------------------------------------------------------


def _listed(group: str, kind: str, entries: Iterable[GroupKind]) -> bool:
    return any(
        _filepath_match(item.kind, kind) and _filepath_match(item.group, group) for item in entries
    )


def is_group_kind_permitted(rules: ProjectRules, group: str, kind: str, namespaced: bool) -> bool:
    """Whether the resource white- and blacklists permit a kind of object."""
    if namespaced:
        whitelisted = rules.namespace_whitelist is None or _listed(
            group, kind, rules.namespace_whitelist
        )
        return whitelisted and not _listed(group, kind, rules.namespace_blacklist)
    return _listed(group, kind, rules.cluster_whitelist) and not _listed(
        group, kind, rules.cluster_blacklist
    )


# --- Application namespaces --------------------------------------------------------------


def is_app_namespace_permitted(
    rules: ProjectRules, app_namespace: str, control_plane_namespace: str
) -> bool:
    """Whether an Application in `app_namespace` may use the project (`spec.sourceNamespaces`)."""
    if app_namespace in ("", control_plane_namespace):
        return True
    for pattern in rules.source_namespaces:
        if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
            try:
                if re.search(pattern[1:-1], app_namespace):
                    return True
            except re.error:
                pass
        if glob_match(pattern, app_namespace):
            return True
    return False


# --- what the reconciler calls -----------------------------------------------------------


def check_application(
    rules: ProjectRules,
    *,
    app_name: str,
    app_namespace: str,
    control_plane_namespace: str,
    repo_urls: Sequence[str],
    destination: Destination,
) -> list[str]:
    """Every reason the project refuses the Application, one line each; empty when permitted."""
    project = rules.name
    if not is_app_namespace_permitted(rules, app_namespace, control_plane_namespace):
        return [
            f"application '{app_name}' in namespace '{app_namespace}' is not allowed to use "
            f"project '{project}'; add the namespace to spec.sourceNamespaces of the project"
        ]
    violations = [
        f"application repo {url} is not permitted in project '{project}'; "
        "add it to spec.sourceRepos"
        for url in dict.fromkeys(repo_urls)
        if not is_source_permitted(rules, url)
    ]
    if not is_destination_permitted(rules, destination):
        cluster = (
            f"server '{destination.server}'" if destination.server else f"name '{destination.name}'"
        )
        violations.append(
            f"application destination {cluster} and namespace '{destination.namespace}' do not "
            f"match any of the allowed destinations in project '{project}'; "
            "add it to spec.destinations"
        )
    return violations


def check_object(
    rules: ProjectRules,
    *,
    group: str,
    kind: str,
    namespace: str | None,
    destination: Destination,
) -> str | None:
    """Why the project refuses one object of the Application, or None. `namespace` is None for
    a cluster-scoped object; a namespaced object's namespace must be an allowed destination on
    the Application's cluster."""
    project = rules.name
    namespaced = namespace is not None
    if not is_group_kind_permitted(rules, group, kind, namespaced):
        scope = "namespace" if namespaced else "cluster"
        blacklist = rules.namespace_blacklist if namespaced else rules.cluster_blacklist
        fix = (
            f"remove it from spec.{scope}ResourceBlacklist"
            if _listed(group, kind, blacklist)
            else f"add it to spec.{scope}ResourceWhitelist"
        )
        return f"resource {group}:{kind} is not permitted in project '{project}'; {fix}"
    if namespace is not None and not is_destination_permitted(
        rules, Destination(server=destination.server, name=destination.name, namespace=namespace)
    ):
        return (
            f"namespace {namespace} is not permitted in project '{project}'; "
            "add it to spec.destinations"
        )
    return None
