"""The OCIRepository reconciler: an OCI artifact → a verified artifact in the store.

The outer shell (cache, finalizer, suspend, conditions, status, events) is
:class:`~lockstep.controllers.source.base.SourceReconciler` in the one reconciler shell. The pipeline here:
resolve the ref to a manifest digest (one manifest request for a tag or digest,
plus the tag list for semver); with ``spec.verify``, check its cosign signature
before anything is pulled; and only when that digest is not already the current
artifact, pull the selected layer and store it: extracted and packed again (``extract``), or as
it is (``copy``: the layer file is the artifact, as in Flux).

Artifacts pushed by ``flux push artifact`` (and by ``lockstep push artifact``)
are consumed unchanged; their manifest annotations become ``artifact.metadata``.

Run by the controller manager; registry and packing work runs in a thread.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.meta import Artifact, ConditionType, duration_seconds
from lockstep.api.source import OCIRepository, OCIRepositoryStatus
from lockstep.controllers.shell import Failure
from lockstep.controllers.source.base import (
    VERIFICATION_ERROR,
    SourceReconciler,
    unsupported_provider,
)
from lockstep.sources.cosign import public_keys_from_secret, verify_cosign
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.oci import OciRef, ResolvedArtifact, pull_oci, resolve_oci
from lockstep.sources.registry_auth import auth_from_docker_config
from lockstep.sources.registry_client import RegistryOptions, parse_oci_url
from lockstep.sources.transport import proxy_from_secret, tls_from_secret

KIND = "OCIRepository"


class OCIRepositoryReconciler(SourceReconciler[OCIRepository, OCIRepositoryStatus]):
    """Reconciles OCIRepository objects into artifacts."""

    kind = KIND
    name = "ocirepository"
    model = OCIRepository
    status_model = OCIRepositoryStatus

    async def build(self, source: OCIRepository, status: OCIRepositoryStatus) -> Artifact:
        spec = source.spec
        options = await self._options(source)
        resolved = await asyncio.to_thread(
            resolve_oci, spec.url, OciRef.from_spec(spec.ref), options
        )
        verified = await self._verify(source, resolved, options)
        current = status.artifact
        if current is None or not self._still_current(source, status, current, resolved):
            if current is not None and current.revision != resolved.revision:
                self.mark_outdated(status, resolved.revision, source.metadata.generation)
            current = await asyncio.to_thread(self._pull_and_store, source, resolved, options)
        status.url = current.url
        status.observed_ignore = spec.ignore
        status.observed_layer_selector = spec.layer_selector
        status.conditions = remove_condition(status.conditions, ConditionType.SOURCE_VERIFIED)
        if verified is not None:
            status.conditions = set_condition(
                status.conditions,
                ConditionType.SOURCE_VERIFIED,
                "True",
                "Succeeded",
                verified,
                generation=source.metadata.generation,
                now=datetime.now(UTC),
            )
        return current

    def _still_current(
        self,
        source: OCIRepository,
        status: OCIRepositoryStatus,
        current: Artifact,
        resolved: ResolvedArtifact,
    ) -> bool:
        return (
            current.revision == resolved.revision
            and status.observed_ignore == source.spec.ignore
            and status.observed_layer_selector == source.spec.layer_selector
            and self._store.has(current)
        )

    async def _verify(
        self, source: OCIRepository, resolved: ResolvedArtifact, options: RegistryOptions
    ) -> str | None:
        """Check the signature when ``spec.verify`` asks; the SourceVerified message, or None."""
        verify = source.spec.verify
        if verify is None:
            return None
        if verify.provider != "cosign" or verify.secret_ref is None:
            raise Failure(
                VERIFICATION_ERROR,
                f"{KIND} {_name(source)}: only key-based cosign verification is supported "
                "(spec.verify.provider: cosign with spec.verify.secretRef); nothing is pulled unverified",
                terminal=True,
                condition=ConditionType.SOURCE_VERIFIED,
                condition_status="False",
            )
        data = await self.secret_data(source, verify.secret_ref.name, "spec.verify.secretRef")
        keys = public_keys_from_secret(data)
        verified = await asyncio.to_thread(verify_cosign, resolved, keys, options)
        return f"verified signature of revision {resolved.revision} with key {verified.key_name}"

    def _pull_and_store(
        self, source: OCIRepository, resolved: ResolvedArtifact, options: RegistryOptions
    ) -> Artifact:
        namespace, name = source.metadata.namespace or "", source.metadata.name
        with tempfile.TemporaryDirectory(prefix="pull-", dir=self._scratch) as scratch:
            pulled = pull_oci(
                resolved,
                Path(scratch) / "tree",
                source.spec.layer_selector,
                options,
                max_bytes=self._store.max_content_bytes,
            )
            # <manifest digest hex>.tar.gz, as Flux names it
            stem = resolved.digest.removeprefix("sha256:")
            if pulled.path.is_dir():
                stored = self._store.store(
                    KIND,
                    namespace,
                    name,
                    resolved.revision,
                    pulled.path,
                    ignore=IgnoreRules.for_tree(pulled.path, source.spec.ignore),
                    file_stem=stem,
                )
            else:
                # operation copy: the layer itself is the artifact, as Flux stores it.
                stored = self._store.store_file(
                    KIND, namespace, name, resolved.revision, pulled.path, f"{stem}.tar.gz"
                )
        self._store.garbage_collect(KIND, namespace, name)
        return stored.artifact.model_copy(update={"metadata": pulled.metadata})

    async def _options(self, source: OCIRepository) -> RegistryOptions:
        """How to reach the registry: credentials, TLS and proxy, each from its Secret."""
        spec = source.spec
        if spec.provider != "generic":
            raise unsupported_provider(KIND, _name(source), spec.provider, "cloud identity")
        registry = parse_oci_url(spec.url).registry
        # spec.secretRef first, then the ServiceAccount's pull secrets: the first that
        # has credentials for the registry is used, as Flux's keychain does.
        configs = []
        if spec.secret_ref is not None:
            configs.append(await self.secret_data(source, spec.secret_ref.name, "spec.secretRef"))
        if spec.service_account_name:
            configs += await self.pull_secrets_data(source, spec.service_account_name)
        auth = next(
            (found for data in configs if (found := auth_from_docker_config(data, registry))),
            None,
        )
        tls = proxy = None
        if spec.cert_secret_ref is not None:
            name = spec.cert_secret_ref.name
            data = await self.secret_data(source, name, "spec.certSecretRef")
            tls = tls_from_secret(data, f"{source.metadata.namespace}/{name}")
        if spec.proxy_secret_ref is not None:
            name = spec.proxy_secret_ref.name
            data = await self.secret_data(source, name, "spec.proxySecretRef")
            proxy = proxy_from_secret(data, f"{source.metadata.namespace}/{name}")
        return RegistryOptions(
            auth=auth,
            insecure=spec.insecure,
            # Flux skips verification for spec.insecure only without a certSecretRef.
            skip_tls_verify=spec.insecure and tls is None,
            tls=tls,
            proxy=proxy,
            timeout=duration_seconds(spec.timeout),
            egress=self._egress,
        )


def _name(source: OCIRepository) -> str:
    return f"{source.metadata.namespace}/{source.metadata.name}"
