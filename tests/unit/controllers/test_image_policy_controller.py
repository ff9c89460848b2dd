"""The ImagePolicy controller against the tag store, an in-memory registry and API: the
elected image in both status forms, digest reflection, and why nothing was elected."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.api.image import ImagePolicyStatus, ImageRef
from lockstep.controllers.image.policy import (
    DigestPlan,
    ImagePolicyOptions,
    ImagePolicyReconciler,
    ReflectionPolicy,
    digest_plan,
    policies_for_repository,
    record_election,
)
from lockstep.controllers.image.tags import ImageTagStore, ScannedTags
from lockstep.kube import ObjectRef
from lockstep.runtime.queue import Success, TerminalFailure, TransientFailure
from unit.controllers.image_fakes import NAMESPACE, FakeCache, FakeKube, condition_types, ready
from unit.sources.image_registry import ImageRegistry

HOST = "registry.test"
IMAGE = f"{HOST}/team/app"
KEY = (NAMESPACE, "app-policy")
REPOSITORY_KEY = (NAMESPACE, "app")


def image_policy(policy: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": {"name": "app-policy", "namespace": NAMESPACE, "generation": 1},
        "spec": {
            "imageRepositoryRef": {"name": "app"},
            "policy": policy or {"semver": {"range": "^1.2.x"}},
            **spec,
        },
    }


def image_repository(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": NAMESPACE, "generation": 1},
        "spec": {"image": IMAGE, "interval": "5m", **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


class Setup:
    def __init__(
        self,
        policy: dict[str, Any],
        repository: dict[str, Any] | None = None,
        tags: tuple[str, ...] | None = ("1.3.0", "1.2.2", "1.2.1"),
        options: ImagePolicyOptions | None = None,
    ) -> None:
        self.registry = ImageRegistry(host=HOST)
        self.digests = self.registry.push("team/app", *(tags or ()))
        self.policies = FakeCache(policy)
        self.repositories = FakeCache(*([repository] if repository else []))
        self.kube = FakeKube(self.policies)
        self.tags = ImageTagStore()
        if tags is not None:
            self.scan(*tags)
        self.reconciler = ImagePolicyReconciler(
            self.kube.client(),
            self.policies,
            self.repositories,
            self.tags,
            options or ImagePolicyOptions(),
            self.registry.transport,
        )

    def scan(self, *tags: str) -> None:
        self.digests.update(self.registry.push("team/app", *tags))
        ordered = tuple(sorted(tags, reverse=True))
        self.tags.put(REPOSITORY_KEY, ScannedTags(IMAGE, "rev", ordered))

    @property
    def stored(self) -> dict[str, Any]:
        obj = self.policies.get(KEY)
        assert obj is not None
        return obj


async def test_the_highest_version_in_range_is_elected_in_both_status_forms() -> None:
    setup = Setup(image_policy(), image_repository())

    assert await setup.reconciler.reconcile(KEY) == Success()

    status = setup.stored["status"]
    assert status["latestRef"] == {"name": IMAGE, "tag": "1.3.0"}
    assert status["latestImage"] == f"{IMAGE}:1.3.0"
    assert "observedPreviousRef" not in status
    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("True", "Succeeded")
    assert "1.3.0" in condition["message"]
    assert setup.registry.requests == []


async def test_a_new_election_keeps_the_previous_image() -> None:
    setup = Setup(image_policy({"semver": {"range": "~1.2"}}), image_repository())
    await setup.reconciler.reconcile(KEY)
    assert setup.stored["status"]["latestRef"]["tag"] == "1.2.2"

    setup.scan("1.3.0", "1.2.3", "1.2.2", "1.2.1")
    await setup.reconciler.reconcile(KEY)

    status = setup.stored["status"]
    assert status["latestRef"] == {"name": IMAGE, "tag": "1.2.3"}
    assert status["observedPreviousRef"] == {"name": IMAGE, "tag": "1.2.2"}
    assert "previously" in ready(setup.stored)["message"]


async def test_an_unchanged_election_writes_nothing() -> None:
    setup = Setup(image_policy(), image_repository())
    await setup.reconciler.reconcile(KEY)
    setup.scan("1.3.0", "1.2.2", "1.2.1", "2.0.0")
    await setup.reconciler.reconcile(KEY)
    assert len(setup.kube.status_writes) == 1


async def test_a_range_nothing_matches_says_so() -> None:
    setup = Setup(image_policy({"semver": {"range": ">=5.0.0"}}), image_repository())

    assert await setup.reconciler.reconcile(KEY) == TransientFailure()

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "Failure")
    assert condition["message"] == (
        f"ImagePolicy flux-system/app-policy: no tag of {IMAGE} qualifies: no tag matches "
        "the semver range '>=5.0.0' (latest: 1.3.0)"
    )


async def test_a_missing_repository_is_a_dependency_not_ready() -> None:
    setup = Setup(image_policy(), repository=None, tags=None)

    assert await setup.reconciler.reconcile(KEY) == Success()

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "DependencyNotReady")
    assert "ImageRepository flux-system/app does not exist" in condition["message"]


async def test_a_repository_not_scanned_yet_is_a_dependency_not_ready() -> None:
    setup = Setup(image_policy(), image_repository(), tags=None)

    assert await setup.reconciler.reconcile(KEY) == Success()

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "DependencyNotReady")
    assert condition["message"].endswith("ImageRepository flux-system/app has not been scanned yet")


async def test_a_repository_without_tags_is_a_dependency_not_ready() -> None:
    setup = Setup(image_policy(), image_repository(), tags=())
    await setup.reconciler.reconcile(KEY)
    assert ready(setup.stored)["reason"] == "DependencyNotReady"
    assert "has no tags" in ready(setup.stored)["message"]


async def test_after_a_restart_a_policy_waits_for_the_first_scan_without_a_write() -> None:
    scanned_before = {"lastScanResult": {"tagCount": 3, "revision": "rev"}}
    setup = Setup(image_policy(), image_repository(status=scanned_before), tags=None)

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.kube.status_writes == []


async def test_a_suspended_repository_never_rescanned_says_to_resume_it() -> None:
    scanned_before = {"lastScanResult": {"tagCount": 3, "revision": "rev"}}
    setup = Setup(image_policy(), image_repository(status=scanned_before, suspend=True), tags=None)
    await setup.reconciler.reconcile(KEY)
    assert "is suspended" in ready(setup.stored)["message"]


async def test_digest_always_asks_the_registry_every_interval() -> None:
    setup = Setup(image_policy(digestReflectionPolicy="Always", interval="1m"), image_repository())

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=60)

    assert setup.stored["status"]["latestRef"]["digest"] == setup.digests["1.3.0"]
    assert "with digest sha256:" in ready(setup.stored)["message"]
    assert [r.split(" ")[0] for r in setup.registry.requests] == ["HEAD"]


async def test_digest_if_not_present_is_kept_while_the_tag_stays() -> None:
    setup = Setup(image_policy(digestReflectionPolicy="IfNotPresent"), image_repository())
    await setup.reconciler.reconcile(KEY)
    first = setup.stored["status"]["latestRef"]["digest"]
    assert first == setup.digests["1.3.0"]

    await setup.reconciler.reconcile(KEY)

    assert len(setup.registry.requests) == 1
    assert setup.stored["status"]["latestRef"]["digest"] == first


async def test_digest_always_without_an_interval_is_stalled() -> None:
    setup = Setup(image_policy(digestReflectionPolicy="Always"), image_repository())
    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()
    assert ready(setup.stored)["reason"] == "IntervalNotConfigured"
    assert "Stalled" in condition_types(setup.stored)


async def test_an_unusable_range_is_stalled() -> None:
    setup = Setup(image_policy({"semver": {"range": "not a range"}}), image_repository())
    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()
    assert ready(setup.stored)["reason"] == "InvalidPolicy"
    assert "spec.policy.semver.range" in ready(setup.stored)["message"]


def shared_repository(**access_from: Any) -> dict[str, Any]:
    other = image_repository()
    other["metadata"]["namespace"] = "images"
    if access_from:
        other["spec"]["accessFrom"] = access_from
    return other


def cross_namespace_setup(repository: dict[str, Any], labels: dict[str, str]) -> Setup:
    policy = image_policy(imageRepositoryRef={"name": "app", "namespace": "images"})
    setup = Setup(policy, repository, tags=None)
    setup.kube.secrets[ObjectRef("v1", "Namespace", NAMESPACE, "")] = {
        "metadata": {"name": NAMESPACE, "labels": labels}
    }
    setup.tags.put(("images", "app"), ScannedTags(IMAGE, "rev", ("1.3.0",)))
    return setup


async def test_a_repository_in_another_namespace_is_used_when_its_access_from_allows() -> None:
    selectors = {
        "namespaceSelectors": [{"matchLabels": {"team": "x"}}, {"matchLabels": {"tenant": "a"}}]
    }
    setup = cross_namespace_setup(shared_repository(**selectors), {"tenant": "a", "other": "b"})

    await setup.reconciler.reconcile(KEY)

    assert setup.stored["status"]["latestRef"]["tag"] == "1.3.0"


@pytest.mark.parametrize(
    ("access_from", "labels", "says"),
    [
        ({}, {"tenant": "a"}, "has no spec.accessFrom"),
        ({"namespaceSelectors": []}, {"tenant": "a"}, "has no spec.accessFrom"),
        (
            {"namespaceSelectors": [{"matchLabels": {"tenant": "a", "tier": "1"}}]},
            {"tenant": "a"},
            "selects no namespace with the labels of namespace flux-system",
        ),
    ],
)
async def test_a_repository_in_another_namespace_without_a_matching_acl_is_denied(
    access_from: dict[str, Any], labels: dict[str, str], says: str
) -> None:
    setup = cross_namespace_setup(shared_repository(**access_from), labels)

    assert isinstance(await setup.reconciler.reconcile(KEY), TransientFailure)

    assert ready(setup.stored)["reason"] == "AccessDenied"
    assert says in ready(setup.stored)["message"]
    assert "latestRef" not in setup.stored.get("status", {})


async def test_cross_namespace_refs_refused_by_the_engine_whatever_the_acl() -> None:
    policy = image_policy(imageRepositoryRef={"name": "app", "namespace": "images"})
    repository = shared_repository(namespaceSelectors=[{"matchLabels": {}}])
    refusing = Setup(policy, repository, tags=None, options=ImagePolicyOptions(True))
    assert await refusing.reconciler.reconcile(KEY) == TerminalFailure()
    assert ready(refusing.stored)["reason"] == "AccessDenied"


async def test_a_suspended_policy_is_left_alone() -> None:
    setup = Setup(image_policy(suspend=True), image_repository())
    assert await setup.reconciler.reconcile(KEY) == Success()
    assert setup.kube.status_writes == []


A = ImageRef(name=IMAGE, tag="1.0.0", digest="sha256:a")


@pytest.mark.parametrize(
    ("policy", "previous", "elected", "plan"),
    [
        ("Never", A, ImageRef(name=IMAGE, tag="1.0.0"), DigestPlan(fetch=False)),
        ("Always", A, ImageRef(name=IMAGE, tag="1.0.0"), DigestPlan(fetch=True)),
        ("IfNotPresent", None, ImageRef(name=IMAGE, tag="1.0.0"), DigestPlan(fetch=True)),
        (
            "IfNotPresent",
            A,
            ImageRef(name=IMAGE, tag="1.0.0"),
            DigestPlan(fetch=False, kept="sha256:a"),
        ),
        ("IfNotPresent", A, ImageRef(name=IMAGE, tag="1.1.0"), DigestPlan(fetch=True)),
        ("IfNotPresent", A, ImageRef(name="other/app", tag="1.0.0"), DigestPlan(fetch=True)),
        (
            "IfNotPresent",
            ImageRef(name=IMAGE, tag="1.0.0"),
            ImageRef(name=IMAGE, tag="1.0.0"),
            DigestPlan(fetch=True),
        ),
    ],
)
def test_digest_reflection_decisions(
    policy: ReflectionPolicy, previous: ImageRef | None, elected: ImageRef, plan: DigestPlan
) -> None:
    assert digest_plan(policy, previous, elected) == plan


def test_the_previous_ref_is_recorded_only_when_the_image_changes() -> None:
    status = record_election(ImagePolicyStatus(), A)
    assert (status.latest_ref, status.observed_previous_ref) == (A, None)
    assert status.latest_image == f"{IMAGE}:1.0.0"

    moved = ImageRef(name=IMAGE, tag="1.0.0", digest="sha256:b")
    status = record_election(status, moved)
    assert (status.latest_ref, status.observed_previous_ref) == (moved, A)

    status = record_election(status, moved)
    assert status.observed_previous_ref == A


def test_policies_are_found_by_the_repository_they_name() -> None:
    local = image_policy()
    elsewhere = image_policy(imageRepositoryRef={"name": "app", "namespace": "images"})
    elsewhere["metadata"]["name"] = "cross"
    unrelated = image_policy(imageRepositoryRef={"name": "other"})
    unrelated["metadata"]["name"] = "unrelated"
    policies = [local, elsewhere, unrelated]
    assert policies_for_repository(REPOSITORY_KEY, policies) == [KEY]
    assert policies_for_repository(("images", "app"), policies) == [(NAMESPACE, "cross")]
