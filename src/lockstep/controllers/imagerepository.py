"""The ImageRepository controller: scans an image repository's tags for the ImagePolicies.

Every ``spec.interval`` (and at once for a new object, a spec change or a
``reconcile.fluxcd.io/requestedAt``), :class:`ImageRepositoryReconciler` lists the
tags of ``spec.image`` through the distribution API (:mod:`lockstep.sources.image_scan`,
in a thread), anonymously or with the credentials of the docker-config Secret
``spec.secretRef`` names, leaves out the tags ``spec.exclusionList`` matches (by default
cosign's ``.sig`` tags), and puts the rest in the :class:`ImageTagStore` the ImagePolicy
controller elects from. The status reports ``canonicalImageName`` and
``lastScanResult`` (tag count, scan time, the ten newest tags, the revision).

A rescan that finds the same tags writes no status, so ``lastScanResult.scanTime`` is
when the tags last changed (Flux rewrites it at every scan). Registry failures keep the
last scan's tags and status fields, set Ready=False (AuthenticationFailed or
ReadOperationFailed) and are retried with backoff, at the latest after an interval.
Cloud ``spec.provider`` credentials and ``spec.certSecretRef`` are not supported: the
object is marked Stalled, saying so. A deleted object's tags are dropped.

Run by the controller manager on the ImageRepository informer. The ImagePolicy
controller reads the registry settings of a repository with :func:`registry_options`.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import ClassVar, Protocol

import httpx2
from pydantic import ValidationError

from lockstep.api.image import (
    DEFAULT_TAG_EXCLUSION,
    ImageRepository,
    ImageRepositorySpec,
    ImageRepositoryStatus,
    ScanResult,
)
from lockstep.api.meta import duration_seconds
from lockstep.controllers.image_status import (
    AUTHENTICATION_FAILED,
    READ_OPERATION_FAILED,
    ImageFailure,
    StatusWriter,
    invalid_object_message,
    mark_image_failed,
    mark_image_ready,
    prepared_status,
)
from lockstep.controllers.image_tags import ImageTagStore, ScannedTags
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, TransientFailure
from lockstep.sources import errors
from lockstep.sources.image_names import ImageName, parse_image_name
from lockstep.sources.image_scan import (
    ExclusionList,
    InvalidExclusionList,
    TagScan,
    parse_exclusion_list,
    scan_tags,
)
from lockstep.sources.registry_auth import auth_from_docker_config
from lockstep.sources.registry_client import RegistryOptions

KIND = "ImageRepository"
API_VERSION = "image.toolkit.fluxcd.io/v1"

IMAGE_URL_INVALID = "ImageURLInvalid"
"""Reason of Ready=False and Stalled for a ``spec.image`` that is no image name (Flux's)."""

EXCLUSION_LIST_INVALID = "ExclusionListInvalid"
"""Reason of Ready=False and Stalled for a ``spec.exclusionList`` pattern that does not compile."""

UNSUPPORTED_PROVIDER = "UnsupportedProvider"
"""Reason of Ready=False and Stalled for a cloud ``spec.provider``."""

UNSUPPORTED_CERT_SECRET = "UnsupportedCertSecretRef"
"""Reason of Ready=False and Stalled for ``spec.certSecretRef``, not supported yet."""

MIN_TIMEOUT_SECONDS = 1.0
"""The shortest scan time limit, whatever ``spec.timeout`` says (as in Flux)."""


class Cache(Protocol):
    """The informer's cached ImageRepositories."""

    def get(self, key: ObjectKey) -> KubeObject | None: ...


def repository_name(repository: ImageRepository) -> str:
    return f"{KIND} {repository.metadata.namespace}/{repository.metadata.name}"


def scan_timeout(spec: ImageRepositorySpec) -> float:
    """``spec.timeout``, or the interval when omitted; at least a second."""
    return max(duration_seconds(spec.timeout or spec.interval), MIN_TIMEOUT_SECONDS)


def exclusion_patterns(spec: ImageRepositorySpec) -> list[str]:
    """``spec.exclusionList``; the default (cosign signatures) when empty, as in Flux."""
    return spec.exclusion_list or [DEFAULT_TAG_EXCLUSION]


def checked_image(repository: ImageRepository) -> ImageName:
    """The image to scan; raises a terminal :class:`ImageFailure` for what lockstep cannot do."""
    spec = repository.spec
    name = repository_name(repository)
    if spec.provider != "generic":
        raise ImageFailure(
            UNSUPPORTED_PROVIDER,
            f"{name}: spec.provider '{spec.provider}' is not supported, lockstep reads no cloud "
            "credentials; use provider generic with a docker-registry Secret in spec.secretRef",
            terminal=True,
        )
    if spec.cert_secret_ref is not None:
        raise ImageFailure(
            UNSUPPORTED_CERT_SECRET,
            f"{name}: spec.certSecretRef is not supported yet; remove it and serve the registry "
            "with a certificate the system trusts",
            terminal=True,
        )
    try:
        return parse_image_name(spec.image)
    except errors.InvalidUrl as error:
        raise ImageFailure(IMAGE_URL_INVALID, f"{name}: {error}", terminal=True) from error


async def registry_options(
    kube: KubeClient,
    repository: ImageRepository,
    image: ImageName,
    transport: httpx2.BaseTransport | None = None,
) -> RegistryOptions:
    """How to reach the registry of `repository`: its Secret's credentials, insecure, timeout."""
    spec = repository.spec
    auth = None
    if spec.secret_ref is not None:
        data = await _secret_data(kube, repository, spec.secret_ref.name)
        try:
            auth = auth_from_docker_config(data, image.registry)
        except errors.InvalidSecret as error:
            raise ImageFailure(
                AUTHENTICATION_FAILED, f"{repository_name(repository)}: {error}"
            ) from error
    return RegistryOptions(
        auth=auth, insecure=spec.insecure, timeout=scan_timeout(spec), transport=transport
    )


async def _secret_data(
    kube: KubeClient, repository: ImageRepository, name: str
) -> dict[str, bytes]:
    namespace = repository.metadata.namespace or ""
    try:
        secret = await kube.get(ObjectRef("v1", "Secret", name, namespace))
    except NotFound as error:
        raise ImageFailure(
            AUTHENTICATION_FAILED,
            f"{repository_name(repository)}: Secret {namespace}/{name} named in spec.secretRef "
            "does not exist; create it with 'kubectl create secret docker-registry'",
        ) from error
    except KubeError as error:
        raise ImageFailure(
            READ_OPERATION_FAILED,
            f"{repository_name(repository)}: cannot read Secret {namespace}/{name}: {error}",
        ) from error
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def _read_failure(repository: ImageRepository, error: errors.SourceError) -> ImageFailure:
    """The Ready reason of a registry failure: credentials, or reading."""
    refused = isinstance(error, errors.AuthenticationFailed | errors.InvalidSecret)
    reason = AUTHENTICATION_FAILED if refused else READ_OPERATION_FAILED
    return ImageFailure(reason, f"{repository_name(repository)}: {error}")


def record_scan(
    status: ImageRepositoryStatus,
    image: ImageName,
    exclusions: ExclusionList,
    scan: TagScan,
    now: datetime,
) -> ImageRepositoryStatus:
    """`status` with the scan's findings; ``lastScanResult`` is replaced only when the tags
    changed, so that a rescan finding the same tags leaves the status as it is."""
    status.canonical_image_name = image.canonical
    status.observed_exclusion_list = list(exclusions.patterns)
    result = ScanResult(
        revision=scan.revision,
        tag_count=len(scan.tags),
        scan_time=now,
        latest_tags=list(scan.latest_tags),
    )
    previous = status.last_scan_result
    if previous is None or previous.model_dump(exclude={"scan_time"}) != result.model_dump(
        exclude={"scan_time"}
    ):
        status.last_scan_result = result
    return status


def scan_message(image: ImageName, scan: TagScan) -> str:
    count = len(scan.tags)
    return f"found {count} tag{'' if count == 1 else 's'} in {image.canonical} (revision {scan.revision})"


class ImageRepositoryReconciler:
    """Scans each ImageRepository every interval and keeps its tags in the store."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "imagerepository"

    def __init__(
        self,
        kube: KubeClient,
        cache: Cache,
        tags: ImageTagStore,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        """``transport`` is where registry requests go; None for the network."""
        self._kube = kube
        self._cache = cache
        self._tags = tags
        self._transport = transport
        self._writer = StatusWriter(kube)

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """ImagePolicies follow the tag store, not the repository's status."""
        return []

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self._cache.get(key)
        if obj is None:
            self._tags.drop(key)
            return Success()
        try:
            repository = ImageRepository.model_validate(obj)
        except ValidationError as error:
            await self._writer.record_invalid(obj, invalid_object_message(KIND, obj, error))
            return TerminalFailure()
        if repository.spec.suspend:
            return Success()
        current = repository.status.model_copy(deep=True) if repository.status else None
        status = prepared_status(repository, current or ImageRepositoryStatus())
        interval = duration_seconds(repository.spec.interval)
        try:
            image = checked_image(repository)
            exclusions = self._exclusions(repository)
            scan = await self._scan(repository, image, exclusions)
        except ImageFailure as failure:
            await self._writer.write(obj, mark_image_failed(repository, status, failure))
            if failure.terminal:
                return TerminalFailure()
            # Credentials and registries are fixed elsewhere: look again at least every interval.
            return TransientFailure(max_delay=interval)
        self._tags.put(key, ScannedTags(repository.spec.image, scan.revision, scan.tags))
        status = record_scan(status, image, exclusions, scan, datetime.now(UTC))
        await self._writer.write(
            obj, mark_image_ready(repository, status, scan_message(image, scan))
        )
        return Success(requeue_after=interval)

    def _exclusions(self, repository: ImageRepository) -> ExclusionList:
        try:
            return parse_exclusion_list(exclusion_patterns(repository.spec))
        except InvalidExclusionList as error:
            raise ImageFailure(
                EXCLUSION_LIST_INVALID, f"{repository_name(repository)}: {error}", terminal=True
            ) from error

    async def _scan(
        self, repository: ImageRepository, image: ImageName, exclusions: ExclusionList
    ) -> TagScan:
        options = await registry_options(self._kube, repository, image, self._transport)
        try:
            return await asyncio.to_thread(scan_tags, image, exclusions, options)
        except errors.SourceError as error:
            raise _read_failure(repository, error) from error
