"""An in-memory stand-in for the few API calls planning and pruning make, for unit tests.

Server-side apply merges the top-level fields and the labels and annotations of
the applied object into the stored one, refuses a change to a field listed as
immutable for its kind with the API server's wording, and answers a dry-run
create without a resourceVersion, as kube-apiserver does. Every request is
recorded with the field manager it was made with, so tests can count them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lockstep.kube import Conflict, Invalid, KubeObject, NotFound, ObjectRef, Propagation
from lockstep.kube.client import ResourceInfo

CLUSTER_SCOPED = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole"})


@dataclass(frozen=True)
class Request:
    verb: str
    ref: ObjectRef
    field_manager: str = ""


@dataclass
class FakeCluster:
    objects: dict[ObjectRef, KubeObject] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=lambda: {"apps"})
    immutable: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per kind, the top-level fields whose change is refused (``{"Job": ("spec",)}``)."""
    requests: list[Request] = field(default_factory=list)
    propagations: list[Propagation] = field(default_factory=list)
    """The propagation policy of each delete, in order."""
    version: int = 100

    def store(self, obj: KubeObject) -> KubeObject:
        stored = copy.deepcopy(obj)
        metadata = stored.setdefault("metadata", {})
        self.version += 1
        metadata["resourceVersion"] = str(self.version)
        metadata.setdefault("uid", f"uid-{metadata['name']}")
        self.objects[ObjectRef.of(stored)] = stored
        return stored

    def verbs(self) -> list[str]:
        return [request.verb for request in self.requests]

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        group, _, version = api_version.rpartition("/")
        return ResourceInfo(group, version, kind, kind.lower() + "s", kind not in CLUSTER_SCOPED)

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.requests.append(Request("get", ref))
        if ref not in self.objects:
            raise NotFound(f'{ref.kind.lower()}s "{ref.name}" not found', code=404)
        return copy.deepcopy(self.objects[ref])

    async def apply(
        self,
        obj: KubeObject,
        *,
        force: bool = True,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> KubeObject:
        ref = ObjectRef.of(obj)
        verb = "dry-run" if dry_run else "apply"
        self.requests.append(Request(verb, ref, field_manager or ""))
        if ref.namespace and ref.namespace not in self.namespaces:
            raise NotFound(f'namespaces "{ref.namespace}" not found', code=404)
        live = self.objects.get(ref)
        if live is None:
            created = copy.deepcopy(obj)
            return created if dry_run else self.store(created)
        self._check_immutable(live, obj)
        merged = copy.deepcopy(live)
        for key, value in obj.items():
            if key != "metadata":
                merged[key] = copy.deepcopy(value)
        metadata = merged["metadata"]
        for part in ("labels", "annotations"):
            values = {**(metadata.get(part) or {}), **(obj["metadata"].get(part) or {})}
            if values:
                metadata[part] = values
        return merged if dry_run else self.store(merged)

    async def create_dry_run(self, obj: KubeObject) -> KubeObject:
        ref = ObjectRef.of(obj)
        self.requests.append(Request("create-dry-run", ref))
        if ref in self.objects:
            raise Conflict(f'{ref.kind.lower()}s "{ref.name}" already exists', code=409)
        return copy.deepcopy(obj)

    async def delete(self, ref: ObjectRef, *, propagation: Propagation = "Background") -> None:
        self.requests.append(Request("delete", ref))
        self.propagations.append(propagation)
        self.objects.pop(ref, None)

    def _check_immutable(self, live: KubeObject, obj: dict[str, Any]) -> None:
        ref = ObjectRef.of(obj)
        for name in self.immutable.get(ref.kind, ()):
            if name in obj and obj[name] != live.get(name):
                raise Invalid(
                    f'{ref.kind} "{ref.name}" is invalid: {name}: Invalid value: "x": '
                    "field is immutable",
                    code=422,
                )
