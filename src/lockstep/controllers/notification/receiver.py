"""The Receiver controller: webhook paths in status, and the reconcile requests of accepted calls.

:class:`ReceiverReconciler` reads the token from the Secret ``spec.secretRef`` names
(key ``token``) and reports ``status.webhookPath``, ``/hook/`` followed by the SHA-256
hex digest of token, name and namespace concatenated, as Flux computes it, so a
webhook configured for Flux keeps working. Ready is True with that path, or False
(TokenNotFound) while the Secret or its token is missing. It runs in the one
reconciler shell (:mod:`lockstep.controllers.shell`) on the manager's Receiver
informer, and checks the Secret again every ``spec.interval``.

:class:`Webhooks` is what the webhook server (:mod:`lockstep.web.receiver`) asks of
this controller once it has authenticated a call: which Receiver a path belongs to
(from the informer's cache), the current token, and to request the reconciliation of
the objects in ``spec.resources`` by setting ``reconcile.fluxcd.io/requestedAt`` on
them, which the source and Kustomization controllers react to at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import ValidationError

from lockstep.api import kinds
from lockstep.api.kinds import kind_info
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.api.notification import Receiver, ReceiverStatus, ReceiverTarget
from lockstep.controllers.shell import Failure, Ready, ReconcilerShell
from lockstep.kube import Conflict, Invalid, KubeClient, KubeError, KubeObject, ObjectRef
from lockstep.runtime.informer import ObjectCache
from lockstep.runtime.secrets import SecretUnavailable, secret_data

KIND = "Receiver"
API_VERSION = kinds.RECEIVER.api_version

WEBHOOK_PATH_PREFIX = "/hook/"

SUPPORTED_TYPES: tuple[str, ...] = ("generic", "generic-hmac", "github", "gitlab")
"""Receiver types lockstep authenticates; the webhook server has one check for each."""

TOKEN_KEY = "token"
"""The key of the Secret that holds the token."""

TOKEN_NOT_FOUND = "TokenNotFound"
"""Reason of Ready=False while the Secret or its token is missing."""

UNSUPPORTED_TYPE = "UnsupportedType"
"""Reason of Ready=False and Stalled for a type lockstep cannot authenticate."""

ANNOTATION_POINTER = "/metadata/annotations/" + RECONCILE_REQUEST_ANNOTATION.replace("/", "~1")

ANNOTATE_ATTEMPTS = 3
"""Reads and patches of one object before giving up: an object without annotations is
patched under a resourceVersion test, which fails if the object changed in between."""


def webhook_path(token: bytes, name: str, namespace: str) -> str:
    """``/hook/`` and the SHA-256 hex digest of token + name + namespace, as Flux computes it."""
    digest = hashlib.sha256(token + name.encode() + namespace.encode()).hexdigest()
    return f"{WEBHOOK_PATH_PREFIX}{digest}"


def receiver_name(receiver: Receiver) -> str:
    return f"{KIND} {receiver.metadata.namespace}/{receiver.metadata.name}"


class TokenUnavailable(Exception):
    """The Secret of a Receiver, or its ``token`` key, is missing."""


async def read_token(kube: KubeClient, receiver: Receiver) -> bytes:
    """The token in the Secret ``spec.secretRef`` names; raises :class:`TokenUnavailable`."""
    try:
        data = await secret_data(
            kube, receiver, receiver.spec.secret_ref.name, "spec.secretRef", keys=(TOKEN_KEY,)
        )
    except SecretUnavailable as error:
        raise TokenUnavailable(str(error)) from error
    return data[TOKEN_KEY]


class ReceiverReconciler(ReconcilerShell[Receiver, ReceiverStatus]):
    """Keeps ``status.webhookPath`` and Ready of each Receiver current with its token."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "receiver"
    model = Receiver
    status_model = ReceiverStatus
    generation_observed_on_failure: ClassVar[bool] = False
    """As Flux reports it: ``observedGeneration`` is that of the last success."""

    async def pipeline(self, obj: Receiver, status: ReceiverStatus) -> Ready:
        """The webhook path of the current token; none while the Receiver fails."""
        status.webhook_path = None
        if obj.spec.type not in SUPPORTED_TYPES:
            raise Failure(
                UNSUPPORTED_TYPE,
                f"{receiver_name(obj)} has type '{obj.spec.type}', which lockstep does not "
                f"support; use one of {', '.join(SUPPORTED_TYPES)}",
                terminal=True,
            )
        try:
            token = await read_token(self._kube, obj)
        except (TokenUnavailable, KubeError) as error:
            # A Secret is fixed without touching the Receiver: retried at least every interval.
            raise Failure(TOKEN_NOT_FOUND, str(error)) from error
        status.webhook_path = webhook_path(token, obj.metadata.name, obj.metadata.namespace or "")
        return Ready(f"Receiver initialized for path: {status.webhook_path}")


class NotServing(Exception):
    """The Receiver cache is not there: the controllers are starting, or this replica
    stands by for the leader."""


class TargetRefused(Exception):
    """A target of ``spec.resources`` that cannot be resolved; the message says what to fix."""


@dataclass
class Requested:
    """What an accepted call did: the objects asked to reconcile, and what failed."""

    objects: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Webhooks:
    """The Receiver side of the webhook server: lookup, token, reconcile requests."""

    def __init__(self, kube: KubeClient, *, no_cross_namespace_refs: bool = False) -> None:
        self._kube = kube
        self._no_cross_namespace_refs = no_cross_namespace_refs
        self._cache: ObjectCache | None = None

    def serve_from(self, cache: ObjectCache | None) -> None:
        """Answer from ``cache`` (once synced), or (``None``) answer nothing."""
        self._cache = cache

    def find(self, path: str) -> Receiver | None:
        """The Receiver whose ``status.webhookPath`` is ``path``; raises :class:`NotServing`."""
        if self._cache is None:
            raise NotServing("the Receiver cache is not ready; retry shortly")
        wanted = path.encode()
        found = None
        # Every path is compared in full, so the time taken says nothing about how
        # close a guessed path came to a real one.
        for obj in self._cache.items():
            current = str((obj.get("status") or {}).get("webhookPath") or "")
            if current and hmac.compare_digest(current.encode(), wanted):
                found = obj
        if found is None:
            return None
        try:
            return Receiver.model_validate(found)
        except ValidationError:
            return None

    async def token(self, receiver: Receiver) -> bytes:
        return await read_token(self._kube, receiver)

    async def request_reconciliation(self, receiver: Receiver) -> Requested:
        """Set ``reconcile.fluxcd.io/requestedAt`` on every object of ``spec.resources``;
        a failing target does not stop the others."""
        # Microseconds: two calls within a second still set a new value.
        now = datetime.now(UTC).isoformat()
        requested = Requested()
        for target in receiver.spec.resources:
            try:
                objects = await self._select(receiver, target)
            except (KubeError, TargetRefused) as error:
                requested.failures.append(str(error))
                continue
            for ref in objects:
                try:
                    await self._annotate(ref, now)
                except KubeError as error:
                    requested.failures.append(f"{ref}: {error}")
                else:
                    requested.objects.append(str(ref))
        return requested

    async def _select(self, receiver: Receiver, target: ReceiverTarget) -> Sequence[ObjectRef]:
        """The objects a target names: one by name, or those with ``matchLabels`` for ``*``."""
        own_namespace = receiver.metadata.namespace or ""
        namespace = target.namespace or own_namespace
        if self._no_cross_namespace_refs and namespace != own_namespace:
            raise TargetRefused(
                f"{receiver_name(receiver)} names {target.kind} {namespace}/{target.name} in "
                "another namespace, which --no-cross-namespace-refs forbids; use a Receiver there"
            )
        api_version = target_api_version(target)
        if target.name != "*":
            return [ObjectRef(api_version, target.kind, target.name, namespace)]
        if not target.match_labels:
            raise TargetRefused(
                f"{receiver_name(receiver)} names {target.kind} '*' in {namespace} without "
                "matchLabels; add matchLabels to select the objects"
            )
        items = await self._kube.list(
            api_version, target.kind, namespace=namespace, labels=target.match_labels
        )
        return [
            ObjectRef(api_version, target.kind, str(item["metadata"]["name"]), namespace)
            for item in items
        ]

    async def _annotate(self, ref: ObjectRef, value: str) -> None:
        for attempt in range(1, ANNOTATE_ATTEMPTS + 1):
            live = await self._kube.get(ref)
            metadata = live.get("metadata") or {}
            if metadata.get("annotations"):
                operations: list[KubeObject] = [
                    {"op": "add", "path": ANNOTATION_POINTER, "value": value}
                ]
            else:
                # Adding the whole map replaces one written meanwhile: only if unchanged.
                operations = [
                    {
                        "op": "test",
                        "path": "/metadata/resourceVersion",
                        "value": metadata.get("resourceVersion"),
                    },
                    {
                        "op": "add",
                        "path": "/metadata/annotations",
                        "value": {RECONCILE_REQUEST_ANNOTATION: value},
                    },
                ]
            try:
                await self._kube.json_patch(ref, operations)
                return
            except (Invalid, Conflict):
                if attempt == ANNOTATE_ATTEMPTS:
                    raise


def target_api_version(target: ReceiverTarget) -> str:
    """The target's ``apiVersion``, or the current version of its kind when omitted."""
    return target.api_version or kind_info(target.kind).api_version
