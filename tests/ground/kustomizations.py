"""Kustomizations for unit tests that call the engine's build functions without a cluster:
the object itself (:func:`kustomization`) and the ConfigMaps and Secrets its inputs are
read from (:class:`ObjectTable`).

Used by tests/unit/test_corpus.py, tests/unit/controllers/test_kustomization_inputs.py
and tests/unit/cli/test_build_local_links.py.
"""

from __future__ import annotations

from typing import Any

from lockstep.api.kustomize import Kustomization
from lockstep.kube import NotFound, ObjectRef


def kustomization(name: str, namespace: str, **spec: Any) -> Kustomization:
    """Kustomization ``namespace/name`` of the GitRepository ``repo``, reconciled every
    minute with pruning, and with the given ``spec`` fields besides."""
    return Kustomization.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "interval": "1m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **spec,
            },
        }
    )


class ObjectTable:
    """Answers ``get`` from a table of objects by kind and name, as the API server would:
    the reads of :func:`lockstep.controllers.kustomize.inputs.build_inputs`."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    async def get(self, ref: ObjectRef) -> dict[str, Any]:
        found = self.objects.get((ref.kind, ref.name))
        if found is None:
            raise NotFound(f"{ref} not found")
        return found
