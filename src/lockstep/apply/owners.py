"""The owner values of the kinds lockstep serves: a Flux Kustomization, a Flux HelmRelease.

Kept apart from the engine modules, which name no toolkit: they take an
:class:`~lockstep.apply.objects.Owner` and read it. A Kustomization's objects
carry the labels ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``, honour
the annotations ``kustomize.toolkit.fluxcd.io/reconcile``, ``/ssa``, ``/prune`` and
``/force``, and are applied under lockstep's field manager. The drift watchers
find a Kustomization's objects by the same labels.

A HelmRelease's objects carry what both Flux's helm-controller and Helm put on them,
so that either can take the release over: the labels ``helm.toolkit.fluxcd.io/name``
and ``/namespace`` (the mark), ``app.kubernetes.io/managed-by: Helm`` and the
annotations ``meta.helm.sh/release-name`` and ``/release-namespace`` (Helm's test
before it adopts an object). They honour Helm's ``helm.sh/resource-policy: keep``
(never deleted when the chart drops them) and nothing else of Flux's annotations.

Called by the Kustomization and HelmRelease reconcilers, their drift watchers, and
``lockstep diff``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.apply.objects import (
    GroupAnnotations,
    ObjectPolicy,
    Owner,
    OwnerLabels,
    metadata_map,
)
from lockstep.kube import FIELD_MANAGER, KubeObject

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
KUSTOMIZATION_FIELD_MANAGER = FIELD_MANAGER
KUSTOMIZATION_NAME_LABEL = f"{KUSTOMIZE_GROUP}/name"
KUSTOMIZATION_NAMESPACE_LABEL = f"{KUSTOMIZE_GROUP}/namespace"
KUSTOMIZATION_ANNOTATIONS = GroupAnnotations(KUSTOMIZE_GROUP)

KUSTOMIZATION_RECREATE_HINT = (
    "set spec.force: true on the Kustomization or annotate the object "
    f"{KUSTOMIZATION_ANNOTATIONS.key('force')}: enabled to recreate it"
)


def kustomization_owner(name: str, namespace: str) -> Owner:
    """The owner of the objects the Kustomization ``namespace/name`` applies."""
    return Owner(
        field_manager=KUSTOMIZATION_FIELD_MANAGER,
        marking=OwnerLabels(KUSTOMIZE_GROUP, name, namespace),
        annotations=KUSTOMIZATION_ANNOTATIONS,
        recreate_hint=KUSTOMIZATION_RECREATE_HINT,
    )


HELM_GROUP = "helm.toolkit.fluxcd.io"
HELM_RELEASE_FIELD_MANAGER = FIELD_MANAGER
HELM_RELEASE_NAME_LABEL = f"{HELM_GROUP}/name"
HELM_RELEASE_NAMESPACE_LABEL = f"{HELM_GROUP}/namespace"
HELM_MANAGED_BY = ("app.kubernetes.io/managed-by", "Helm")
HELM_RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"
HELM_RECREATE_HINT = (
    "set spec.upgrade.force: true on the HelmRelease to recreate objects whose immutable "
    "fields change"
)


@dataclass(frozen=True)
class HelmReleaseMarking:
    """The Flux labels naming the HelmRelease, and Helm's ownership metadata naming the
    release (``release``/``release_namespace``)."""

    labels: OwnerLabels
    release: str
    release_namespace: str

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        marked: KubeObject = copy.deepcopy(dict(self.labels.mark(obj)))
        metadata = marked["metadata"]
        metadata["labels"] = {**metadata["labels"], HELM_MANAGED_BY[0]: HELM_MANAGED_BY[1]}
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            HELM_RELEASE_NAME_ANNOTATION: self.release,
            HELM_RELEASE_NAMESPACE_ANNOTATION: self.release_namespace,
        }
        return marked

    def marks(self, live: Mapping[str, Any]) -> bool:
        return self.labels.marks(live)


@dataclass(frozen=True)
class HelmAnnotations:
    """``helm.sh/resource-policy: keep`` keeps an object the chart no longer renders."""

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy:
        keep = metadata_map(obj, "annotations").get(HELM_RESOURCE_POLICY) == "keep"
        return ObjectPolicy(prune=not keep)


def helm_ownership_problems(live: Mapping[str, Any], release: str, namespace: str) -> list[str]:
    """What keeps ``live`` from belonging to the Helm release ``namespace/release``, worded
    as Helm words it; empty when its label and annotations say it does."""
    labels = metadata_map(live, "labels")
    annotations = metadata_map(live, "annotations")
    problems = []
    for section, found, key, wanted in (
        ("label", labels, HELM_MANAGED_BY[0], HELM_MANAGED_BY[1]),
        ("annotation", annotations, HELM_RELEASE_NAME_ANNOTATION, release),
        ("annotation", annotations, HELM_RELEASE_NAMESPACE_ANNOTATION, namespace),
    ):
        if key not in found:
            problems.append(
                f'{section} validation error: missing key "{key}": must be set to "{wanted}"'
            )
        elif found[key] != wanted:
            problems.append(
                f'{section} validation error: key "{key}" must equal "{wanted}": current '
                f'value is "{found[key]}"'
            )
    return problems


def helm_release_owner(name: str, namespace: str, release: str, release_namespace: str) -> Owner:
    """The owner of the objects of the HelmRelease ``namespace/name``, whose Helm release
    is ``release`` in ``release_namespace``."""
    return Owner(
        field_manager=HELM_RELEASE_FIELD_MANAGER,
        marking=HelmReleaseMarking(
            OwnerLabels(HELM_GROUP, name, namespace), release, release_namespace
        ),
        annotations=HelmAnnotations(),
        recreate_hint=HELM_RECREATE_HINT,
    )
