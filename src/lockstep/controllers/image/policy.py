"""The ImagePolicy controller: elects the latest image among an ImageRepository's tags.

:class:`ImagePolicyReconciler` reads the tags the repository's last scan put in the
:class:`~lockstep.controllers.image.tags.ImageTagStore`, elects one with the pure
rules of :mod:`lockstep.images.policy` (``semver``, ``alphabetical``, ``numerical``,
``filterTags``), resolves its digest as ``digestReflectionPolicy`` asks (a manifest
HEAD on the registry, with the repository's credentials), and reports it as
``status.latestRef`` (v1) and ``status.latestImage`` (``name:tag``, what v1beta2
clients read) in the one stored status. When the elected image changes, the one
before it becomes ``observedPreviousRef``.

A repository in another namespace is used only when its ``spec.accessFrom`` selects
the policy's namespace by its labels (Flux's ACL); otherwise AccessDenied.
A policy that cannot elect says why on Ready=False: DependencyNotReady while its
repository does not exist, has not been scanned or has no tags; Flux's ``Failure``
when no tag qualifies; InvalidPolicy (Stalled) for a rule that cannot be used. The
last elected image stays in the status meanwhile. After a restart the tag store is
empty until the first scans: a policy whose repository was scanned before waits
for them silently instead of turning Ready=False.

It runs in the one reconciler shell (:mod:`lockstep.controllers.shell`); the manager
runs it on the ImagePolicy informer and enqueues the policies that name
a repository (:func:`policies_for_repository`) whenever the store's tags for it
change. Only ``digestReflectionPolicy: Always`` reconciles on a timer, every
``spec.interval``, to see a tag that moved to another digest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

import httpx2
from pydantic import ValidationError

from lockstep.api import kinds
from lockstep.api.conditions import find_condition
from lockstep.api.image import ImagePolicy, ImagePolicyStatus, ImageRef, ImageRepository
from lockstep.api.meta import ConditionReason, ConditionType, duration_seconds
from lockstep.controllers.image.repository import registry_options
from lockstep.controllers.image.status import DEPENDENCY_NOT_READY, READ_OPERATION_FAILED
from lockstep.controllers.image.tags import ImageTagStore, ScannedTags
from lockstep.controllers.shell import WAITING, Failure, Ready, ReconcilerShell, Waiting
from lockstep.images.policy import InvalidPolicyError, TagPolicy, policy_from_spec, select_tag
from lockstep.kube import KubeClient, KubeError, KubeObject, ObjectRef
from lockstep.runtime.informer import ObjectCache, ObjectKey, object_key
from lockstep.sources import errors
from lockstep.sources.image_names import parse_image_name
from lockstep.sources.image_scan import resolve_digest

KIND = "ImagePolicy"
API_VERSION = kinds.IMAGE_POLICY.api_version

INVALID_POLICY = "InvalidPolicy"
"""Reason of Ready=False and Stalled for a rule or filter that cannot be used (Flux's)."""

INTERVAL_NOT_CONFIGURED = "IntervalNotConfigured"
"""Reason of Ready=False and Stalled for ``digestReflectionPolicy: Always`` without an interval."""

NO_TAG_ELECTED = "Failure"
"""Reason of Ready=False when no tag qualifies: Flux's generic failure reason."""

ReflectionPolicy = Literal["Always", "IfNotPresent", "Never"]


@dataclass(frozen=True)
class ImagePolicyOptions:
    """Settings of ``lockstep run`` that change how ImagePolicies are reconciled."""

    no_cross_namespace_refs: bool = False
    """Refuse an ``imageRepositoryRef`` in another namespace (multi-tenant clusters)."""


@dataclass(frozen=True)
class DigestPlan:
    """What ``digestReflectionPolicy`` asks of the elected image's digest."""

    fetch: bool
    """Ask the registry."""

    kept: str | None = None
    """The digest to report without asking; None for none."""


def digest_plan(
    policy: ReflectionPolicy, previous: ImageRef | None, elected: ImageRef
) -> DigestPlan:
    """``Always`` asks every time; ``IfNotPresent`` keeps the digest while the image stays
    the same and asks otherwise; ``Never`` reports none."""
    if policy == "Always":
        return DigestPlan(fetch=True)
    if policy == "IfNotPresent":
        if (
            previous is not None
            and previous.digest
            and (previous.name, previous.tag) == (elected.name, elected.tag)
        ):
            return DigestPlan(fetch=False, kept=previous.digest)
        return DigestPlan(fetch=True)
    return DigestPlan(fetch=False)


def record_election(status: ImagePolicyStatus, elected: ImageRef) -> ImagePolicyStatus:
    """`status` reporting `elected`; the image it replaces becomes ``observedPreviousRef``."""
    if status.latest_ref != elected:
        status.observed_previous_ref = status.latest_ref
        status.latest_ref = elected
    status.latest_image = f"{elected.name}:{elected.tag}"
    return status


def election_message(status: ImagePolicyStatus) -> str:
    latest = status.latest_ref
    if latest is None:
        return ""
    message = f"latest image tag for {latest.name} is {latest.tag}"
    if latest.digest:
        message += f" with digest {latest.digest}"
    previous = status.observed_previous_ref
    if previous is not None and previous != latest:
        message += f" (previously {_reference(previous)})"
    return message


def _reference(ref: ImageRef) -> str:
    return f"{ref.name}:{ref.tag}" + (f"@{ref.digest}" if ref.digest else "")


def repository_key(policy: KubeObject) -> ObjectKey | None:
    """The (namespace, name) of the ImageRepository a raw ImagePolicy names, if readable."""
    ref = (policy.get("spec") or {}).get("imageRepositoryRef") or {}
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        return None
    namespace = ref.get("namespace") or (policy.get("metadata") or {}).get("namespace") or ""
    return (str(namespace), name)


def policies_for_repository(
    repository: ObjectKey, policies: Iterable[KubeObject]
) -> list[ObjectKey]:
    """The keys of the ImagePolicies that elect from `repository`."""
    return [object_key(policy) for policy in policies if repository_key(policy) == repository]


class ImagePolicyReconciler(ReconcilerShell[ImagePolicy, ImagePolicyStatus]):
    """Keeps each ImagePolicy's latest image current with its repository's tags."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "imagepolicy"
    model = ImagePolicy
    status_model = ImagePolicyStatus

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        repositories: ObjectCache,
        tags: ImageTagStore,
        options: ImagePolicyOptions,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        """``repositories`` is the ImageRepository informer; ``transport`` is where registry
        requests go, None for the network."""
        super().__init__(kube, cache)
        self._repositories = repositories
        self._tags = tags
        self._options = options
        self._transport = transport

    def interval(self, obj: ImagePolicy) -> float | None:
        """Only ``digestReflectionPolicy: Always`` looks again by itself, to see a tag that
        moved to another digest; otherwise new tags enqueue the policy."""
        if obj.spec.digest_reflection_policy == "Always" and obj.spec.interval is not None:
            return duration_seconds(obj.spec.interval)
        return None

    async def pipeline(self, obj: ImagePolicy, status: ImagePolicyStatus) -> Ready | Waiting:
        rule = self._checked_rule(obj)
        found = await self._scanned_tags(obj)
        if found is None:
            return WAITING
        repository, scanned = found
        tag = self._elected_tag(obj, scanned, rule)
        elected = await self._with_digest(obj, repository, scanned, tag, status.latest_ref)
        return Ready(election_message(record_election(status, elected)))

    def _checked_rule(self, policy: ImagePolicy) -> TagPolicy:
        name = _policy_name(policy)
        if policy.spec.digest_reflection_policy == "Always" and policy.spec.interval is None:
            raise Failure(
                INTERVAL_NOT_CONFIGURED,
                f"{name}: spec.interval must be set when spec.digestReflectionPolicy is Always; "
                "set how often to refresh the digest",
                terminal=True,
            )
        try:
            return policy_from_spec(
                policy.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
        except InvalidPolicyError as error:
            raise Failure(INVALID_POLICY, f"{name}: {error}", terminal=True) from error

    async def _scanned_tags(
        self, policy: ImagePolicy
    ) -> tuple[ImageRepository, ScannedTags] | None:
        """The repository and its tags; None to wait, silently, for a scan under way."""
        name = _policy_name(policy)
        ref = policy.spec.image_repository_ref
        own_namespace = policy.metadata.namespace or ""
        key = (ref.namespace or own_namespace, ref.name)
        where = f"ImageRepository {key[0]}/{key[1]}"
        if self._options.no_cross_namespace_refs and key[0] != own_namespace:
            raise Failure(
                ConditionReason.ACCESS_DENIED,
                f"{name}: {where} is in another namespace and cross-namespace references are "
                "disabled on this engine; use an ImageRepository in the policy's namespace",
                terminal=True,
            )
        obj = self._repositories.get(key)
        if obj is None:
            raise _dependency_not_ready(
                f"{name}: {where} does not exist; create it or correct spec.imageRepositoryRef",
            )
        try:
            repository = ImageRepository.model_validate(obj)
        except ValidationError as error:
            raise _dependency_not_ready(f"{name}: {where} is invalid; correct it") from error
        if key[0] != own_namespace:
            await self._check_access_from(policy, repository, where)
        scanned = self._tags.get(key)
        if scanned is None:
            if _scan_expected(repository):
                # Scanned before this process started: its first scan here refills the store
                # and enqueues this policy. Until then the status stays as it was.
                return None
            raise _dependency_not_ready(f"{name}: {where} {_not_scanned(repository)}")
        if not scanned.tags:
            raise _dependency_not_ready(
                f"{name}: {where} has no tags (after its exclusion list); push an image to "
                f"{scanned.image}",
            )
        return repository, scanned

    async def _check_access_from(
        self, policy: ImagePolicy, repository: ImageRepository, where: str
    ) -> None:
        """Flux's cross-namespace ACL: the repository's ``spec.accessFrom`` must select the
        policy's namespace by its labels; without ``accessFrom``, no other namespace may."""
        name = _policy_name(policy)
        own = policy.metadata.namespace or ""
        access = repository.spec.access_from
        if access is None or not access.namespace_selectors:
            raise Failure(
                ConditionReason.ACCESS_DENIED,
                f"{name}: {where} is in another namespace and has no spec.accessFrom; add "
                f"spec.accessFrom.namespaceSelectors to it that match namespace {own}",
            )
        try:
            namespace = await self._kube.get(ObjectRef("v1", "Namespace", own, ""))
        except KubeError as error:
            raise Failure(
                READ_OPERATION_FAILED, f"{name}: cannot read the labels of namespace {own}: {error}"
            ) from error
        labels = (namespace.get("metadata") or {}).get("labels") or {}
        if not any(
            all(labels.get(key) == value for key, value in selector.match_labels.items())
            for selector in access.namespace_selectors
        ):
            raise Failure(
                ConditionReason.ACCESS_DENIED,
                f"{name}: spec.accessFrom of {where} selects no namespace with the labels of "
                f"namespace {own}; label the namespace or widen spec.accessFrom",
            )

    def _elected_tag(self, policy: ImagePolicy, scanned: ScannedTags, rule: TagPolicy) -> str:
        selection = select_tag(scanned.tags, rule)
        if selection.tag is None:
            raise Failure(
                NO_TAG_ELECTED,
                f"{_policy_name(policy)}: no tag of {scanned.image} qualifies: {selection.reason}",
            )
        return selection.tag

    async def _with_digest(
        self,
        policy: ImagePolicy,
        repository: ImageRepository,
        scanned: ScannedTags,
        tag: str,
        previous: ImageRef | None,
    ) -> ImageRef:
        elected = ImageRef(name=scanned.image, tag=tag)
        plan = digest_plan(policy.spec.digest_reflection_policy, previous, elected)
        if not plan.fetch:
            return elected.model_copy(update={"digest": plan.kept})
        what = f"{_policy_name(policy)}: cannot read the digest of {scanned.image}:{tag}"
        try:
            image = parse_image_name(scanned.image)
            options = await registry_options(self._kube, repository, image, self._transport)
            digest = await asyncio.to_thread(resolve_digest, image, tag, options)
        except Failure as failure:
            raise Failure(failure.reason, f"{what}: {failure}") from failure
        except errors.SourceError as error:
            raise Failure(READ_OPERATION_FAILED, f"{what}: {error}") from error
        return elected.model_copy(update={"digest": digest})


def _policy_name(policy: ImagePolicy) -> str:
    return f"{KIND} {policy.metadata.namespace}/{policy.metadata.name}"


def _dependency_not_ready(message: str) -> Failure:
    """The repository has nothing to offer yet: its next change of tags (its creation and
    first scan included) enqueues the policy, so there is nothing to poll for."""
    return Failure(DEPENDENCY_NOT_READY, message, retry=False)


def _scan_expected(repository: ImageRepository) -> bool:
    """Whether the repository has been scanned before and will be again, by itself, soon."""
    status = repository.status
    if repository.spec.suspend or status is None or status.last_scan_result is None:
        return False
    stalled = find_condition(status.conditions, ConditionType.STALLED)
    return stalled is None or stalled.status != "True"


def _not_scanned(repository: ImageRepository) -> str:
    """Why a repository has no tags in the store, for the policy's message."""
    if repository.spec.suspend:
        return "is suspended and has not been scanned since lockstep started; resume it"
    ready = (
        find_condition(repository.status.conditions, ConditionType.READY)
        if repository.status
        else None
    )
    if ready is not None and ready.status == "False":
        return f"cannot be scanned: {ready.message}"
    return "has not been scanned yet"
