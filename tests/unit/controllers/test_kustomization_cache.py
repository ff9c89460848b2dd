"""The reconciler's memory between reconciles: a build is reused only for the same
inputs, and a Kustomization is clean only when nothing that goes into an apply
changed and no drift was reported since the apply began."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import Artifact
from lockstep.controllers.kustomize.cache import (
    AppliedState,
    Build,
    BuildFingerprint,
    KustomizationMemory,
)
from lockstep.controllers.kustomize.inputs import BuildInputs

KEY = ("flux-system", "apps")
STATE = AppliedState(
    uid="uid-1",
    generation=3,
    revision="main@sha1:1",
    digest="sha256:objects",
    requested_at=None,
    inventory=(("flux-system_web__ConfigMap", "v1"),),
    watch=(("v1", "ConfigMap", 1),),
)
BUILD = Build(({"kind": "ConfigMap"},), "sha256:objects")


def _kustomization(uid: str = "uid-1", generation: int = 3) -> Kustomization:
    return Kustomization.model_validate(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "name": "apps",
                "namespace": "flux-system",
                "uid": uid,
                "generation": generation,
            },
            "spec": {
                "interval": "1m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
            },
        }
    )


def _artifact(digest: str | None = "sha256:" + "a" * 64) -> Artifact:
    return Artifact(
        path="gitrepository/flux-system/repo/a.tar.gz",
        url="http://127.0.0.1:9090/gitrepository/flux-system/repo/a.tar.gz",
        revision="main@sha1:1",
        digest=digest,
        last_update_time=datetime(2026, 11, 23, tzinfo=UTC),
    )


def _fingerprint(**changes: Any) -> BuildFingerprint | None:
    kustomization = changes.pop("kustomization", _kustomization())
    artifact = changes.pop("artifact", _artifact())
    inputs = changes.pop("inputs", BuildInputs(variables={"cluster": "prod"}))
    return BuildFingerprint.of(kustomization, artifact, inputs)


def test_a_fingerprint_covers_every_input_of_the_build() -> None:
    same = _fingerprint()
    assert same is not None
    assert same == _fingerprint()
    others = [
        _fingerprint(kustomization=_kustomization(generation=4)),
        _fingerprint(kustomization=_kustomization(uid="uid-2")),
        _fingerprint(artifact=_artifact("sha256:" + "b" * 64)),
        _fingerprint(inputs=BuildInputs(variables={"cluster": "staging"})),
        _fingerprint(inputs=BuildInputs(variables=None)),
        _fingerprint(inputs=BuildInputs(variables={"cluster": "prod"}, age_keys=("AGE-KEY",))),
    ]
    assert all(other is not None and other != same for other in others)


def test_an_artifact_without_digest_is_never_reused() -> None:
    assert _fingerprint(artifact=_artifact(None)) is None
    memory = KustomizationMemory()
    memory.remember_build(KEY, _fingerprint(), BUILD)
    memory.remember_build(KEY, None, BUILD)
    assert memory.build(KEY, _fingerprint()) is None, "the older build is dropped too"
    assert memory.build(KEY, None) is None


def test_a_build_is_reused_for_the_same_fingerprint_only() -> None:
    memory = KustomizationMemory()
    assert memory.build(KEY, _fingerprint()) is None
    memory.remember_build(KEY, _fingerprint(), BUILD)
    assert memory.build(KEY, _fingerprint()) is BUILD
    assert memory.build(KEY, _fingerprint(inputs=BuildInputs())) is None
    assert memory.build(("flux-system", "other"), _fingerprint()) is None
    memory.forget(KEY)
    assert memory.build(KEY, _fingerprint()) is None


def _applied(state: AppliedState = STATE) -> KustomizationMemory:
    memory = KustomizationMemory()
    memory.applying(KEY)
    memory.applied(KEY, state)
    return memory


def test_clean_after_a_full_apply_until_anything_that_goes_into_one_changes() -> None:
    assert not KustomizationMemory().is_clean(KEY, STATE), "nothing applied since the start"
    memory = _applied()
    assert memory.is_clean(KEY, STATE)
    assert not memory.is_clean(("flux-system", "other"), STATE)
    for changed in [
        replace(STATE, uid="uid-2"),
        replace(STATE, generation=4),
        replace(STATE, revision="main@sha1:2"),
        replace(STATE, digest="sha256:other"),
        replace(STATE, requested_at="2026-11-23T10:00:00Z"),
        replace(STATE, inventory=()),
        replace(STATE, watch=(("v1", "ConfigMap", 2),)),
    ]:
        assert not memory.is_clean(KEY, changed), changed


def test_kinds_not_watched_never_vouch_for_an_apply() -> None:
    unwatched = replace(STATE, watch=None)
    assert not _applied(unwatched).is_clean(KEY, unwatched)


def test_drift_makes_the_next_reconcile_a_full_apply() -> None:
    memory = _applied()
    memory.mark_dirty(KEY)
    assert not memory.is_clean(KEY, STATE)
    memory.applying(KEY)
    assert not memory.is_clean(KEY, STATE), "no clean state while the apply runs"
    memory.applied(KEY, STATE)
    assert memory.is_clean(KEY, STATE)


def test_drift_reported_during_an_apply_outlives_it() -> None:
    memory = KustomizationMemory()
    memory.applying(KEY)
    memory.mark_dirty(KEY)
    memory.applied(KEY, STATE)
    assert not memory.is_clean(KEY, STATE)


def test_forgetting_a_kustomization_drops_its_clean_state() -> None:
    memory = _applied()
    memory.forget(KEY)
    assert not memory.is_clean(KEY, STATE)
