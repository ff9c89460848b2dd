"""The GitRepository reconciler: a Git ref → a packed artifact in the store.

The outer shell (cache, finalizer, suspend, conditions, status, events) is
:class:`~lockstep.controllers.source.base.SourceReconciler` in the one reconciler shell. The pipeline here:
resolve the ref on the remote (one ref advertisement), gather the artifacts of
``spec.include``, and only when that revision and those includes are not already
the current artifact, check it out shallowly, copy the includes in, pack and store.

A poll that finds the same revision costs one remote ref lookup: no fetch, no new
artifact and, because conditions keep their transition times and the computed
status is then identical, no status write. The artifact file is ``<commit>.tar.gz``,
as Flux names it.

Fields that need what lockstep has not got are refused with Stalled, never ignored:
``spec.provider`` ``aws``, ``azure`` and ``github`` (cloud identity, a GitHub App), and
``ca.crt``/``tls.crt``/``tls.key`` in the Secret of an https URL (libgit2 trusts CAs
process-wide and has no client certificates), and ``spec.proxySecretRef`` (the bundled
libgit2 ignores proxies). ``spec.serviceAccountName`` serves only the cloud providers,
as in Flux.

Called by :class:`lockstep.controllers.manager.ControllerManager` from a work
queue worker; the Git and packing work runs in a thread.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.meta import (
    Artifact,
    ConditionType,
    duration_seconds,
)
from lockstep.api.source import GitRepository, GitRepositoryInclude, GitRepositoryStatus
from lockstep.controllers.shell import Failure
from lockstep.controllers.source.base import SourceReconciler, unsupported_provider
from lockstep.runtime.informer import ObjectKey
from lockstep.sources.credentials import GitAuth, auth_from_secret, url_scheme
from lockstep.sources.git import checkout, resolve_ref
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.include import include_artifact, inside
from lockstep.sources.refs import GitRef, ResolvedRef
from lockstep.sources.verify import TrustedKeys, Verified, verify_checkout

KIND = "GitRepository"

UNSUPPORTED_TLS_SECRET = "UnsupportedSecretKeys"
"""Reason of Ready=False and Stalled for a Secret with TLS keys for an https URL."""

UNSUPPORTED_PROXY = "UnsupportedProxy"
"""Reason of Ready=False and Stalled for ``spec.proxySecretRef``, which libgit2 ignores."""

TLS_SECRET_KEYS = frozenset({"ca.crt", "tls.crt", "tls.key", "caFile", "certFile", "keyFile"})
"""Keys Flux reads for HTTPS: libgit2 trusts CAs process-wide and has no client
certificates, so lockstep refuses them rather than ignore them."""


class IncludeUnavailable(Exception):
    """An included GitRepository does not exist or has no artifact yet; retried."""


@dataclass(frozen=True)
class Included:
    """One ``spec.include`` entry with the artifact it names now."""

    spec: GitRepositoryInclude
    artifact: Artifact


@dataclass(frozen=True)
class Built:
    """The artifact of a reconciliation, the included artifacts it was built with, and
    the signatures verified (None when the artifact was kept, so its verification stands)."""

    artifact: Artifact
    included: list[Included]
    verified: tuple[Verified, ...] | None


class GitRepositoryReconciler(SourceReconciler[GitRepository, GitRepositoryStatus]):
    """Reconciles GitRepository objects into artifacts."""

    kind = KIND
    name = "gitrepository"
    model = GitRepository
    status_model = GitRepositoryStatus
    failure_conditions = (
        *SourceReconciler.failure_conditions,
        ConditionType.INCLUDE_UNAVAILABLE,
    )

    async def build(self, source: GitRepository, status: GitRepositoryStatus) -> Artifact:
        try:
            built = await self._reconcile_artifact(source, status)
        except IncludeUnavailable as error:
            raise Failure(
                ConditionType.INCLUDE_UNAVAILABLE,
                str(error),
                condition=ConditionType.INCLUDE_UNAVAILABLE,
            ) from error
        status.included_artifacts = [included.artifact for included in built.included]
        status.observed_include = list(source.spec.include)
        status.observed_recurse_submodules = source.spec.recurse_submodules
        status.observed_ignore = source.spec.ignore
        status.observed_sparse_checkout = list(source.spec.sparse_checkout)
        verify = source.spec.verify
        status.source_verification_mode = verify.mode if verify else None
        if verify is None:
            status.conditions = remove_condition(status.conditions, ConditionType.SOURCE_VERIFIED)
        elif built.verified is not None:
            signers = "; ".join(
                f"{v.subject} signed by {v.signer or v.fingerprint}" for v in built.verified
            )
            status.conditions = set_condition(
                status.conditions,
                ConditionType.SOURCE_VERIFIED,
                "True",
                "Succeeded",
                f"verified {signers}",
                generation=source.metadata.generation,
                now=datetime.now(UTC),
            )
        return built.artifact

    async def _reconcile_artifact(
        self, repository: GitRepository, status: GitRepositoryStatus
    ) -> Built:
        spec = repository.spec
        keys = None
        if spec.verify is not None:
            data = await self.secret_data(
                repository, spec.verify.secret_ref.name, "spec.verify.secretRef"
            )
            keys = TrustedKeys.from_secret(data)
        auth = await self._auth(repository)
        timeout = duration_seconds(spec.timeout)
        ref = GitRef.from_spec(spec.ref)
        included = self._included(repository)
        resolved = await asyncio.to_thread(resolve_ref, spec.url, ref, auth, timeout, self._egress)
        current = repository.status.artifact if repository.status else None
        if current is not None and self._still_current(repository, current, resolved, included):
            return Built(current, included, verified=None)
        if current is not None and current.revision != resolved.revision:
            self.mark_outdated(status, resolved.revision, repository.metadata.generation)
        return await asyncio.to_thread(
            self._fetch_and_store, repository, ref, resolved, auth, timeout, included, keys
        )

    def _included(self, repository: GitRepository) -> list[Included]:
        """The artifacts ``spec.include`` names, from the cache; raises if one is not there yet."""
        namespace = repository.metadata.namespace or ""
        found = []
        for include in repository.spec.include:
            name = include.repository.name
            obj = self._cache.get((namespace, name))
            status = (obj or {}).get("status") or {}
            artifact = (
                Artifact.model_validate(status["artifact"]) if status.get("artifact") else None
            )
            if artifact is None or not self._store.has(artifact):
                state = "does not exist" if obj is None else "has no artifact yet"
                raise IncludeUnavailable(
                    f"{KIND} {namespace}/{name}, included by {_name(repository)}, {state}; "
                    "it is retried until it has one"
                )
            found.append(Included(include, artifact))
        return found

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """The GitRepositories in the cache that include the one at ``key``."""
        namespace, name = key
        keys = []
        for obj in self._cache.items():
            metadata = obj.get("metadata") or {}
            includes = (obj.get("spec") or {}).get("include") or []
            if metadata.get("namespace") == namespace and any(
                (entry.get("repository") or {}).get("name") == name for entry in includes
            ):
                keys.append((namespace, str(metadata.get("name"))))
        return keys

    def _still_current(
        self,
        repository: GitRepository,
        current: Artifact,
        resolved: ResolvedRef,
        included: list[Included],
    ) -> bool:
        status = repository.status
        assert status is not None
        return (
            current.revision == resolved.revision
            and status.observed_ignore == repository.spec.ignore
            and status.observed_sparse_checkout == list(repository.spec.sparse_checkout)
            and status.observed_recurse_submodules == repository.spec.recurse_submodules
            and status.observed_include == list(repository.spec.include)
            and [a.digest for a in status.included_artifacts]
            == [i.artifact.digest for i in included]
            and status.source_verification_mode
            == (repository.spec.verify.mode if repository.spec.verify else None)
            and self._store.has(current)
        )

    def _fetch_and_store(
        self,
        repository: GitRepository,
        ref: GitRef,
        resolved: ResolvedRef,
        auth: GitAuth | None,
        timeout: float,
        included: list[Included],
        keys: TrustedKeys | None,
    ) -> Built:
        """Check out, verify (before anything is stored), add includes, pack and store."""
        spec = repository.spec
        namespace, name = repository.metadata.namespace or "", repository.metadata.name
        with tempfile.TemporaryDirectory(prefix="checkout-", dir=self._scratch) as scratch:
            tree = Path(scratch) / "tree"
            checked_out = checkout(
                spec.url,
                resolved,
                tree,
                auth,
                timeout,
                sparse_checkout=spec.sparse_checkout,
                recurse_submodules=spec.recurse_submodules,
                egress=self._egress,
            )
            verified = None
            if spec.verify is not None and keys is not None:
                verified = verify_checkout(
                    spec.verify.mode, ref, resolved, checked_out, keys, spec.url
                )
            for entry in included:
                source = f"{KIND} {namespace}/{entry.spec.repository.name}"
                to_path = entry.spec.to_path or entry.spec.repository.name
                include_artifact(
                    self._store.local_path(entry.artifact),
                    entry.spec.from_path,
                    inside(tree, to_path, f"toPath of the include of {source}"),
                    source=source,
                )
            stored = self._store.store(
                KIND,
                namespace,
                name,
                resolved.revision,
                tree,
                ignore=IgnoreRules.for_tree(tree, spec.ignore),
                file_stem=resolved.commit,  # <commit>.tar.gz, as Flux names it
            )
        self._store.garbage_collect(KIND, namespace, name)
        return Built(stored.artifact, included, verified)

    async def _auth(self, repository: GitRepository) -> GitAuth | None:
        spec = repository.spec
        if spec.provider not in (None, "generic"):
            needs = "a GitHub App" if spec.provider == "github" else "cloud identity"
            raise unsupported_provider(KIND, _name(repository), spec.provider, needs)
        if spec.proxy_secret_ref is not None:
            raise Failure(
                UNSUPPORTED_PROXY,
                f"{KIND} {_name(repository)}: spec.proxySecretRef is not supported yet for Git "
                "(libgit2, which lockstep fetches with, ignores proxies); remove it and let "
                "the engine reach the Git server directly",
                terminal=True,
                condition=ConditionType.FETCH_FAILED,
            )
        if spec.secret_ref is None:
            return None
        data = await self.secret_data(repository, spec.secret_ref.name, "spec.secretRef")
        tls_keys = sorted(TLS_SECRET_KEYS & {key for key, value in data.items() if value})
        if tls_keys and url_scheme(spec.url) == "https":
            raise Failure(
                UNSUPPORTED_TLS_SECRET,
                f"{KIND} {_name(repository)}: Secret {repository.metadata.namespace}/"
                f"{spec.secret_ref.name} holds {', '.join(tls_keys)}, but lockstep cannot "
                "use a custom CA or client certificate for Git over HTTPS yet; serve the Git "
                "server with a certificate the system trusts and remove these keys",
                terminal=True,
                condition=ConditionType.FETCH_FAILED,
            )
        return auth_from_secret(data, spec.url)


def _name(repository: GitRepository) -> str:
    return f"{repository.metadata.namespace}/{repository.metadata.name}"
