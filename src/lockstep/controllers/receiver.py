"""The Receiver controller: webhook paths in status, and the reconcile requests of accepted calls.

:class:`ReceiverReconciler` reads the token from the Secret ``spec.secretRef`` names
(key ``token``) and reports ``status.webhookPath``, ``/hook/`` followed by the SHA-256
hex digest of token, name and namespace concatenated, as Flux computes it, so a
webhook configured for Flux keeps working. Ready is True with that path, or False
(TokenNotFound) while the Secret or its token is missing. The manager runs it on the
Receiver informer; it checks the Secret again every ``spec.interval``.

:class:`Webhooks` is what the webhook server (:mod:`lockstep.web.receiver`) asks of
this controller once it has authenticated a call: which Receiver a path belongs to
(from the informer's cache), the current token, and to request the reconciliation of
the objects in ``spec.resources`` by setting ``reconcile.fluxcd.io/requestedAt`` on
them, which the source and Kustomization controllers react to at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from pydantic import ValidationError

from lockstep.api.conditions import mark_failed, remove_condition, set_condition
from lockstep.api.kinds import KINDS
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION, ConditionType, duration_seconds
from lockstep.api.notification import Receiver, ReceiverStatus, ReceiverTarget
from lockstep.kube import Conflict, Invalid, KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.events import EventRecorder, EventType
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, TransientFailure

KIND = "Receiver"
API_VERSION = "notification.toolkit.fluxcd.io/v1"

WEBHOOK_PATH_PREFIX = "/hook/"

SUPPORTED_TYPES: tuple[str, ...] = ("generic", "generic-hmac", "github", "gitlab")
"""Receiver types lockstep authenticates; the webhook server has one check for each."""

TOKEN_KEY = "token"
"""The key of the Secret that holds the token."""

SUCCEEDED = "Succeeded"
"""Reason of Ready=True, as Flux's notification-controller reports it."""

TOKEN_NOT_FOUND = "TokenNotFound"
"""Reason of Ready=False while the Secret or its token is missing."""

UNSUPPORTED_TYPE = "UnsupportedType"
"""Reason of Ready=False and Stalled for a type lockstep cannot authenticate."""

FLUX_ONLY_API_VERSIONS: dict[str, str] = {
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "HelmChart": "source.toolkit.fluxcd.io/v1",
    "HelmRelease": "helm.toolkit.fluxcd.io/v2",
}
"""Versions of the kinds a Receiver may name that lockstep does not serve (Flux's own
controllers may run beside it), for targets without ``apiVersion``."""

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
    namespace = receiver.metadata.namespace or ""
    secret_name = receiver.spec.secret_ref.name
    try:
        secret = await kube.get(ObjectRef("v1", "Secret", secret_name, namespace))
    except NotFound as error:
        raise TokenUnavailable(
            f"Secret {namespace}/{secret_name} named in spec.secretRef of "
            f"{receiver_name(receiver)} does not exist; create it with a '{TOKEN_KEY}' key"
        ) from error
    encoded = (secret.get("data") or {}).get(TOKEN_KEY)
    if not encoded:
        raise TokenUnavailable(
            f"Secret {namespace}/{secret_name} of {receiver_name(receiver)} has no "
            f"'{TOKEN_KEY}' key; add the webhook token under it"
        )
    return base64.b64decode(encoded)


class Cache(Protocol):
    """The informer's cached Receivers."""

    def get(self, key: ObjectKey) -> KubeObject | None: ...

    def items(self) -> list[KubeObject]: ...


class ReceiverReconciler:
    """Keeps ``status.webhookPath`` and Ready of each Receiver current with its token."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "receiver"

    def __init__(self, kube: KubeClient, cache: Cache) -> None:
        self._kube = kube
        self._cache = cache
        self._events = EventRecorder(kube)

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """No Receiver depends on another."""
        return []

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self._cache.get(key)
        if obj is None:
            return Success()
        try:
            receiver = Receiver.model_validate(obj)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            message = (
                f"{KIND} {key[0]}/{key[1]} is invalid at {where}: {problem['msg']}; correct it"
            )
            await self._events.record(obj, "Warning", "InvalidSpec", message)
            return TerminalFailure()
        if receiver.spec.suspend:
            return Success()
        status = receiver.status.model_copy(deep=True) if receiver.status else ReceiverStatus()
        requested = receiver.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
        if requested:
            status.last_handled_reconcile_at = requested
        interval = duration_seconds(receiver.spec.interval)
        if receiver.spec.type not in SUPPORTED_TYPES:
            supported = ", ".join(SUPPORTED_TYPES)
            message = (
                f"{receiver_name(receiver)} has type '{receiver.spec.type}', which lockstep "
                f"does not support; use one of {supported}"
            )
            await self._write_status(obj, _failed(receiver, status, UNSUPPORTED_TYPE, message))
            return TerminalFailure()
        try:
            token = await read_token(self._kube, receiver)
        except (TokenUnavailable, KubeError) as error:
            await self._write_status(obj, _failed(receiver, status, TOKEN_NOT_FOUND, str(error)))
            # A Secret is fixed without touching the Receiver: look again at least every interval.
            return TransientFailure(max_delay=interval)
        path = webhook_path(token, receiver.metadata.name, receiver.metadata.namespace or "")
        await self._write_status(obj, _ready(receiver, status, path))
        return Success(requeue_after=interval)

    async def _write_status(self, obj: KubeObject, status: ReceiverStatus) -> None:
        """Write the status if it changed, and record an event if Ready changed meaning."""
        desired = status.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        previous = obj.get("status") or {}
        if desired == previous:
            return
        await self._kube.apply_status({**obj, "status": desired})
        event = receiver_event(previous, desired)
        if event is not None:
            await self._events.record(obj, *event)


def _ready(receiver: Receiver, status: ReceiverStatus, path: str) -> ReceiverStatus:
    generation = receiver.metadata.generation
    conditions = remove_condition(status.conditions, ConditionType.RECONCILING)
    conditions = remove_condition(conditions, ConditionType.STALLED)
    status.conditions = set_condition(
        conditions,
        ConditionType.READY,
        "True",
        SUCCEEDED,
        f"Receiver initialized for path: {path}",
        generation=generation,
        now=datetime.now(UTC),
    )
    status.webhook_path = path
    status.observed_generation = generation
    return status


def _failed(
    receiver: Receiver, status: ReceiverStatus, reason: str, message: str
) -> ReceiverStatus:
    """Ready=False without a webhook path; observedGeneration stays that of the last success,
    as Flux reports it."""
    status.conditions = mark_failed(
        status.conditions,
        reason,
        message,
        terminal=reason == UNSUPPORTED_TYPE,
        generation=receiver.metadata.generation,
        now=datetime.now(UTC),
    )
    status.webhook_path = None
    return status


def receiver_event(before: KubeObject, after: KubeObject) -> tuple[EventType, str, str] | None:
    """The event a status change deserves: a new webhook path, a new failure, or none."""
    now = _ready_condition(after)
    if now is None:
        return None
    if now["status"] == "True":
        if before.get("webhookPath") != after.get("webhookPath"):
            return ("Normal", str(now["reason"]), str(now["message"]))
        return None
    was = _ready_condition(before)
    if was is None or (was["status"], was["message"]) != (now["status"], now["message"]):
        return ("Warning", str(now["reason"]), str(now["message"]))
    return None


def _ready_condition(status: KubeObject) -> KubeObject | None:
    conditions = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == ConditionType.READY), None)


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
        self._cache: Cache | None = None

    def serve_from(self, cache: Cache | None) -> None:
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
    if target.api_version:
        return target.api_version
    served = next((info for info in KINDS if info.kind == target.kind), None)
    if served is not None:
        return f"{served.group}/{served.storage_version}"
    return FLUX_ONLY_API_VERSIONS[target.kind]
