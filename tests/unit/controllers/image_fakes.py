"""What the image controllers ask of Kubernetes, in memory: Secrets, status writes, events,
and the informer caches they read."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, cast

from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.sources.registry_auth import DOCKER_CONFIG_KEY

NAMESPACE = "flux-system"


class FakeCache:
    """An informer's cached objects of one kind."""

    def __init__(self, *objects: KubeObject) -> None:
        self.objects: dict[ObjectKey, KubeObject] = {}
        for obj in objects:
            self.put(obj)

    def put(self, obj: KubeObject) -> None:
        self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    def get(self, key: ObjectKey) -> KubeObject | None:
        return self.objects.get(key)

    def items(self) -> list[KubeObject]:
        return list(self.objects.values())


class FakeKube:
    """Secrets to read; status writes land in the caches, as the informers would show them."""

    def __init__(self, *caches: FakeCache) -> None:
        self.secrets: dict[ObjectRef, KubeObject] = {}
        self.caches = caches
        self.status_writes: list[KubeObject] = []
        self.events: list[KubeObject] = []

    def add_secret(self, name: str, data: dict[str, bytes], namespace: str = NAMESPACE) -> None:
        self.secrets[ObjectRef("v1", "Secret", name, namespace)] = {
            "data": {key: base64.b64encode(value).decode() for key, value in data.items()}
        }

    async def get(self, ref: ObjectRef) -> KubeObject:
        if ref not in self.secrets:
            raise NotFound(f'secrets "{ref.name}" not found', code=404)
        return copy.deepcopy(self.secrets[ref])

    async def apply_status(self, obj: KubeObject) -> KubeObject:
        written = copy.deepcopy(obj)
        self.status_writes.append(written)
        for cache in self.caches:
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if cache.get(key) is not None and cache.get(key)["kind"] == obj["kind"]:  # type: ignore[index]
                cache.put(written)
        return written

    async def create(self, obj: KubeObject) -> KubeObject:
        self.events.append(obj)
        return obj

    def client(self) -> KubeClient:
        return cast(KubeClient, self)


def docker_config(registry: str, username: str, password: str) -> dict[str, bytes]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {DOCKER_CONFIG_KEY: json.dumps({"auths": {registry: {"auth": auth}}}).encode()}


def ready(obj: KubeObject) -> dict[str, Any]:
    """The Ready condition of the object's status."""
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def condition_types(obj: KubeObject) -> list[str]:
    return [c["type"] for c in obj["status"]["conditions"]]
