"""The HelmRepository reconciler: a chart repository's ``index.yaml`` → an artifact.

The outer shell (cache, finalizer, suspend, conditions, status, events) is
:class:`~lockstep.controllers.source.base.SourceReconciler` in the one reconciler shell.
The pipeline of an HTTP repository (``type: default``): fetch ``index.yaml`` with the
credentials and TLS settings of its Secrets, sort its entries, and store it as Flux's
source-controller does: the parsed, sorted index as JSON in ``index-<hex>.yaml``, its
revision the sha256 digest of ``index.yaml`` as served (:mod:`lockstep.sources.helm_index`).
An unchanged index gives the same revision and bytes, so a poll that finds it unchanged
writes no file and, the status being identical, no status either.
HelmCharts that name the repository find the chart versions in this artifact, and are
reconciled again when its revision changes. A fetch that fails is Ready=False and
FetchFailed with Flux's reason ``Failed`` (retried); a URL that cannot be used is
Stalled.

A repository of ``type: oci`` has no index and no artifact: as in Flux it is a static
object that holds the URL and the credentials HelmCharts pull with. Its reconcile
removes what an earlier version left (finalizer, status, artifacts) and does nothing
more; a chart from it is pulled by the HelmChart reconciler.

Called by :class:`lockstep.controllers.manager.ControllerManager` from a work queue
worker; fetching and storing run in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from lockstep.api.meta import Artifact, ConditionType, duration_seconds
from lockstep.api.source import HelmRepository, HelmRepositorySpec, HelmRepositoryStatus
from lockstep.controllers.shell import SUCCEEDED, Failure
from lockstep.controllers.source.base import SourceReconciler, unsupported_provider
from lockstep.kube import KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Outcome, Success
from lockstep.sources import errors
from lockstep.sources.helm_repository import (
    DEFAULT_TIMEOUT_SECONDS,
    ChartIndex,
    HelmRepositoryOptions,
    credentials_from_secret,
    fetch_index,
    tls_from_auth_secret,
)
from lockstep.sources.transport import tls_from_secret

KIND = "HelmRepository"

FETCH_INDEX_FAILED = "Failed"
"""Reason of Ready=False and FetchFailed for an index that cannot be fetched, as Flux's."""


class HelmRepositoryReconciler(SourceReconciler[HelmRepository, HelmRepositoryStatus]):
    """Reconciles HelmRepository objects: HTTP indexes into artifacts, OCI ones static."""

    kind = KIND
    name = "helmrepository"
    model = HelmRepository
    status_model = HelmRepositoryStatus

    async def reconcile(self, key: ObjectKey) -> Outcome:
        raw = self._cache.get(key)
        if raw is not None and (raw.get("spec") or {}).get("type") == "oci":
            await self._make_static(raw)
            return Success()
        return await super().reconcile(key)

    async def build(self, source: HelmRepository, status: HelmRepositoryStatus) -> Artifact:
        options = await self.repository_options(source)
        current = status.artifact
        try:
            index = await asyncio.to_thread(
                fetch_index, source.spec.url, options, self._store.max_content_bytes
            )
        except errors.InvalidUrl:
            raise
        except errors.SourceError as error:
            raise Failure(
                FETCH_INDEX_FAILED, str(error), condition=ConditionType.FETCH_FAILED
            ) from error
        if (
            current is not None
            and current.revision == index.revision
            and current.digest == index.digest
            and self._store.has(current)
        ):
            stored = current
        else:
            if current is not None:
                self.mark_outdated(status, index.revision, source.metadata.generation)
            stored = await asyncio.to_thread(self._store_index, source, index)
        status.url = stored.url
        return stored

    def stored(
        self, obj: HelmRepository, status: HelmRepositoryStatus, artifact: Artifact
    ) -> tuple[str, str]:
        return SUCCEEDED, f"stored artifact: revision '{artifact.revision}'"

    async def repository_options(self, source: HelmRepository) -> HelmRepositoryOptions:
        """How to reach the repository: basic auth and TLS from its Secrets."""
        return await repository_options(self, source)

    def _store_index(self, source: HelmRepository, index: ChartIndex) -> Artifact:
        namespace, name = source.metadata.namespace or "", source.metadata.name
        with tempfile.TemporaryDirectory(prefix="index-", dir=self._scratch) as scratch:
            path = Path(scratch) / "index.json"
            path.write_bytes(index.raw)
            stored = self._store.store_file(
                KIND, namespace, name, index.revision, path, index.artifact_filename
            )
        self._store.garbage_collect(KIND, namespace, name)
        return stored.artifact

    async def _make_static(self, raw: KubeObject) -> None:
        """An OCI repository keeps no finalizer, status or artifact (Flux's static object)."""
        metadata = raw.get("metadata") or {}
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        await asyncio.to_thread(self._store.remove_all, KIND, namespace, name)
        with contextlib.suppress(NotFound):
            finalizers = list(metadata.get("finalizers") or [])
            if self.finalizer in finalizers:
                path = f"/metadata/finalizers/{finalizers.index(self.finalizer)}"
                await self._kube.json_patch(
                    ObjectRef.of(raw),
                    [
                        {"op": "test", "path": path, "value": self.finalizer},
                        {"op": "remove", "path": path},
                    ],
                )
            if (raw.get("status") or {}).keys() - {"observedGeneration"}:
                manifest = {key: raw[key] for key in ("apiVersion", "kind")}
                manifest["metadata"] = {"name": name, "namespace": namespace}
                await self._kube.apply_status({**manifest, "status": {}})


async def repository_options(
    reconciler: SourceReconciler[Any, Any], source: HelmRepository
) -> HelmRepositoryOptions:
    """The options to fetch from the HTTP repository ``source``, reading its Secrets through
    ``reconciler`` (the HelmRepository's own, or a HelmChart's that downloads from it)."""
    spec: HelmRepositorySpec = source.spec
    if spec.provider != "generic" and spec.type == "oci":
        raise unsupported_provider(KIND, _name(source), spec.provider, "cloud identity")
    username = password = None
    tls = None
    if spec.secret_ref is not None:
        data = await reconciler.secret_data(source, spec.secret_ref.name, "spec.secretRef")
        secret = f"{source.metadata.namespace}/{spec.secret_ref.name}"
        username, password = credentials_from_secret(data, secret)
        if spec.cert_secret_ref is None:
            # TLS keys in secretRef: deprecated in Flux, still read without certSecretRef.
            tls = tls_from_auth_secret(data, secret)
    if spec.cert_secret_ref is not None:
        name = spec.cert_secret_ref.name
        data = await reconciler.secret_data(source, name, "spec.certSecretRef")
        tls = tls_from_secret(data, f"{source.metadata.namespace}/{name}")
    return HelmRepositoryOptions(
        username=username,
        password=password,
        tls=tls,
        pass_credentials=spec.pass_credentials,
        timeout=duration_seconds(spec.timeout) if spec.timeout else DEFAULT_TIMEOUT_SECONDS,
        egress=reconciler.egress,
    )


def _name(source: HelmRepository) -> str:
    return f"{source.metadata.namespace}/{source.metadata.name}"
