"""Kubernetes Events for the transitions of the objects lockstep reconciles.

Reconcilers record an event when something a person would want to see in
``kubectl describe`` or ``kubectl get events`` happens: a new artifact, a new
failure, a recovery. The same line goes to the log. They record transitions only, never every poll, so a
healthy object adds no events. Events are best effort: failing to write one is
logged and never fails the reconciliation.

Called by the reconcilers in :mod:`lockstep.controllers`.
"""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import UTC, datetime
from typing import Literal

from lockstep.kube import KubeClient, KubeError, KubeObject

_log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
MAX_MESSAGE_LENGTH = 1024
COMPONENT = "lockstep"


class EventRecorder:
    """Writes core/v1 Events about objects, as lockstep."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._instance = socket.gethostname()

    async def record(self, obj: KubeObject, kind: EventType, reason: str, message: str) -> None:
        """Write the event, and log it: one log line per event that matters."""
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        level = logging.INFO if kind == "Normal" else logging.WARNING
        _log.log(
            level,
            "%s %s/%s %s: %s",
            obj.get("kind"),
            namespace,
            metadata.get("name"),
            reason,
            message,
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata.get('name')}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "type": kind,
            "reason": reason,
            "message": message[:MAX_MESSAGE_LENGTH],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._kube.create(event)
        except KubeError as error:
            _log.warning(
                "could not record event %s for %s/%s: %s",
                reason,
                namespace,
                metadata.get("name"),
                error,
            )
