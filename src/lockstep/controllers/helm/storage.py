"""Helm's release storage: each revision of a release kept in the Secret that Helm's own
Secrets driver writes, so the real ``helm`` (list, history, get, status, rollback,
uninstall) works on the releases lockstep installs, and lockstep adopts the releases
that ``helm install`` or Flux's helm-controller made.

The record, as Helm v4.3.2 keeps it (``pkg/release/v1``, ``pkg/storage/driver``):

- one Secret per revision, ``sh.helm.release.v1.<release>.v<revision>``, of type
  ``helm.sh/release.v1``, in the storage namespace; labelled with the release's own
  labels, then ``name``, ``owner: helm``, ``status`` and ``version``, and ``createdAt``
  when first written or ``modifiedAt`` when written again (unix seconds);
- its ``release`` key holds base64 of gzip of the release as JSON (:func:`encode`);
  a record without gzip's magic bytes is plain JSON, as Helm reads records older than
  its compression (:func:`decode`);
- the JSON: ``name``, ``info`` (``first_deployed``, ``last_deployed``, ``deleted``,
  ``description``, ``status``, ``rollback_revision``, ``notes``), ``chart``,
  ``config``, ``manifest``, ``hooks`` (each with its ``last_run``), ``version``,
  ``namespace`` and ``apply_method`` (``ssa`` when the objects were server-side
  applied, which makes a later ``helm upgrade`` or ``helm rollback`` apply server-side
  too). Empty fields are left out as Go leaves them out; times are written as Go
  writes them (RFC 3339, fraction without trailing zeros, ``Z`` for UTC).

Nothing is lost on the way through lockstep: a release remembers the JSON it was
decoded from (:attr:`Release.source`). Encoding writes a modelled field from the
release unless the source's value still means the same, in which case the source's
own text is kept (a time's nanoseconds, Helm 3's empty string for a zero time), and
fields lockstep does not model (``info.resources``, whatever a later Helm adds) are
written back untouched. The chart, the config and the hooks are opaque JSON.

:class:`ReleaseStorage` does what Helm's ``Storage`` does over the Secrets driver:
history, last and deployed revisions; create, which fails with
:class:`~lockstep.kube.Conflict` when the revision exists, so two writers cannot both
write revision N; update, optimistic on the Secret's resourceVersion when the release
was read from the cluster; delete; prune to a maximum history without ever deleting
the deployed revision; and unlock, which marks failed a revision a crash left pending
(Helm's lock: "another operation is in progress"), as Flux's helm-controller does, and
supersede-older, which marks superseded a deployed revision a crash left deployed
beside the next one. :func:`written_since_deployed` gives the revision whose objects the
next action deletes when it no longer renders them, extended with what revisions that
never finished may have written.

Errors: a Secret whose record does not decode raises :class:`ReleaseRecordError`
naming the Secret (Helm's own listing skips such records silently; lockstep stops
rather than act on a partial history); the API's errors are :mod:`lockstep.kube`'s.

Called by the HelmRelease reconciler.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.render.helm import Hook, Rendered

SECRET_TYPE = "helm.sh/release.v1"
SECRET_PREFIX = "sh.helm.release.v1"
OWNER = "helm"
SYSTEM_LABELS = frozenset({"name", "owner", "status", "version", "createdAt", "modifiedAt"})
"""The labels Helm's driver sets itself; the others are the release's own."""

APPLY_METHOD_SSA = "ssa"
"""Server-side apply: how Helm 4 applies by default, and how lockstep applies."""
APPLY_METHOD_CSA = "csa"
"""Client-side apply; an empty ``apply_method`` means the same (releases before Helm 4)."""

DEFAULT_DELETE_POLICY = "before-hook-creation"
"""The delete policy Helm gives a hook that names none, when it first runs it."""

_GZIP_MAGIC = b"\x1f\x8b\x08"
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class ReleaseStatus(StrEnum):
    """Helm's release statuses; the pending ones are Helm's lock on the release."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @property
    def is_pending(self) -> bool:
        return self in _PENDING


_PENDING = frozenset(
    {ReleaseStatus.PENDING_INSTALL, ReleaseStatus.PENDING_UPGRADE, ReleaseStatus.PENDING_ROLLBACK}
)


class HookPhase(StrEnum):
    """How a hook's last run went (``last_run.phase``); empty until it runs."""

    UNKNOWN = "Unknown"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ReleaseRecordError(ValueError):
    """A release record does not decode: not base64, not gzip, not JSON, or a field of
    the wrong type."""


@dataclass(frozen=True)
class StoredRecord:
    """The Secret a release was read from or last written to."""

    secret: str
    resource_version: str
    created_at: str
    """Its ``createdAt`` label (unix seconds) when the release was read from the
    history, kept when the record is written again, as Helm keeps it; empty for a
    release this writer created, which Helm's next write of it leaves without one."""


@dataclass(frozen=True)
class Release:
    """One revision of a Helm release, as Helm's ``release.Release``."""

    name: str
    namespace: str
    version: int
    """The revision, from 1."""
    status: ReleaseStatus
    first_deployed: datetime | None = None
    last_deployed: datetime | None = None
    deleted: datetime | None = None
    description: str = ""
    """The line ``helm history`` shows: "Install complete", "Upgrade complete"..."""
    notes: str = ""
    rollback_revision: int = 0
    """The revision a rollback returned to; 0 when this revision is not a rollback."""
    chart: dict[str, Any] = field(default_factory=dict)
    """The chart as Helm serializes it (:attr:`Rendered.chart`)."""
    config: dict[str, Any] = field(default_factory=dict)
    """The user's values, without the chart's defaults."""
    manifest: str = ""
    hooks: list[dict[str, Any]] = field(default_factory=list)
    """Each hook in Helm's JSON shape (:func:`hook_record`), its ``last_run`` included."""
    labels: dict[str, str] = field(default_factory=dict)
    """The release's own labels, stored as labels of its Secret, not in the JSON."""
    apply_method: str = ""
    """:data:`APPLY_METHOD_SSA`, :data:`APPLY_METHOD_CSA` or empty (client-side)."""
    source: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    """The JSON this release was decoded from; ``None`` for a release built here."""
    stored: StoredRecord | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A status given as text ("deployed") is taken as the status it names; text
        # that names none is a caller's mistake and raises ValueError.
        object.__setattr__(self, "status", ReleaseStatus(self.status))

    @property
    def chart_name(self) -> str:
        return str((self.chart.get("metadata") or {}).get("name", ""))

    @property
    def chart_version(self) -> str:
        return str((self.chart.get("metadata") or {}).get("version", ""))

    @property
    def secret_name(self) -> str:
        return secret_name(self.name, self.version)

    def with_status(self, status: ReleaseStatus, description: str) -> Release:
        """This revision with a new status and description, as Helm's ``SetStatus``."""
        return dataclasses.replace(self, status=status, description=description)


def secret_name(release: str, version: int) -> str:
    """The Secret that holds revision ``version`` of ``release``."""
    return f"{SECRET_PREFIX}.{release}.v{version}"


def release_from_render(
    rendered: Rendered,
    name: str,
    namespace: str,
    version: int,
    status: ReleaseStatus,
    description: str,
    now: datetime,
    *,
    first_deployed: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    apply_method: str = APPLY_METHOD_SSA,
) -> Release:
    """Revision ``version`` of ``name`` from a render, deployed at ``now``; an upgrade
    passes the ``first_deployed`` of the revision before it, as Helm carries it over,
    and its ``labels``. The hooks have not run yet."""
    return Release(
        name=name,
        namespace=namespace,
        version=version,
        status=status,
        first_deployed=first_deployed or now,
        last_deployed=now,
        description=description,
        notes=rendered.notes,
        chart=rendered.chart,
        config=rendered.config,
        manifest=rendered.manifest,
        hooks=[hook_record(hook) for hook in rendered.hooks],
        labels=dict(labels or {}),
        apply_method=apply_method,
    )


def written_since_deployed(history: Sequence[Release]) -> Release | None:
    """What the next install or upgrade of a release deletes the objects of when it no
    longer renders them: the newest deployed revision of ``history`` (oldest first), its
    manifest joined by those of the revisions after it, or without one, the newest
    revision with every revision's manifest; ``None`` for an empty history.

    A revision after the deployed one failed or was left pending by an engine killed
    while applying it: some of its objects may exist, and no later revision would list
    them, so that nothing would ever delete them."""
    if not history:
        return None
    deployed = [index for index, rel in enumerate(history) if rel.status == ReleaseStatus.DEPLOYED]
    since = history[deployed[-1] :] if deployed else history
    # Each manifest as Helm writes one: documents that start with their separator.
    parts = (rel.manifest.strip("\n") for rel in since if rel.manifest.strip())
    manifest = "\n".join(part if part.startswith("---\n") else f"---\n{part}" for part in parts)
    return dataclasses.replace(since[0] if deployed else since[-1], manifest=manifest)


def hook_record(hook: Hook) -> dict[str, Any]:
    """A rendered hook as Helm stores it before it runs, empty fields left out."""
    record: dict[str, Any] = {
        "name": hook.name,
        "kind": hook.kind,
        "path": hook.path,
        "manifest": hook.manifest,
        "events": list(hook.events),
        "last_run": {"phase": ""},
        "weight": hook.weight,
        "delete_policies": list(hook.delete_policies),
        "output_log_policies": list(hook.output_log_policies),
    }
    return {key: value for key, value in record.items() if key == "last_run" or value}


def hook_run(
    hook: Mapping[str, Any],
    phase: HookPhase,
    started_at: datetime,
    completed_at: datetime | None = None,
) -> dict[str, Any]:
    """``hook`` (a :func:`hook_record`) with its ``last_run`` set, as Helm records a run:
    started and running, then completed with its outcome. A hook without a delete
    policy gets Helm's default, ``before-hook-creation``, which Helm records when it
    first runs the hook."""
    last_run = {"started_at": go_time(started_at)}
    if completed_at is not None:
        last_run["completed_at"] = go_time(completed_at)
    policies = hook.get("delete_policies") or [DEFAULT_DELETE_POLICY]
    return {**hook, "last_run": {**last_run, "phase": str(phase)}, "delete_policies": policies}


def go_time(moment: datetime) -> str:
    """``moment`` as Go marshals a ``time.Time`` into JSON (a naive one taken as UTC):
    RFC 3339, the fraction without trailing zeros, ``Z`` for a zero offset."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset else 0
    if seconds == 0:
        return text + "Z"
    sign = "+" if seconds > 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


# The record's JSON ---------------------------------------------------------------


def encode(release: Release) -> bytes:
    """The Secret's ``release`` value: base64 of gzip of the release's JSON."""
    document = json.dumps(_release_document(release), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(document.encode(), compresslevel=9, mtime=0))


def release_digest(release: Release) -> str:
    """``sha256:<hex>`` of the release's JSON record: what a HelmRelease's history
    snapshot names it by, so a change of any field of the record shows."""
    document = json.dumps(_release_document(release), sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(document.encode()).hexdigest()}"


def decode(data: bytes | str) -> Release:
    """The release of a ``release`` value (base64 of gzip of JSON, or of plain JSON);
    raises :class:`ReleaseRecordError`. The release's labels are its Secret's, not
    the record's: empty here."""
    text = data.encode() if isinstance(data, str) else data
    try:
        raw = base64.b64decode(text.replace(b"\n", b"").replace(b"\r", b""), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ReleaseRecordError(f"the release record is not base64: {error}") from error
    if len(raw) > len(_GZIP_MAGIC) and raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ReleaseRecordError(f"the release record is broken gzip: {error}") from error
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ReleaseRecordError(f"the release record is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ReleaseRecordError("the release record is not a JSON object")
    return _release_of(document)


@dataclass(frozen=True)
class _Field:
    """A JSON field lockstep models: how it reads, how it is written, and the value Go
    leaves out (``_ALWAYS``: never left out)."""

    key: str
    read: Callable[[str, Any], Any]
    write: Callable[[Any], Any]
    omitted: Any


_ALWAYS = object()


def _read_str(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReleaseRecordError(f"{key} is {type(value).__name__}, not a string")
    return value


def _read_int(key: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReleaseRecordError(f"{key} is {value!r}, not an integer")
    return value


def _read_object(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReleaseRecordError(f"{key} is {type(value).__name__}, not an object")
    return value


def _read_hooks(key: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(hook, dict) for hook in value):
        raise ReleaseRecordError(f"{key} is not a list of objects")
    return value


def _read_status(key: str, value: Any) -> ReleaseStatus:
    text = _read_str(key, value)
    try:
        return ReleaseStatus(text)
    except ValueError:
        return ReleaseStatus.UNKNOWN


def _read_time(key: str, value: Any) -> datetime | None:
    text = _read_str(key, value)
    if not text:
        return None  # Helm 3 wrote a zero time as ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ReleaseRecordError(f"{key} is {text!r}, not an RFC 3339 time") from error
    if moment.tzinfo is None:
        raise ReleaseRecordError(f"{key} is {text!r}, a time without its offset")
    return None if moment == _GO_ZERO_TIME else moment


def _as_is(value: Any) -> Any:
    return value


def _status_text(value: Any) -> str:
    return str(value)


def _time_text(value: Any) -> str:
    return go_time(value)


# In the order of Go's structs, so lockstep's records read like Helm's.
_INFO_FIELDS = (
    _Field("first_deployed", _read_time, _time_text, None),
    _Field("last_deployed", _read_time, _time_text, None),
    _Field("deleted", _read_time, _time_text, None),
    _Field("description", _read_str, _as_is, ""),
    _Field("status", _read_status, _status_text, _ALWAYS),
    _Field("rollback_revision", _read_int, _as_is, 0),
    _Field("notes", _read_str, _as_is, ""),
)
_RELEASE_FIELDS = (
    _Field("name", _read_str, _as_is, ""),
    _Field("info", _read_object, _as_is, _ALWAYS),
    _Field("chart", _read_object, _as_is, {}),
    _Field("config", _read_object, _as_is, {}),
    _Field("manifest", _read_str, _as_is, ""),
    _Field("hooks", _read_hooks, _as_is, []),
    _Field("version", _read_int, _as_is, 0),
    _Field("namespace", _read_str, _as_is, ""),
    _Field("apply_method", _read_str, _as_is, ""),
)


def _read_fields(document: Mapping[str, Any], fields: tuple[_Field, ...]) -> dict[str, Any]:
    return {spec.key: spec.read(spec.key, document.get(spec.key)) for spec in fields}


def _release_of(document: dict[str, Any]) -> Release:
    values = _read_fields(document, _RELEASE_FIELDS)
    info = _read_fields(values.pop("info"), _INFO_FIELDS)
    return Release(**values, **info, source=document)


def _release_document(release: Release) -> dict[str, Any]:
    source = release.source or {}
    source_info = source.get("info")
    info = _document(
        {spec.key: getattr(release, spec.key) for spec in _INFO_FIELDS},
        _INFO_FIELDS,
        source_info if isinstance(source_info, dict) else {},
    )
    values = {spec.key: getattr(release, spec.key, None) for spec in _RELEASE_FIELDS}
    return _document(values | {"info": info}, _RELEASE_FIELDS, source)


def _document(
    values: Mapping[str, Any], fields: tuple[_Field, ...], source: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON object of ``values``: each field as its source wrote it while it still
    means the same, empty ones left out, and the fields not modelled kept from
    ``source``."""
    document: dict[str, Any] = {}
    for spec in fields:
        value = values[spec.key]
        if spec.key in source and spec.read(spec.key, source[spec.key]) == value:
            document[spec.key] = source[spec.key]
        elif spec.omitted is _ALWAYS or value != spec.omitted:
            document[spec.key] = spec.write(value)
    modelled = {spec.key for spec in fields}
    document |= {key: value for key, value in source.items() if key not in modelled}
    return document


# The Secrets -----------------------------------------------------------------------


class ReleaseStorage:
    """The revisions of the Helm releases whose Secrets live in ``namespace`` (the
    storage namespace, which may differ from a release's own)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace

    async def history(self, name: str) -> list[Release]:
        """Every revision of ``name``, oldest first; empty when it has none."""
        secrets = await self._kube.list(
            "v1", "Secret", namespace=self._namespace, labels={"name": name, "owner": OWNER}
        )
        return sorted((self._release_in(secret) for secret in secrets), key=_version)

    async def last(self, name: str) -> Release | None:
        """The newest revision of ``name``, whatever its status."""
        history = await self.history(name)
        return history[-1] if history else None

    async def deployed(self, name: str) -> Release | None:
        """The newest deployed revision of ``name``: two are deployed only after
        concurrent writers, and Helm takes the newest too."""
        deployed = [rel for rel in await self.history(name) if rel.status == ReleaseStatus.DEPLOYED]
        return deployed[-1] if deployed else None

    async def create(self, release: Release) -> Release:
        """Write a new revision; raises :class:`~lockstep.kube.Conflict` when its
        Secret exists, so of two writers of one revision only the first succeeds."""
        labels = {**release.labels, "createdAt": _unix_now()}
        created = await self._kube.create(self._secret(release, labels, resource_version=""))
        stored = dataclasses.replace(_stored(created), created_at="")
        return dataclasses.replace(release, stored=stored)

    async def update(self, release: Release) -> Release:
        """Rewrite an existing revision (a new status, hooks that ran). A release read
        from the cluster is written only over the Secret it was read from: raises
        :class:`~lockstep.kube.Conflict` when another writer changed it since;
        :class:`~lockstep.kube.NotFound` when it is gone."""
        stored = release.stored
        labels = dict(release.labels)
        if stored is not None and stored.created_at:
            labels["createdAt"] = stored.created_at
        labels["modifiedAt"] = _unix_now()
        secret = self._secret(release, labels, stored.resource_version if stored else "")
        replaced = await self._kube.replace(secret)
        return dataclasses.replace(release, stored=_stored(replaced))

    async def delete(self, name: str, version: int) -> None:
        """Delete one revision; a missing one is not an error."""
        await self._kube.delete(
            ObjectRef("v1", "Secret", secret_name(name, version), self._namespace)
        )

    async def prune(self, name: str, max_history: int) -> list[int]:
        """Delete the oldest revisions of ``name`` until at most ``max_history`` are
        left, never the newest deployed one, as Helm's max history does (0 or less:
        no limit); the revisions deleted. Helm makes room before writing a revision:
        ``prune(name, max_history - 1)`` then :meth:`create` does the same."""
        if max_history <= 0:
            return []
        history = await self.history(name)
        deployed = [rel.version for rel in history if rel.status == ReleaseStatus.DEPLOYED]
        kept = deployed[-1] if deployed else None
        doomed: list[int] = []
        for release in history:
            if len(history) - len(doomed) <= max_history:
                break
            if release.version != kept:
                doomed.append(release.version)
        for version in doomed:
            await self.delete(name, version)
        return doomed

    async def unlock(self, name: str) -> Release | None:
        """Mark failed the newest revision of ``name`` when a crash left it pending,
        so the next install, upgrade or rollback may start; the revision unlocked, or
        ``None`` when it was not locked. Raises :class:`~lockstep.kube.Conflict` when
        the revision changed meanwhile: the operation holding the lock is alive."""
        last = await self.last(name)
        if last is None or not last.status.is_pending:
            return None
        description = (
            f"Stale '{last.status}' lock released by lockstep: the operation never finished"
        )
        return await self.update(last.with_status(ReleaseStatus.FAILED, description))

    async def supersede_older(self, history: Sequence[Release]) -> list[Release]:
        """``history`` (a release's, oldest first) with every deployed revision but the
        newest marked superseded, as their Secrets are rewritten: a writer killed between
        storing a new revision deployed and superseding the one before it leaves both
        deployed (Helm acts on the newest, but ``helm history`` shows two). Nothing is
        written when at most one is deployed. Raises :class:`~lockstep.kube.Conflict`
        when such a revision changed meanwhile: its writer is alive."""
        deployed = [rel.version for rel in history if rel.status == ReleaseStatus.DEPLOYED]
        stale = set(deployed[:-1])
        # Helm changes only the status: the description stays "Install complete".
        return [
            await self.update(dataclasses.replace(rel, status=ReleaseStatus.SUPERSEDED))
            if rel.version in stale
            else rel
            for rel in history
        ]

    def _release_in(self, secret: KubeObject) -> Release:
        metadata = secret.get("metadata") or {}
        where = f"Secret {self._namespace}/{metadata.get('name', '')}"
        data = (secret.get("data") or {}).get("release")
        if not data:
            raise ReleaseRecordError(
                f"{where} holds no Helm release (no data.release); delete it or restore it"
            )
        try:
            release = decode(base64.b64decode(data))
        except (ReleaseRecordError, binascii.Error, ValueError) as error:
            raise ReleaseRecordError(
                f"{where} holds no readable Helm release ({error}); delete it or restore it"
            ) from error
        labels = metadata.get("labels") or {}
        own = {key: value for key, value in labels.items() if key not in SYSTEM_LABELS}
        return dataclasses.replace(release, labels=own, stored=_stored(secret))

    def _secret(
        self, release: Release, labels: Mapping[str, str], resource_version: str
    ) -> KubeObject:
        reserved = SYSTEM_LABELS & set(release.labels)
        if reserved:
            raise ValueError(
                f"release {release.name}: the labels {sorted(reserved)} are Helm's own; name them otherwise"
            )
        metadata: dict[str, Any] = {
            "name": release.secret_name,
            "namespace": self._namespace,
            "labels": {
                **labels,
                "name": release.name,
                "owner": OWNER,
                "status": str(release.status),
                "version": str(release.version),
            },
        }
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": SECRET_TYPE,
            "data": {"release": base64.b64encode(encode(release)).decode()},
        }


def _version(release: Release) -> int:
    return release.version


def _unix_now() -> str:
    return str(int(time.time()))


def _stored(secret: Mapping[str, Any]) -> StoredRecord:
    metadata = secret.get("metadata") or {}
    return StoredRecord(
        secret=str(metadata.get("name", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        created_at=str((metadata.get("labels") or {}).get("createdAt", "")),
    )
