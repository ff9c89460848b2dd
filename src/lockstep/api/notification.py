"""Models of notification.toolkit.fluxcd.io: the Receiver.

The receiver controller computes `status.webhookPath` from the token Secret;
the web server authenticates incoming webhooks against it and annotates the
listed resources with a reconcile request. `kinds` registers the kind.
"""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lockstep.api.meta import (
    ApiModel,
    ApiObject,
    Duration,
    LocalObjectReference,
    ObjectStatus,
    server_default,
)

ReceiverType = Literal[
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
]
"""Webhook senders: each has its own authentication and payload format."""

ReceiverTargetKind = Literal[
    "Bucket",
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "HelmRelease",
    "Kustomization",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
]
"""Flux kinds a Receiver can ask to reconcile."""

KubernetesName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""An object or namespace name, as long as Kubernetes allows."""


class ReceiverTarget(ApiModel):
    """Objects to reconcile when a webhook call is accepted."""

    api_version: str | None = None
    """Group and version of the objects."""

    kind: ReceiverTargetKind
    """Kind of the objects."""

    name: KubernetesName
    """Name of the object, or `*` to select by `matchLabels`."""

    namespace: KubernetesName | None = None
    """Namespace of the objects; the Receiver's namespace when omitted."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels the objects must carry; requires `name` to be `*`."""


class ReceiverSpec(ApiModel):
    """Desired state of a Receiver: which webhook calls to accept and what they trigger."""

    type: ReceiverType
    """The webhook sender, which decides how calls are authenticated and parsed."""

    interval: Duration = server_default("10m")
    """How often to recheck the token Secret."""

    events: list[str] = Field(default_factory=list)
    """Event types to act on, e.g. `push`; every event when empty."""

    resources: list[ReceiverTarget]
    """Objects to reconcile on an accepted call."""

    secret_ref: LocalObjectReference
    """Secret whose `token` key authenticates calls and is part of the webhook path."""

    suspend: bool = False
    """Whether incoming calls are ignored."""


class ReceiverStatus(ObjectStatus):
    """Observed state of a Receiver."""

    webhook_path: str | None = None
    """`/hook/` followed by the SHA-256 hex digest of token, name and namespace."""


class Receiver(ApiObject):
    """An incoming webhook that triggers reconciliation of Flux objects."""

    api_version: Literal["notification.toolkit.fluxcd.io/v1"] = "notification.toolkit.fluxcd.io/v1"
    kind: Literal["Receiver"] = "Receiver"
    spec: ReceiverSpec
    status: ReceiverStatus | None = None
