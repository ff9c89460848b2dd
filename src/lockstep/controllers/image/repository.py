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
Credentials come from ``spec.secretRef`` and then the ``imagePullSecrets`` of
``spec.serviceAccountName``; ``spec.certSecretRef`` gives a CA to trust (instead of the
system's, as image-reflector-controller does) and a client certificate;
``spec.proxySecretRef`` a proxy. Cloud ``spec.provider`` credentials are not supported:
the object is marked Stalled, saying so. A deleted object's tags are dropped.
``spec.accessFrom`` is read by the ImagePolicy controller.

Runs in the one reconciler shell (:mod:`lockstep.controllers.shell`), on the
ImageRepository informer of the controller manager. The ImagePolicy
controller reads the registry settings of a repository with :func:`registry_options`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import ClassVar

import httpx2

from lockstep.api import kinds
from lockstep.api.image import (
    DEFAULT_TAG_EXCLUSION,
    ImageRepository,
    ImageRepositorySpec,
    ImageRepositoryStatus,
    ScanResult,
)
from lockstep.api.meta import duration_seconds
from lockstep.controllers.image.status import AUTHENTICATION_FAILED, READ_OPERATION_FAILED
from lockstep.controllers.image.tags import ImageTagStore, ScannedTags
from lockstep.controllers.shell import Failure, Ready, ReconcilerShell
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeError
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.runtime.secrets import SecretUnavailable, pull_secrets_data, secret_data
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
from lockstep.sources.transport import proxy_from_secret, tls_from_secret

KIND = "ImageRepository"
API_VERSION = kinds.IMAGE_REPOSITORY.api_version

IMAGE_URL_INVALID = "ImageURLInvalid"
"""Reason of Ready=False and Stalled for a ``spec.image`` that is no image name (Flux's)."""

EXCLUSION_LIST_INVALID = "ExclusionListInvalid"
"""Reason of Ready=False and Stalled for a ``spec.exclusionList`` pattern that does not compile."""

UNSUPPORTED_PROVIDER = "UnsupportedProvider"
"""Reason of Ready=False and Stalled for a cloud ``spec.provider``."""

MIN_TIMEOUT_SECONDS = 1.0
"""The shortest scan time limit, whatever ``spec.timeout`` says (as in Flux)."""


def repository_name(repository: ImageRepository) -> str:
    return f"{KIND} {repository.metadata.namespace}/{repository.metadata.name}"


def scan_timeout(spec: ImageRepositorySpec) -> float:
    """``spec.timeout``, or the interval when omitted; at least a second."""
    return max(duration_seconds(spec.timeout or spec.interval), MIN_TIMEOUT_SECONDS)


def exclusion_patterns(spec: ImageRepositorySpec) -> list[str]:
    """``spec.exclusionList``; the default (cosign signatures) when empty, as in Flux."""
    return spec.exclusion_list or [DEFAULT_TAG_EXCLUSION]


def checked_image(repository: ImageRepository) -> ImageName:
    """The image to scan; raises a terminal :class:`~lockstep.controllers.shell.Failure` for what lockstep cannot do."""
    spec = repository.spec
    name = repository_name(repository)
    if spec.provider != "generic":
        raise Failure(
            UNSUPPORTED_PROVIDER,
            f"{name}: spec.provider '{spec.provider}' needs cloud identity, not supported yet; "
            "use provider generic with a docker-registry Secret in spec.secretRef",
            terminal=True,
        )
    try:
        return parse_image_name(spec.image)
    except errors.InvalidUrl as error:
        raise Failure(IMAGE_URL_INVALID, f"{name}: {error}", terminal=True) from error


async def registry_options(
    kube: KubeClient,
    repository: ImageRepository,
    image: ImageName,
    transport: httpx2.BaseTransport | None = None,
    egress: Egress = OPEN,
) -> RegistryOptions:
    """How to reach the registry of `repository`: credentials, TLS, proxy, insecure, timeout."""
    spec = repository.spec
    namespace = repository.metadata.namespace or ""
    try:
        # spec.secretRef first, then the ServiceAccount's pull secrets: the first that has
        # credentials for the registry is used, as Flux's keychain does.
        configs = []
        if spec.secret_ref is not None:
            configs.append(
                await secret_data(kube, repository, spec.secret_ref.name, "spec.secretRef")
            )
        if spec.service_account_name:
            configs += await pull_secrets_data(kube, repository, spec.service_account_name)
        auth = next(
            (found for data in configs if (found := auth_from_docker_config(data, image.registry))),
            None,
        )
        tls = proxy = None
        if spec.cert_secret_ref is not None:
            name = spec.cert_secret_ref.name
            data = await secret_data(kube, repository, name, "spec.certSecretRef")
            tls = tls_from_secret(data, f"{namespace}/{name}", keep_system_roots=False)
        if spec.proxy_secret_ref is not None:
            name = spec.proxy_secret_ref.name
            data = await secret_data(kube, repository, name, "spec.proxySecretRef")
            proxy = proxy_from_secret(data, f"{namespace}/{name}")
    except SecretUnavailable as error:
        raise Failure(AUTHENTICATION_FAILED, str(error)) from error
    except errors.InvalidSecret as error:
        raise Failure(AUTHENTICATION_FAILED, f"{repository_name(repository)}: {error}") from error
    except KubeError as error:
        raise Failure(
            READ_OPERATION_FAILED,
            f"{repository_name(repository)}: cannot read a Secret or ServiceAccount it names: {error}",
        ) from error
    return RegistryOptions(
        auth=auth,
        insecure=spec.insecure,
        tls=tls,
        proxy=proxy,
        timeout=scan_timeout(spec),
        transport=transport,
        egress=egress,
    )


def _read_failure(repository: ImageRepository, error: errors.SourceError) -> Failure:
    """The Ready reason of a registry failure: credentials, or reading."""
    refused = isinstance(error, errors.AuthenticationFailed | errors.InvalidSecret)
    reason = AUTHENTICATION_FAILED if refused else READ_OPERATION_FAILED
    return Failure(reason, f"{repository_name(repository)}: {error}")


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


class ImageRepositoryReconciler(ReconcilerShell[ImageRepository, ImageRepositoryStatus]):
    """Scans each ImageRepository every interval and keeps its tags in the store."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "imagerepository"
    model = ImageRepository
    status_model = ImageRepositoryStatus

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        tags: ImageTagStore,
        transport: httpx2.BaseTransport | None = None,
        *,
        egress: Egress = OPEN,
    ) -> None:
        """``transport`` is where registry requests go; None for the network. ``egress``
        says which registry hosts may be asked."""
        super().__init__(kube, cache)
        self._tags = tags
        self._transport = transport
        self._egress = egress

    async def forget(self, key: ObjectKey) -> None:
        self._tags.drop(key)

    async def pipeline(self, obj: ImageRepository, status: ImageRepositoryStatus) -> Ready:
        image = checked_image(obj)
        exclusions = self._exclusions(obj)
        scan = await self._scan(obj, image, exclusions)
        self._tags.put(_key(obj), ScannedTags(obj.spec.image, scan.revision, scan.tags))
        record_scan(status, image, exclusions, scan, datetime.now(UTC))
        return Ready(scan_message(image, scan))

    def _exclusions(self, repository: ImageRepository) -> ExclusionList:
        try:
            return parse_exclusion_list(exclusion_patterns(repository.spec))
        except InvalidExclusionList as error:
            raise Failure(
                EXCLUSION_LIST_INVALID, f"{repository_name(repository)}: {error}", terminal=True
            ) from error

    async def _scan(
        self, repository: ImageRepository, image: ImageName, exclusions: ExclusionList
    ) -> TagScan:
        options = await registry_options(
            self._kube, repository, image, self._transport, self._egress
        )
        try:
            return await asyncio.to_thread(scan_tags, image, exclusions, options)
        except errors.SourceError as error:
            raise _read_failure(repository, error) from error


def _key(obj: ImageRepository) -> ObjectKey:
    return (obj.metadata.namespace or "", obj.metadata.name)
