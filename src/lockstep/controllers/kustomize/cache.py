"""What the Kustomization reconciler remembers between two reconciles of an object,
so that one where nothing changed costs neither a build nor an API request.

- The last build: its objects and their digest, under a :class:`BuildFingerprint`
  of everything the build reads (the Kustomization's uid and generation, the
  artifact's URL and digest, the postBuild variables and decryption keys read
  from the cluster). The same fingerprint reuses the objects: no download, no
  Kustomize run.
- The last full apply that succeeded, as an :class:`AppliedState`: the built
  objects' digest, the revision, the generation, the ``requestedAt`` it
  answered, the inventory it wrote, and the
  :data:`~lockstep.controllers.drift.WatchEpoch` of the drift watches of its
  kinds. When the next reconcile finds the same state and the Kustomization was
  not marked dirty since the apply began, the cluster still holds what was
  applied: drift would have been reported by the watches (see
  :mod:`lockstep.controllers.drift`), so apply and prune are skipped.
- A dirty mark per Kustomization: set when drift is reported and when a
  reconcile fails, cleared when a full apply begins, so drift reported while an
  apply runs is repaired by the next one.

Everything here is memory lockstep rebuilds: after a restart the first
reconciles of each Kustomization build and apply in full. Built objects,
decrypted Secrets included, are kept in memory only, never on disk.

Used by the Kustomization reconciler; the controller manager marks drift.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import Artifact
from lockstep.controllers.drift import WatchEpoch
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.kube import KubeObject
from lockstep.runtime.informer import ObjectKey


@dataclass(frozen=True)
class BuildFingerprint:
    """Everything a build reads: equal fingerprints build equal objects."""

    uid: str
    generation: int | None
    artifact: str
    inputs: str

    @classmethod
    def of(
        cls, kustomization: Kustomization, artifact: Artifact, inputs: BuildInputs
    ) -> BuildFingerprint | None:
        """The fingerprint of this build; ``None`` when the artifact has no digest to trust."""
        metadata = kustomization.metadata
        if not artifact.digest or not metadata.uid:
            return None
        return cls(
            metadata.uid,
            metadata.generation,
            f"{artifact.url}@{artifact.digest}",
            inputs_digest(inputs),
        )


def inputs_digest(inputs: BuildInputs) -> str:
    """``sha256:<hex>`` of the variables and keys; only the digest is kept, not the secrets."""
    canonical = json.dumps(
        {"variables": inputs.variables, "ageKeys": list(inputs.age_keys)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


@dataclass(frozen=True)
class Build:
    """Built objects, shared between reconciles: read them, never change them."""

    objects: tuple[KubeObject, ...]
    digest: str


@dataclass(frozen=True)
class AppliedState:
    """A Kustomization as its last successful full apply left it, or as it is now."""

    uid: str | None
    generation: int | None
    revision: str
    digest: str
    requested_at: str | None
    inventory: tuple[tuple[str, str], ...]
    """(id, version) of each ``status.inventory`` entry."""

    watch: WatchEpoch | None
    """``None`` when a kind of the objects was not watched: drift could go unseen."""

    cluster: str = ""
    """Digest of the target cluster's credentials (empty: the local cluster): other
    credentials may reach another cluster, whose watches vouch for nothing applied before."""


class KustomizationMemory:
    """The last build, the last clean apply and the dirty marks, by Kustomization key."""

    def __init__(self) -> None:
        self._builds: dict[ObjectKey, tuple[BuildFingerprint, Build]] = {}
        self._applied: dict[ObjectKey, AppliedState] = {}
        self._dirty: set[ObjectKey] = set()

    def build(self, key: ObjectKey, fingerprint: BuildFingerprint | None) -> Build | None:
        """The remembered build of ``key`` when it was made from the same inputs."""
        remembered = self._builds.get(key)
        if fingerprint is None or remembered is None or remembered[0] != fingerprint:
            return None
        return remembered[1]

    def remember_build(
        self, key: ObjectKey, fingerprint: BuildFingerprint | None, build: Build
    ) -> None:
        """Keep ``build`` for the next reconcile of ``key``; without a fingerprint, nothing."""
        if fingerprint is None:
            self._builds.pop(key, None)
        else:
            self._builds[key] = (fingerprint, build)

    def is_clean(self, key: ObjectKey, state: AppliedState) -> bool:
        """Whether the cluster still holds what the last full apply of ``key`` applied:
        nothing that goes into an apply changed and no drift was reported since."""
        return (
            key not in self._dirty and state.watch is not None and self._applied.get(key) == state
        )

    def applying(self, key: ObjectKey) -> None:
        """A full apply of ``key`` begins: drift reported from now on counts against it."""
        self._dirty.discard(key)
        self._applied.pop(key, None)

    def applied(self, key: ObjectKey, state: AppliedState) -> None:
        """The full apply of ``key`` succeeded and its status is written."""
        self._applied[key] = state

    def mark_dirty(self, key: ObjectKey) -> None:
        """The cluster may differ from the last apply of ``key`` (drift), or its last
        reconcile failed: the next reconcile applies in full."""
        self._dirty.add(key)

    def forget(self, key: ObjectKey) -> None:
        """The Kustomization is gone."""
        self._builds.pop(key, None)
        self._applied.pop(key, None)
        self._dirty.discard(key)
