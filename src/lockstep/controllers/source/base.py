"""The source family's part of the shell (GitRepository, OCIRepository).

A source reconciler turns an object into an artifact in the store; it runs in the
one reconciler shell (:class:`~lockstep.controllers.shell.ReconcilerShell`), which
reads the object, keeps Flux's ``finalizers.fluxcd.io`` finalizer on it (added first,
suspended or not), honours ``suspend``, and writes conditions and events. What the
family adds: on deletion (and when the object is gone) the stored artifacts are
removed; the kind's pipeline (:meth:`SourceReconciler.build`) returns the artifact,
reported as Ready=True and ArtifactInStorage=True with reason ``Succeeded``, as
source-controller writes them; a failure sets its stage's own condition
(``FetchFailed``, ``SourceVerified=False``, ``IncludeUnavailable``) and never removes
or replaces the last good artifact. A full disk under the store (ENOSPC while checking
out, pulling or packing) is told as ``StorageOperationFailed`` naming the store's folder,
and retried: it clears once space returns. A new artifact is told as a ``NewArtifact`` event.

Subclassed by :mod:`lockstep.controllers.source.gitrepository` and
:mod:`lockstep.controllers.source.ocirepository`; run by the controller manager.
"""

from __future__ import annotations

import asyncio
import errno
from abc import abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from lockstep.api import kinds
from lockstep.api.conditions import set_condition
from lockstep.api.meta import ApiObject, Artifact, ConditionType
from lockstep.api.source import SourceStatus
from lockstep.controllers.shell import (
    SUCCEEDED,
    Event,
    Failure,
    Ready,
    ReconcilerShell,
    ready_event,
)
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeError, KubeObject
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.runtime.secrets import SecretUnavailable, pull_secrets_data, secret_data
from lockstep.sources import errors
from lockstep.sources.store import ArtifactStore

VERIFICATION_ERROR = "VerificationError"
"""Reason of Ready and SourceVerified=False when a signature does not check out."""

STORAGE_OPERATION_FAILED = "StorageOperationFailed"
"""Reason of Ready=False and FetchFailed when the artifact store's disk is full (the name of
Flux's condition for failures of its storage)."""

UNSUPPORTED_PROVIDER = "UnsupportedProvider"
"""Reason of Ready=False and Stalled for a ``spec.provider`` that needs cloud identity."""


def unsupported_provider(kind: str, name: str, provider: str, needs: str) -> Failure:
    """The terminal failure of a ``spec.provider`` lockstep cannot serve yet."""
    return Failure(
        UNSUPPORTED_PROVIDER,
        f"{kind} {name}: spec.provider '{provider}' needs {needs}, not supported yet; use "
        "provider generic with credentials in spec.secretRef",
        terminal=True,
        condition=ConditionType.FETCH_FAILED,
    )


# Failures that only a change of the object's spec can fix: marked Stalled. A Secret
# can be fixed without touching the object, so its errors are not among them.
TERMINAL_ERRORS = (errors.InvalidUrl, errors.InvalidRef)


def failure_of(error: errors.SourceError) -> Failure:
    """The condition a failure of the sources library reports: SourceVerified=False for
    a signature that does not check out, FetchFailed for everything else."""
    if isinstance(error, errors.VerificationFailed):
        return Failure(
            VERIFICATION_ERROR,
            str(error),
            condition=ConditionType.SOURCE_VERIFIED,
            condition_status="False",
        )
    return fetch_failure(str(error), terminal=isinstance(error, TERMINAL_ERRORS))


SOURCE_API_VERSION = kinds.GIT_REPOSITORY.api_version

FINALIZER = "finalizers.fluxcd.io"
"""The finalizer Flux's source-controller keeps on its objects; shared with Flux, so an
object either engine finalized is released by the other."""

NEW_ARTIFACT = "NewArtifact"
"""Reason of the Normal event that tells a new artifact, as Flux's."""

S = TypeVar("S", bound=ApiObject)
Status = TypeVar("Status", bound=SourceStatus)


class SourceReconciler(ReconcilerShell[S, Status]):
    """Reconciles one source kind into artifacts; subclasses supply :meth:`build`."""

    api_version: ClassVar[str] = SOURCE_API_VERSION
    finalizer: ClassVar[str | None] = FINALIZER
    failure_conditions: ClassVar[tuple[str, ...]] = (
        ConditionType.FETCH_FAILED,
        ConditionType.ARTIFACT_OUTDATED,
    )

    def __init__(
        self,
        kube: KubeClient,
        store: ArtifactStore,
        cache: ObjectCache,
        scratch: Path,
        *,
        egress: Egress = OPEN,
    ) -> None:
        """``scratch`` holds work folders while they are packed; the manager empties it at
        start. ``egress`` says which hosts a source may be fetched from."""
        super().__init__(kube, cache)
        self._store = store
        self._scratch = scratch
        self._egress = egress

    @property
    def egress(self) -> Egress:
        """Which hosts a source may be fetched from."""
        return self._egress

    @abstractmethod
    async def build(self, source: S, status: Status) -> Artifact:
        """Produce (or keep) the artifact, setting the kind's observed fields on ``status``.

        Raises :class:`~lockstep.controllers.shell.Failure` for every failure a user should see.
        """

    async def pipeline(self, obj: S, status: Status) -> Ready:
        try:
            artifact = await self.build(obj, status)
        except SecretUnavailable as error:
            raise fetch_failure(str(error)) from error
        except errors.SourceError as error:
            raise failure_of(error) from error
        except KubeError as error:
            raise fetch_failure(str(error)) from error
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise self._no_space_left(obj) from error
        reason, message = self.stored(obj, status, artifact)
        status.artifact = artifact
        status.conditions = set_condition(
            status.conditions,
            ConditionType.ARTIFACT_IN_STORAGE,
            "True",
            reason,
            message,
            generation=obj.metadata.generation,
            now=datetime.now(UTC),
        )
        return Ready(message, reason=reason)

    def stored(self, obj: S, status: Status, artifact: Artifact) -> tuple[str, str]:
        """The reason and message of Ready and ArtifactInStorage for ``artifact``, stored."""
        return SUCCEEDED, f"stored artifact for revision '{artifact.revision}'"

    def _no_space_left(self, obj: S) -> Failure:
        return Failure(
            STORAGE_OPERATION_FAILED,
            f"{self.kind} {obj.metadata.namespace}/{obj.metadata.name}: no space left on the "
            f"artifact store {self._store.root} for the new artifact; free space on its volume "
            "or enlarge it (the last artifact is served meanwhile, the fetch is retried)",
            condition=ConditionType.FETCH_FAILED,
        )

    async def forget(self, key: ObjectKey) -> None:
        await asyncio.to_thread(self._store.remove_all, self.kind, *key)

    async def finalize(self, obj: S) -> None:
        namespace, name = obj.metadata.namespace or "", obj.metadata.name
        await asyncio.to_thread(self._store.remove_all, self.kind, namespace, name)

    def ready_event(self, before: KubeObject, after: KubeObject) -> Event | None:
        return transition_event(before, after)

    async def secret_data(self, source: ApiObject, name: str, field: str) -> dict[str, bytes]:
        """The decoded data of the Secret ``name`` that ``field`` of ``source`` names."""
        return await secret_data(self._kube, source, name, field)

    async def pull_secrets_data(self, source: S, service_account: str) -> list[dict[str, bytes]]:
        """The data of the ``imagePullSecrets`` of ``service_account``, in their order."""
        return await pull_secrets_data(self._kube, source, service_account)

    @staticmethod
    def mark_outdated(status: Status, revision: str, generation: int | None) -> None:
        """Note on ``status`` that the source offers ``revision``, not yet stored: if a later
        stage fails, the status says the artifact is outdated (Flux's ArtifactOutdated)."""
        status.conditions = set_condition(
            status.conditions,
            ConditionType.ARTIFACT_OUTDATED,
            "True",
            "NewRevision",
            f"new upstream revision '{revision}'",
            generation=generation,
            now=datetime.now(UTC),
        )


def fetch_failure(message: str, *, terminal: bool = False) -> Failure:
    """Ready=False and FetchFailed=True with ``message``."""
    return Failure(
        ConditionType.FETCH_FAILED,
        message,
        terminal=terminal,
        condition=ConditionType.FETCH_FAILED,
    )


def transition_event(before: KubeObject, after: KubeObject) -> Event | None:
    """The Ready event (:func:`~lockstep.controllers.shell.ready_event`), told as
    ``NewArtifact`` when the artifact's revision changed."""
    event = ready_event(before, after)
    if event is None or event[0] != "Normal":
        return event
    old_revision = (before.get("artifact") or {}).get("revision")
    new_revision = (after.get("artifact") or {}).get("revision")
    if new_revision != old_revision:
        return ("Normal", NEW_ARTIFACT, event[2])
    return event
