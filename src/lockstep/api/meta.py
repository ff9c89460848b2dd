"""Pieces shared by every Flux API model: the base model, wire types and constants.

The kind modules (`source`, `kustomize`, `image`, `notification`) build their
specs and statuses from these; controllers use the condition and annotation
constants when they read and write status. `crds` reads `SERVER_DEFAULT_MARK`
to decide which field defaults the generated schemas declare.
"""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

SERVER_DEFAULT_MARK = "x-lockstep-server-default"
"""Schema key set by `server_default`; `crds` keeps only defaults carrying it."""

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
"""A Go duration as Flux accepts it: `30s`, `1m`, `10m0s`, `1h30m`, `1.5h`."""

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A duration kept in its wire form, so that objects round-trip unchanged."""

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")


def duration_seconds(value: str) -> float:
    """Seconds in a duration such as ``1m30s``, ``10m0s`` or ``1.5h``."""
    return sum(
        float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(value)
    )


def _format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    AwareDatetime, PlainSerializer(_format_timestamp, return_type=str, when_used="json")
]
"""A Kubernetes timestamp: RFC 3339 in UTC with second precision on the wire."""

DIGEST_PATTERN = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
"""A content digest as `<algorithm>:<encoded>`, for example `sha256:<hex>`."""

RECONCILE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
"""Setting this annotation to any new value asks for an immediate reconciliation."""


class ConditionType(StrEnum):
    """Condition types the Flux APIs use."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    HEALTHY = "Healthy"
    ARTIFACT_IN_STORAGE = "ArtifactInStorage"
    ARTIFACT_OUTDATED = "ArtifactOutdated"
    SOURCE_VERIFIED = "SourceVerified"
    FETCH_FAILED = "FetchFailed"
    INCLUDE_UNAVAILABLE = "IncludeUnavailable"
    BUILD_FAILED = "BuildFailed"


class ConditionReason(StrEnum):
    """Condition reasons the Flux APIs use."""

    PROGRESSING = "Progressing"
    PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
    DEPENDENCY_NOT_READY = "DependencyNotReady"
    ARTIFACT_FAILED = "ArtifactFailed"
    BUILD_FAILED = "BuildFailed"
    HEALTH_CHECK_FAILED = "HealthCheckFailed"
    PRUNE_FAILED = "PruneFailed"
    RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
    RECONCILIATION_FAILED = "ReconciliationFailed"
    SUSPENDED = "Suspended"
    ACCESS_DENIED = "AccessDenied"
    HEALTH_CHECK_CANCELED = "HealthCheckCanceled"


def server_default(value: Any) -> Any:
    """A field default that the generated CRD declares too, as Flux's CRDs do.

    The API server then stores the value on objects that omit the field. Plain
    Python defaults stay out of the schema, so objects are stored as written.
    """
    return Field(default=value, json_schema_extra={SERVER_DEFAULT_MARK: True})


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields ignored.

    Unknown fields are dropped rather than rejected so that objects written for
    a newer Flux version still load.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


class LocalObjectReference(ApiModel):
    """A reference to an object in the namespace of the referring object."""

    name: str
    """Name of the referenced object."""


class NamespacedObjectReference(ApiModel):
    """A reference to an object in any namespace."""

    name: str
    """Name of the referenced object."""

    namespace: str | None = None
    """Namespace of the referenced object; the referring object's namespace when omitted."""


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector: a key, an operator and values."""

    key: str
    """The label key the requirement applies to."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the label value relates to `values`."""

    values: list[str] = Field(default_factory=list)
    """Values for `In` and `NotIn`; empty for `Exists` and `DoesNotExist`."""


class LabelSelector(ApiModel):
    """A Kubernetes label selector; all its terms must match."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels that must be present with exactly these values."""

    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    """Requirements on label values."""


class ObjectMeta(ApiModel):
    """The part of Kubernetes object metadata that lockstep reads and writes."""

    name: str
    """Name of the object, unique within its namespace."""

    namespace: str | None = None
    """Namespace of the object."""

    uid: str | None = None
    """Identifier the API server assigned to the object."""

    resource_version: str | None = None
    """Version of the object as stored by the API server."""

    generation: int | None = None
    """Sequence number of the object's desired state, incremented on spec changes."""

    creation_timestamp: Timestamp | None = None
    """When the object was created."""

    deletion_timestamp: Timestamp | None = None
    """When the object's deletion was requested."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the object."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the object."""

    finalizers: list[str] = Field(default_factory=list)
    """Finalizers that must be removed before the object is deleted."""


class Condition(ApiModel):
    """One aspect of an object's observed state, as Kubernetes conditions are written."""

    type: str
    """Type of the condition, for example `Ready`."""

    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""

    observed_generation: int | None = None
    """The object generation the condition was computed from."""

    last_transition_time: Timestamp
    """When the status last changed."""

    reason: str
    """A CamelCase word explaining the status."""

    message: str
    """A human-readable explanation; may be empty."""


class Artifact(ApiModel):
    """A file produced by a source reconciliation and served over HTTP."""

    path: str
    """Path of the file relative to the root of the artifact store."""

    url: str
    """HTTP address from which the artifact can be downloaded."""

    revision: str | None = None
    """The origin revision, for example `main@sha1:<hex>` or `v1.0.0@sha256:<hex>`."""

    digest: Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)] | None = None
    """Digest of the file as `<algorithm>:<hex>`, for example `sha256:<hex>`."""

    last_update_time: Timestamp
    """When the artifact was last written."""

    size: int | None = None
    """Size of the file in bytes."""

    metadata: dict[str, str] = Field(default_factory=dict)
    """Information from the origin, such as OCI annotations."""


class ObjectStatus(ApiModel):
    """Status fields every Flux kind reports."""

    observed_generation: int | None = None
    """The `metadata.generation` the status was last computed for."""

    conditions: list[Condition] = Field(default_factory=list)
    """Conditions of the object."""

    last_handled_reconcile_at: str | None = None
    """The last value of the reconcile request annotation that was acted upon."""


class ApiObject(ApiModel):
    """Base of every top-level Flux object."""

    api_version: str
    """Group and version of the object, for example `source.toolkit.fluxcd.io/v1`."""

    kind: str
    """Kind of the object."""

    metadata: ObjectMeta
    """Standard object metadata."""

    def to_manifest(self) -> dict[str, Any]:
        """The object as a JSON-ready dict with the fields that were set, camelCase keys."""
        fields = self.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        return {"apiVersion": self.api_version, "kind": self.kind, **fields}
